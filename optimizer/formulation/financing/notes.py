"""New notes programs (plain and convertible), conversion of existing convertibles, and equity
issuance: investment/financing decisions common to every scenario (a flat scenario list).

notes_balance[p, t] = notes_balance[p, t-1] + issued[p, t] - issued[p, t - tenor] <= limit
cash[t, w]  += (1 - fee) issued[p, t] - rate/12 x notes_balance[p, t-1]
               - issued[p, t - tenor]              (unless it converts in scenario w)
value[t, w] -= share[w, t] / conversion price x issued[p, t - tenor]   (where it converts)
cash[t, w]  += equity_issued[t];  value[t, w] -= (1 + discount) x equity_issued[t]
terminal[w] -= notes_balance[p, T-1]  (principal maturing after the horizon, at face)
"""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.models.common import month_ordinal, series_values
from capalloc.models.finance_notes import NotesProgram
from capalloc.models.instance import Instance
from capalloc.optimizer.economics_finance import conversion_value_usd, converts, equity_cost_factor
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext


def issue_months(program: NotesProgram, instance: Instance) -> list[int]:
    """Months of the horizon in which the program may issue."""
    start = month_ordinal(instance.start)
    first = month_ordinal(program.first_issue_month) - start if program.first_issue_month else 0
    last = (month_ordinal(program.last_issue_month) - start if program.last_issue_month
            else instance.horizon_months - 1)
    return list(range(max(0, first), min(instance.horizon_months - 1, last) + 1))


def share_prices(instance: Instance) -> dict[str, list[float] | None]:
    """Share price per scenario and month, where the scenario gives one."""
    T = instance.horizon_months
    return {s.name: (series_values(s.share_price_usd, instance.start, T)
                     if s.share_price_usd is not None else None)
            for s in instance.market.scenarios}


def converts_in(conversion_price: float | None, shares: list[float] | None, t: int) -> bool:
    return shares is not None and 0 <= t < len(shares) and converts(conversion_price, shares[t])


def add_notes(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    finance = ctx.instance.finance
    shares = share_prices(ctx.instance)
    _existing_conversions(ctx, shares)
    if finance.notes_programs:
        _notes_programs(model, ctx, shares)
    if finance.equity_issuance is not None:
        _equity(model, ctx)


def _existing_conversions(ctx: BuildContext, shares: dict[str, list[float] | None]) -> None:
    """The value an existing convertible gives away where it converts (its cash repayment is
    dropped by finance.existing_debt_flows)."""
    for debt in ctx.instance.finance.existing_debts:
        m = ctx.calendar.index(debt.maturity_month)
        for w in ctx.scenario_names:
            if converts_in(debt.conversion_price_usd, shares[w], m):
                value = conversion_value_usd(debt.principal_usd, shares[w][m], debt.conversion_price_usd)
                ctx.value.add_constant((m, w), -value / USD_PER_MODEL_UNIT)


def _notes_programs(model: pyo.ConcreteModel, ctx: BuildContext,
                    shares: dict[str, list[float] | None]) -> None:
    programs = ctx.instance.finance.notes_programs
    months = list(ctx.months)
    T = len(months)
    windows = {p.id: issue_months(p, ctx.instance) for p in programs}
    limits = {p.id: p.limit_usd / USD_PER_MODEL_UNIT for p in programs}
    model.notes_issued = pyo.Var(
        [(p.id, t) for p in programs for t in windows[p.id]], domain=pyo.NonNegativeReals,
        bounds=lambda m, p, t: (0.0, limits[p]), doc="principal of new notes issued in the month, $M")
    model.notes_balance = pyo.Var(
        [(p.id, t) for p in programs for t in months], domain=pyo.NonNegativeReals,
        bounds=lambda m, p, t: (0.0, limits[p]), doc="principal outstanding at the month's end, $M")

    def issued(p: str, t: int):
        return model.notes_issued[p, t] if (p, t) in model.notes_issued else None  # noqa: SIM401

    rows = {}
    for program in programs:
        p, tenor = program.id, program.tenor_months
        for t in months:
            expr = model.notes_balance[p, t] - (model.notes_balance[p, t - 1] if t > 0 else 0.0)
            new, maturing = issued(p, t), issued(p, t - tenor)
            expr = expr - (new if new is not None else 0.0) + (maturing if maturing is not None else 0.0)
            rows[(p, t)] = expr
    model.notes_outstanding = pyo.Constraint(
        list(rows), rule=lambda m, p, t: rows[p, t] == 0, doc="notes issued and not yet matured")

    for program in programs:
        p, tenor = program.id, program.tenor_months
        fee = program.issuance_fee_pct / 100.0
        monthly = program.coupon_pct_per_year / 100.0 / 12.0
        for w in ctx.scenario_names:
            for t in months:
                new, maturing = issued(p, t), issued(p, t - tenor)
                if new is not None:
                    ctx.cash.add((t, w), 1.0 - fee, new)
                if t > 0:
                    ctx.cash.add((t, w), -monthly, model.notes_balance[p, t - 1])
                    if ctx.income_tracked:  # coupons are interest for taxes and debt service
                        ctx.interest.add((t, w), monthly, model.notes_balance[p, t - 1])
                if maturing is None:
                    continue
                if converts_in(program.conversion_price_usd, shares[w], t):
                    per_dollar = conversion_value_usd(1.0, shares[w][t], program.conversion_price_usd)
                    ctx.value.add((t, w), -per_dollar, maturing)
                else:
                    ctx.cash.add((t, w), -1.0, maturing)
            ctx.terminal.add(w, -1.0, model.notes_balance[p, T - 1])


def _equity(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    equity = ctx.instance.finance.equity_issuance
    months = list(ctx.months)
    upper = equity.limit_usd / USD_PER_MODEL_UNIT if equity.limit_usd is not None else None
    model.equity_issued = pyo.Var(months, bounds=(0.0, upper), doc="cash raised by issuing shares, $M")
    if upper is not None:
        model.equity_limit = pyo.Constraint(expr=sum(model.equity_issued[t] for t in months) <= upper)
    cost = equity_cost_factor(equity.discount_pct)
    for w in ctx.scenario_names:
        for t in months:
            ctx.cash.add((t, w), 1.0, model.equity_issued[t])
            ctx.value.add((t, w), -cost, model.equity_issued[t])
