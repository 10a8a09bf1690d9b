"""The audit of notes programs, convertibles and equity issuance, from the instance and the
plan's decisions alone (no formulation, extraction or economics code: the schedules are
restated here from DESIGN.md, "Timing and accounting of the new capabilities").

notes_frame gives, per scenario and month: the notes and equity cash lines (outflows
negative), the existing debt repayments that conversion saves, the notes balance, and the
value given to new holders (equity at (1 + discount) and conversions at principal x share
price / conversion price), which the NPV charges at that month's discount factor."""

from __future__ import annotations

import pandas as pd

from capalloc.models.common import month_ordinal, series_values
from capalloc.models.instance import Instance
from capalloc.models.plan import Plan
from capalloc.optimizer.calendar import Calendar
from capalloc.optimizer.checks.audit_rules import USD_TOL, Violation

FLOWS = ["notes_issued_usd", "notes_fees_usd", "notes_coupons_usd", "notes_repayments_usd",
         "equity_issued_usd"]
OTHER = ["existing_debt_converted_usd", "notes_balance_usd", "dilution_value_usd", "notes_rounding_usd"]
ROUNDING_USD = 0.01
"""Decisions are written to the cent; each one can move a month's cash by about that much."""


def _shares(instance: Instance, T: int) -> dict[str, list[float] | None]:
    return {s.name: series_values(s.share_price_usd, instance.start, T) if s.share_price_usd is not None
            else None for s in instance.market.scenarios}


def _converts(price: float | None, shares: list[float] | None, t: int) -> bool:
    return price is not None and shares is not None and 0 <= t < len(shares) and shares[t] >= price


def _issues(instance: Instance, calendar: Calendar, plan: Plan,
            violations: list[Violation]) -> list[tuple[object, int, float]]:
    """(program, issue month index, principal) for every issue in the plan, rules checked."""
    T = calendar.months
    programs = {p.id: p for p in instance.finance.notes_programs}
    start = month_ordinal(instance.start)
    seen: set[str] = set()
    out = []
    for decision in plan.decisions.notes:
        if decision.program not in programs or decision.program in seen:
            rule = "unknown_id" if decision.program not in programs else "decision_shape"
            violations.append(Violation(rule, None, None, decision.program, None, 1.0,
                                        "notes decision for an unknown program or listed twice"))
            continue
        seen.add(decision.program)
        program = programs[decision.program]
        first = month_ordinal(program.first_issue_month) - start if program.first_issue_month else 0
        last = month_ordinal(program.last_issue_month) - start if program.last_issue_month else T - 1
        for i, amount in enumerate(decision.issued_usd[:T]):
            label = calendar.label(i)
            if amount < -USD_TOL:
                violations.append(Violation("notes_nonnegative", None, None, program.id, label, -amount,
                                            f"{amount:,.2f} USD of notes issued"))
            elif amount > USD_TOL and not first <= i <= last:
                violations.append(Violation("notes_window", None, None, program.id, label, amount,
                                            "notes issued outside the program's issue window"))
            if amount != 0.0:
                out.append((program, i, float(amount)))
    return out


def notes_frame(instance: Instance, calendar: Calendar, plan: Plan,
                violations: list[Violation]) -> pd.DataFrame:
    """Per scenario and month: FLOWS and OTHER (see the module's docstring)."""
    T = calendar.months
    shares = _shares(instance, T)
    issues = _issues(instance, calendar, plan, violations)
    frames = []
    for scenario in instance.market.scenarios:
        w = scenario.name
        lines = {name: [0.0] * T for name in FLOWS + OTHER}
        for program, i, amount in issues:
            maturity = i + program.tenor_months
            converted = _converts(program.conversion_price_usd, shares[w], maturity)
            lines["notes_issued_usd"][i] += amount
            lines["notes_fees_usd"][i] -= amount * program.issuance_fee_pct / 100.0
            for t in range(i + 1, min(maturity, T - 1) + 1):  # opening balance of month t
                lines["notes_coupons_usd"][t] -= amount * program.coupon_pct_per_year / 1200.0
            for t in range(i, min(maturity, T)):
                lines["notes_balance_usd"][t] += amount
            if maturity < T and converted:
                lines["dilution_value_usd"][maturity] += (
                    amount * shares[w][maturity] / program.conversion_price_usd)
            elif maturity < T:
                lines["notes_repayments_usd"][maturity] -= amount
        for debt in instance.finance.existing_debts:
            m = calendar.index(debt.maturity_month)
            if _converts(debt.conversion_price_usd, shares[w], m):
                lines["existing_debt_converted_usd"][m] += debt.principal_usd
                value = debt.principal_usd * shares[w][m] / debt.conversion_price_usd
                lines["dilution_value_usd"][m] += value
        equity = instance.finance.equity_issuance
        for t, raised in enumerate(plan.decisions.equity_issued_usd[:T]):
            lines["equity_issued_usd"][t] += raised
            if equity is not None:
                lines["dilution_value_usd"][t] += raised * (1.0 + equity.discount_pct / 100.0)
        count = len(plan.decisions.notes) + (1 if plan.decisions.equity_issued_usd else 0)
        lines["notes_rounding_usd"] = [ROUNDING_USD * 2 * count] * T
        frames.append(pd.DataFrame({"scenario": w, "t": range(T), **lines}))
    frame = pd.concat(frames, ignore_index=True)
    violations += _limits(instance, calendar, plan, frame)
    return frame


def _limits(instance: Instance, calendar: Calendar, plan: Plan, frame: pd.DataFrame) -> list[Violation]:
    """Each program's outstanding within its limit; equity only where offered, >= 0, within its limit."""
    out: list[Violation] = []
    T = calendar.months
    for program in instance.finance.notes_programs:
        decision = next((d for d in plan.decisions.notes if d.program == program.id), None)
        if decision is None:
            continue
        issued = [float(x) for x in decision.issued_usd[:T]] + [0.0] * max(0, T - len(decision.issued_usd))
        for t in range(T):
            outstanding = sum(issued[max(0, t - program.tenor_months + 1):t + 1])
            excess = outstanding - program.limit_usd
            if excess > USD_TOL + ROUNDING_USD * program.tenor_months:
                out.append(Violation("notes_limit", None, None, program.id, calendar.label(t), excess,
                                     f"{outstanding:,.2f} USD outstanding, above the limit of "
                                     f"{program.limit_usd:,.2f}"))
    equity = instance.finance.equity_issuance
    raised = plan.decisions.equity_issued_usd
    for t, amount in enumerate(raised[:T]):
        if amount < -USD_TOL or (equity is None and abs(amount) > USD_TOL):
            out.append(Violation("equity_issuance", None, None, None, calendar.label(t), abs(amount),
                                 f"{amount:,.2f} USD of shares issued" +
                                 (" but the instance offers no equity issuance" if equity is None else "")))
    if equity is not None and equity.limit_usd is not None and sum(raised) > equity.limit_usd + USD_TOL:
        out.append(Violation("equity_limit", None, None, None, None, sum(raised) - equity.limit_usd,
                             f"{sum(raised):,.2f} USD raised, above the limit of {equity.limit_usd:,.2f}"))
    return out
