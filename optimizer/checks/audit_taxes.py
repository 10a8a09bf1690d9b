"""The audit of issue 14's income rules: EBITDA, taxes with losses carried forward, the tax
on the terminal value and the DSCR covenant, recomputed with pandas from the audit's own
monthly lines (optimizer.checks.audit), the signed phases and the fleet's orders, never from the
model (DESIGN.md, "Timing and accounting": Taxes, Covenant).

The running maximum that defines cumulative tax is restated here (cumsum, cummax), not
taken from optimizer.economics_finance, so that the formulation's linearisation is checked
against the definition itself.
"""

from __future__ import annotations

import pandas as pd

from capalloc.models.instance import Instance
from capalloc.optimizer.calendar import Calendar
from capalloc.optimizer.checks.audit_rules import USD_TOL, SignedPhase, Violation
from capalloc.optimizer.economics import PhaseSchedule, phase_terminal_value_parts

EBITDA_LINES = ("mining_revenue_usd", "mining_power_usd", "mining_opex_usd", "fleet_moves_usd",
                "curtailment_credits_usd", "fixed_power_charges_usd", "fleet_resale_usd", "ai_rent_usd",
                "ai_prepayments_usd", "ai_opex_usd")
INTEREST_LINES = ("project_debt_interest_usd", "existing_debt_coupons_usd", "revolver_interest_usd",
                  "revolver_fees_usd", "notes_coupons_usd", "btc_loan_interest_usd",
                  "project_debt_interest_capitalized_usd")
"""Interest accrued: the cash interest lines (the BTC loan's is zero without a loan) and the
construction interest capitalized into project debt, deducted as it accrues (not a cash line).
Renewal rent and opex are inside ai_rent_usd and ai_opex_usd (EBITDA_LINES)."""


def tracked(instance: Instance) -> bool:
    taxes = instance.finance.taxes
    return (taxes is not None and taxes.rate_pct > 0.0) or instance.finance.covenant is not None


def _depreciation_items(instance: Instance, signed: list[SignedPhase],
                        schedules: dict[tuple[str, str], PhaseSchedule],
                        fleet: pd.DataFrame) -> list[tuple[float, int, int]]:
    """(cost USD, first month, life months) of every depreciable cost of the plan."""
    items = []
    for sp in signed:
        schedule = schedules[(sp.site, sp.phase.id)]
        items.append((sum(schedule.capex), sp.index + sp.phase.lead_time_months, sp.phase.tax_life_months))
    lives = {g.id: g.tax_life_months for g in instance.fleet}
    for row in fleet.itertuples():
        if row.ordered_mw > 0.0:
            items.append((row.ordered_mw * row.order_usd_per_mw, row.t + row.lead, lives[row.generation]))
    for gen in instance.fleet:
        if gen.starting_tax_basis_usd > 0.0:
            items.append((gen.starting_tax_basis_usd, 0, gen.tax_life_months))
    return items


def income_lines(instance: Instance, calendar: Calendar, monthly: pd.DataFrame, signed: list[SignedPhase],
                 schedules: dict[tuple[str, str], PhaseSchedule], fleet: pd.DataFrame) -> pd.DataFrame:
    """``monthly`` with EBITDA, interest, amortization, depreciation, taxable income and taxes
    paid (an outflow, carried into cash_end_usd with the cash interest it would have earned)."""
    if not tracked(instance):
        return monthly
    T = calendar.months
    lines = monthly.copy()
    lines["ebitda_usd"] = lines[list(EBITDA_LINES)].sum(axis=1)
    lines["interest_accrued_usd"] = -lines[list(INTEREST_LINES)].sum(axis=1)
    lines["scheduled_amortization_usd"] = -lines["project_debt_principal_usd"]
    depreciation = [0.0] * T
    for cost, first, life in _depreciation_items(instance, signed, schedules, fleet):
        for t in range(max(first, 0), min(first + life, T)):
            depreciation[t] += cost / life
    lines["depreciation_usd"] = lines["t"].map(lambda t: depreciation[t])
    lines["taxable_income_usd"] = (lines["ebitda_usd"] - lines["interest_accrued_usd"]
                                   - lines["depreciation_usd"])
    taxes = instance.finance.taxes
    rate = taxes.rate_pct / 100.0 if taxes is not None else 0.0
    cumulative = lines.groupby("scenario")["taxable_income_usd"].cumsum()
    base = cumulative.groupby(lines["scenario"]).cummax().clip(lower=0.0)
    paid = rate * (base - base.groupby(lines["scenario"]).shift(1).fillna(0.0))
    lines["taxes_usd"] = -paid
    cash_rate = instance.finance.cash_interest_pct_per_year / 1200.0
    interest_at, cash_at = lines.columns.get_loc("cash_interest_usd"), lines.columns.get_loc("cash_end_usd")
    for rows in lines.groupby("scenario", sort=False).indices.values():  # positions, in t order
        carried = 0.0  # cash the taxes paid so far took, with the interest it would have earned
        for i in rows:
            lines.iloc[i, interest_at] -= cash_rate * carried
            carried = carried * (1.0 + cash_rate) + float(paid.iloc[i])
            lines.iloc[i, cash_at] -= carried
    # The plan's rounded MW and USD move taxable income as they move cash: rate x that slack.
    lines["cash_tolerance_usd"] = lines["cash_tolerance_usd"] * (1.0 + rate)
    return lines


def check_covenant(instance: Instance, calendar: Calendar, lines: pd.DataFrame) -> list[Violation]:
    """Trailing-12-month EBITDA >= DSCR x trailing-12-month debt service from the first month."""
    covenant = instance.finance.covenant
    if covenant is None:
        return []
    first = max(0, calendar.index(covenant.from_month))
    service = lines["interest_accrued_usd"] + lines["scheduled_amortization_usd"]
    by = lines["scenario"]
    ebitda_ttm = lines["ebitda_usd"].groupby(by).transform(lambda s: s.rolling(12, min_periods=1).sum())
    service_ttm = service.groupby(by).transform(lambda s: s.rolling(12, min_periods=1).sum())
    short = covenant.min_dscr * service_ttm - ebitda_ttm
    tolerance = lines["cash_tolerance_usd"] + 12 * USD_TOL
    out = []
    for i in lines.index[(lines["t"] >= first) & (short > tolerance)]:
        out.append(Violation(
            "dscr_covenant", lines.at[i, "scenario"], None, None, lines.at[i, "month"], float(short[i]),
            f"trailing-12-month EBITDA {ebitda_ttm[i]:,.2f} USD below {covenant.min_dscr:g} x debt "
            f"service {service_ttm[i]:,.2f} USD"))
    return out


def terminal_taxes(instance: Instance, calendar: Calendar, terminal: dict[str, dict[str, float]],
                   signed: list[SignedPhase], schedules: dict[tuple[str, str], PhaseSchedule],
                   fleet: pd.DataFrame) -> dict[str, dict[str, float]]:
    """DESIGN: the after-horizon rent and mining in the terminal value are taxed at the rate
    on their PV less the PV of the depreciation still to come after the horizon, not below 0."""
    taxes = instance.finance.taxes
    if taxes is None or taxes.rate_pct <= 0.0:
        return terminal
    T, r = calendar.months, instance.discount_rate_pct_per_year / 100.0
    rent = 0.0
    for sp in signed:
        schedule = schedules[(sp.site, sp.phase.id)]
        factors = [(1.0 + r) ** (-j / 12.0) for j in range(1, schedule.length + 1)]
        parts = phase_terminal_value_parts(schedule, sp.index, T, factors)
        rent += parts[0] + parts[2]
    shield = 0.0
    for cost, first, life in _depreciation_items(instance, signed, schedules, fleet):
        for m in range(max(first, T), first + life):
            shield += cost / life * (1.0 + r) ** (-(m - T + 1) / 12.0)
    out = {}
    for name, parts in terminal.items():
        taxable = rent + parts["mining_continuation_usd"]
        new = dict(parts)
        new["taxes_usd"] = -taxes.rate_pct / 100.0 * max(0.0, taxable - shield)
        new["total_usd"] = parts["total_usd"] + new["taxes_usd"]
        out[name] = new
    return out
