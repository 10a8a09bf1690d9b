"""The audit of issue 14's BTC-backed loans, capitalized construction interest and lease
renewals, from the instance and the plan's decisions alone (no model code).

- BTC loans: draws (balance change) and interest (rate/12 on the opening balance) are cash
  lines; the balance is within [0, limit] and within LTV x that month's price x BTC pledged;
  pledged BTC is held (it cannot be sold); the final balance is owed in the terminal value.
- Capitalized interest and renewals are restated here with their own arithmetic and replace
  the corresponding flows of the audit's phase schedules, so a disagreement with
  economics.phase_schedule (which the model uses) shows as an NPV mismatch.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from capalloc.models.instance import AIPhase, Instance
from capalloc.models.plan import Plan
from capalloc.optimizer.calendar import Calendar
from capalloc.optimizer.checks.audit_rules import BTC_TOL, USD_TOL, Violation, _rows
from capalloc.optimizer.economics import PhaseSchedule

PLEDGE_BOUND_TOL_BTC = 1e-6
"""HiGHS holds a column's bounds to its primal feasibility tolerance (1e-7), so a pledge at
its lower bound of 0 may read -1e-7 BTC (2032-02 of cleanspark_2026's plan: -1.6e-7): a
millionth of a BTC ($0.10 at $100k) is solver rounding, not a pledge below zero."""

LOAN_COLUMNS = ("btc_loan_balance_usd", "btc_pledged_btc")
LOAN_ROUNDING_USD = 0.03
"""Balances rounded to cents move a month's draw and interest by at most ~2.01 cents."""


def loan_decisions(instance: Instance, calendar: Calendar, plan: Plan,
                   violations: list[Violation]) -> pd.DataFrame:
    """Per scenario and month: the loan balance and BTC pledged (zeros without a loan)."""
    T = calendar.months
    loan = instance.finance.btc_loan
    by_scenario = {d.scenario: d for d in reversed(plan.decisions.finance)}  # the first one wins
    frames = []
    for scenario in instance.market.scenarios:
        d = by_scenario.get(scenario.name)
        columns = {}
        for name in LOAN_COLUMNS:
            values = [float(v) for v in getattr(d, name)] if d is not None else []
            if loan is None and any(v != 0.0 for v in values):
                violations.append(Violation("btc_loan_offered", scenario.name, None, None, None,
                                            max(abs(v) for v in values),
                                            f"{name} is set but the instance offers no BTC loan"))
            if loan is not None and d is not None and len(values) != T:
                violations.append(Violation("decision_shape", scenario.name, None, None, None,
                                            float(abs(len(values) - T)),
                                            f"{name} has {len(values)} months, the horizon {T}"))
            columns[name] = (values[:T] + [0.0] * max(0, T - len(values))) if loan else [0.0] * T
        frames.append(pd.DataFrame({"scenario": scenario.name, "t": range(T), **columns}))
    return pd.concat(frames, ignore_index=True)


def loan_cash_lines(instance: Instance, frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The loan's cash lines of each row of ``frame`` (rows by scenario, in month order)."""
    loan = instance.finance.btc_loan
    balance = frame["btc_loan_balance_usd"]
    before = frame.groupby("scenario")["btc_loan_balance_usd"].shift(1).fillna(0.0)
    rate = loan.rate_pct_per_year / 1200.0 if loan else 0.0
    return {"btc_loan_draws_usd": balance - before, "btc_loan_interest_usd": -rate * before}


def loan_rounding_usd(instance: Instance) -> float:
    return LOAN_ROUNDING_USD if instance.finance.btc_loan is not None else 0.0


def check_btc_loans(instance: Instance, monthly: pd.DataFrame) -> list[Violation]:
    """Balance within [0, limit] and LTV x price x pledged; pledge >= 0 and held."""
    loan = instance.finance.btc_loan
    if loan is None:
        return []
    ltv = loan.ltv_pct / 100.0
    collateral = ltv * monthly["btc_price_usd"] * monthly["btc_pledged_btc"]
    checks = (
        ("btc_loan_limit", monthly["btc_loan_balance_usd"] - loan.limit_usd, USD_TOL,
         "BTC loan balance {btc_loan_balance_usd:,.2f} USD above the limit of " + f"{loan.limit_usd:,.2f}"),
        ("btc_loan_limit", -monthly["btc_loan_balance_usd"], USD_TOL,
         "BTC loan balance {btc_loan_balance_usd:,.2f} USD is negative"),
        ("btc_loan_ltv", monthly["btc_loan_balance_usd"] - collateral,
         USD_TOL + ltv * monthly["btc_price_usd"] * BTC_TOL,
         "BTC loan balance {btc_loan_balance_usd:,.2f} USD above " + f"{loan.ltv_pct:g} % x "
         "{btc_price_usd:,.2f} USD/BTC x {btc_pledged_btc:.8f} BTC pledged (a margin call unmet)"),
        ("btc_pledge_nonnegative", -monthly["btc_pledged_btc"], PLEDGE_BOUND_TOL_BTC,
         "{btc_pledged_btc:.8f} BTC pledged"),
        ("btc_pledge_held", monthly["btc_pledged_btc"] - monthly["btc_held_btc"],
         monthly["btc_tolerance_btc"] + BTC_TOL,
         "{btc_pledged_btc:.8f} BTC pledged but only {btc_held_btc:.8f} BTC held (pledged BTC was sold)"),
    )
    out: list[Violation] = []
    for rule, excess, tol, text in checks:
        for r in _rows(monthly, excess, tol):
            out.append(Violation(rule, r.scenario, None, None, r.month, r.excess_,
                                 text.format(**r._asdict())))
    return out


def audited_schedule(instance: Instance, phase: AIPhase, base: PhaseSchedule) -> PhaseSchedule:
    """``base`` (the schedule without renewal or capitalization) with the renewal's expected
    rent and opex appended and, when the instance capitalizes construction interest, the
    project debt recomputed here."""
    schedule = _with_renewal(phase, base)
    debt = instance.finance.project_debt
    if debt is not None and phase.project_financed and debt.capitalize_construction_interest:
        schedule = _with_capitalized_interest(schedule, debt.rate_pct_per_year / 1200.0,
                                              debt.amortization_months)
    return schedule


def _with_renewal(phase: AIPhase, base: PhaseSchedule) -> PhaseSchedule:
    renewal = phase.renewal
    if renewal is None:
        return base
    lead, term = phase.lead_time_months, phase.term_months
    length = max(base.length, lead + term + renewal.term_months)

    def extended(values: list) -> list:
        return list(values) + [0] * (length - len(values))

    # The rent of the term's last month: IT kW x rate x (1 + escalator) per full year of rent.
    last_rent = phase.critical_it_mw * 1000.0 * phase.lease_usd_per_kw_month * (
        1.0 + phase.escalator_pct_per_year / 100.0) ** ((term - 1) // 12)
    rent, rent_cash, opex, online = (extended(base.rent_earned), extended(base.rent_cash),
                                     extended(base.opex), extended(base.online))
    renewed = [0.0] * length
    for age in range(lead + term, lead + term + renewal.term_months):
        renewed[age] = renewal.probability * renewal.rent_share_pct / 100.0 * last_rent
        rent[age] = rent_cash[age] = renewed[age]
        opex[age] = renewal.probability * phase.critical_it_mw * phase.opex_usd_per_mw_month
        online[age] = 1
    return replace(
        base, rent_earned=rent, rent_cash=rent_cash, opex=opex, online=online, renewal_rent=renewed,
        capex=extended(base.capex), prepayment=extended(base.prepayment),
        debt_draw=extended(base.debt_draw), debt_interest=extended(base.debt_interest),
        debt_principal=extended(base.debt_principal), debt_balance_end=extended(base.debt_balance_end),
    )


def _with_capitalized_interest(schedule: PhaseSchedule, rate: float, months: int) -> PhaseSchedule:
    """Before rent start the interest joins the balance; from it, level payments
    P x i / (1 - (1 + i)^-n) (P / n at no interest) on the balance then outstanding."""
    lead, n = schedule.lead_time_months, schedule.length
    interest, principal, balance, capitalized = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
    opening = payment = 0.0
    for age in range(n):
        accrued = opening * rate
        if age < lead:
            capitalized[age] = accrued
        else:
            interest[age] = accrued
        if age == lead:
            payment = opening * rate / (1.0 - (1.0 + rate) ** -months) if rate else opening / months
        if lead <= age < lead + months and opening > 0.0:
            principal[age] = min(opening, payment - accrued)
        balance[age] = opening + schedule.debt_draw[age] + capitalized[age] - principal[age]
        opening = balance[age]
    return replace(schedule, debt_interest=interest, debt_principal=principal, debt_balance_end=balance,
                   debt_interest_capitalized=capitalized)
