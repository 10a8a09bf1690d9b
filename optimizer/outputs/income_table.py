"""Income lines of a solved plan (issue 14): EBITDA, interest, depreciation, taxable income,
taxes paid and covenant headroom per scenario and month, USD (outflows negative). Added to
cashflow_monthly.csv only when the instance has taxes or a covenant, so that every other
plan keeps its files byte for byte."""

from __future__ import annotations

import pandas as pd
import pyomo.core as pyo

from capalloc.optimizer.economics_finance import trailing_sum
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext, Ledger


def _usd(ledger: Ledger, key) -> float:
    value = ledger.constants.get(key, 0.0)
    value += sum(pyo.value(c) * pyo.value(v) for c, v in ledger.terms.get(key, []))
    return value * USD_PER_MODEL_UNIT


def add_income_columns(ctx: BuildContext, model, cashflow: pd.DataFrame) -> pd.DataFrame:
    """``cashflow`` (rows in scenario, month order) with the income columns inserted before
    distributions; unchanged when neither taxes nor a covenant are set."""
    if not ctx.income_tracked:
        return cashflow
    covenant = ctx.instance.finance.covenant
    first = max(0, ctx.calendar.index(covenant.from_month)) if covenant is not None else None
    columns: dict[str, list[float | None]] = {name: [] for name in (
        "ebitda_usd", "interest_accrued_usd", "scheduled_amortization_usd", "depreciation_usd",
        "taxable_income_usd", "taxes_usd", "covenant_headroom_usd")}
    rate = ctx.tax_rate
    for w in ctx.scenario_names:
        ebitda = [pyo.value(model.ebitda[t, w]) * USD_PER_MODEL_UNIT for t in ctx.months]
        interest = [_usd(ctx.interest, (t, w)) for t in ctx.months]
        principal = [_usd(ctx.scheduled_principal, (t, w)) for t in ctx.months]
        service = [a + b for a, b in zip(interest, principal, strict=True)]
        for t in ctx.months:
            depreciation = _usd(ctx.depreciation, (t, w))
            columns["ebitda_usd"].append(ebitda[t])
            columns["interest_accrued_usd"].append(interest[t])
            columns["scheduled_amortization_usd"].append(principal[t])
            columns["depreciation_usd"].append(depreciation)
            columns["taxable_income_usd"].append(ebitda[t] - interest[t] - depreciation)
            paid = 0.0
            if rate > 0.0:
                before = pyo.value(model.tax_base[t - 1, w]) if t > 0 else 0.0
                paid = rate * (pyo.value(model.tax_base[t, w]) - before) * USD_PER_MODEL_UNIT
            columns["taxes_usd"].append(-paid)
            headroom = None
            if first is not None and t >= first:
                headroom = trailing_sum(ebitda, t) - covenant.min_dscr * trailing_sum(service, t)
            columns["covenant_headroom_usd"].append(headroom)
    if rate <= 0.0:
        del columns["taxes_usd"]
    if covenant is None:
        del columns["covenant_headroom_usd"]
    out = cashflow.copy()
    at = list(out.columns).index("distributions_usd")
    for offset, (name, values) in enumerate(columns.items()):
        out.insert(at + offset, name, pd.Series(values, index=out.index, dtype=float).round(2) + 0.0)
    return out


def income_kpis(flows: pd.DataFrame) -> dict[str, float]:
    """Taxes paid, interest cover and the smallest covenant headroom of one scenario's rows
    (only the ones its columns allow; the KPIs' defaults stand for the rest)."""
    out: dict[str, float] = {}
    if "taxes_usd" in flows:
        out["taxes_paid_usd"] = round(-float(flows["taxes_usd"].sum()), 2) + 0.0
    if "interest_accrued_usd" in flows and flows["interest_accrued_usd"].sum() > 0.0:
        cover = flows["ebitda_usd"].sum() / flows["interest_accrued_usd"].sum()
        out["interest_cover_x"] = round(float(cover), 6)
    if "covenant_headroom_usd" in flows and flows["covenant_headroom_usd"].notna().any():
        out["minimum_covenant_headroom_usd"] = round(float(flows["covenant_headroom_usd"].min()), 2) + 0.0
    if "ebitda_usd" in flows:
        leverage = net_leverage_x(flows["total_debt_usd"].tolist(), flows["cash_end_usd"].tolist(),
                                  flows["ebitda_usd"].tolist())
        measured = [x for x in leverage if x is not None]
        if measured:
            out["net_leverage_peak_x"] = round(max(measured), 6)
        if leverage[-1] is not None:
            out["net_leverage_final_x"] = round(leverage[-1], 6)
    return out


def net_leverage_x(debt_usd: list[float], cash_usd: list[float],
                   ebitda_usd: list[float]) -> list[float | None]:
    """Net debt (every debt balance - cash, at the month's end) / trailing-12-month EBITDA, per
    month; None before the first full trailing year and where that EBITDA is not positive (the
    ratio means nothing there). BTC held is not netted: lenders' covenants count cash only."""
    out: list[float | None] = []
    for t in range(len(debt_usd)):
        trailing = sum(ebitda_usd[t - 11: t + 1]) if t >= 11 else 0.0
        out.append((debt_usd[t] - cash_usd[t]) / trailing if t >= 11 and trailing > 0.0 else None)
    return out
