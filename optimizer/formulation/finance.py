"""Finance: one cash balance per scenario and month, the BTC treasury, the revolver,
existing debts and distributions to equity; cash at every month's end >= the floor.

cash[t] = cash[t-1] * (1 + cash rate) + every flow posted to the cash ledger
          + BTC sold x price + revolver change - revolver interest and fee
          - existing-debt coupons and repayments - distributions[t]
btc[t]  = btc[t-1] + BTC mined - BTC sold,  btc[t] >= the locked starting stack
"""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.optimizer.economics import existing_debt_schedule
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext, linear
from capalloc.optimizer.formulation.financing.notes import converts_in, share_prices

ELASTIC_PENALTY_PER_MODEL_UNIT = 1e4
"""Objective cost of $1M of liquidity shortfall when diagnosing infeasibility."""


def existing_debt_flows(ctx: BuildContext, w: str | None = None) -> tuple[list[float], list[float]]:
    """(cash paid for coupons and repayments, balance outstanding) per month, USD; in scenario
    ``w`` a convertible that converts at maturity is not repaid in cash."""
    T = ctx.calendar.months
    paid, balance = [0.0] * T, [0.0] * T
    shares = share_prices(ctx.instance) if w is not None else {}
    for debt in ctx.instance.finance.existing_debts:
        maturity = ctx.calendar.index(debt.maturity_month)
        coupon, repaid, outstanding = existing_debt_schedule(
            debt.principal_usd, debt.coupon_pct_per_year, maturity, T
        )
        converted = w is not None and converts_in(debt.conversion_price_usd, shares[w], maturity)
        for t in range(T):
            paid[t] += coupon[t] + (0.0 if converted else repaid[t])
            balance[t] += outstanding[t]
    return paid, balance


def add_finance(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    finance = ctx.instance.finance
    months = list(ctx.months)
    T = len(months)
    scenarios = ctx.scenario_names
    index = [(t, w) for t in months for w in scenarios]
    floor = finance.minimum_cash_usd / USD_PER_MODEL_UNIT

    model.cash = pyo.Var(index, domain=pyo.Reals, doc="cash at the month's end, $M")
    model.distribution = pyo.Var(index, domain=pyo.NonNegativeReals, doc="paid to equity, $M")
    model.btc_held = pyo.Var(index, domain=pyo.NonNegativeReals, doc="BTC held at the month's end")
    model.btc_sold = pyo.Var(index, domain=pyo.NonNegativeReals, doc="BTC sold in the month")
    locked = 0.0 if finance.btc_treasury_sellable else finance.btc_held_at_start_btc
    for key in index:
        model.btc_held[key].setlb(locked)

    if ctx.elastic_cash:
        model.cash_shortfall = pyo.Var(index, domain=pyo.NonNegativeReals)
        model.liquidity_floor = pyo.Constraint(
            index, rule=lambda m, t, w: m.cash[t, w] + m.cash_shortfall[t, w] >= floor
        )
        for w in scenarios:
            for t in months:
                ctx.tie_break.append((-ELASTIC_PENALTY_PER_MODEL_UNIT, model.cash_shortfall[t, w]))
    else:
        for key in index:
            model.cash[key].setlb(floor)

    revolver = finance.revolver
    if revolver is not None:
        limit = revolver.limit_usd / USD_PER_MODEL_UNIT
        model.revolver_balance = pyo.Var(index, bounds=(0.0, limit), doc="revolver drawn, $M")
        start_balance = revolver.drawn_at_start_usd / USD_PER_MODEL_UNIT
        monthly_rate = revolver.rate_pct_per_year / 100.0 / 12.0
        monthly_fee = revolver.undrawn_fee_pct_per_year / 100.0 / 12.0

    debt_paid = {w: existing_debt_flows(ctx, w)[0] for w in scenarios}
    cash_rate = finance.cash_interest_pct_per_year / 100.0 / 12.0
    start_cash = finance.starting_cash_usd / USD_PER_MODEL_UNIT
    start_btc = finance.btc_held_at_start_btc

    cash_rows, btc_rows = {}, {}
    for w in scenarios:
        for t in months:
            constant = ctx.cash.constants.get((t, w), 0.0) - debt_paid[w][t] / USD_PER_MODEL_UNIT
            terms = list(ctx.cash.terms.get((t, w), []))
            terms += [(-1.0, model.cash[t, w]), (-1.0, model.distribution[t, w]),
                      (ctx.knobs.btc_price(t, w) / USD_PER_MODEL_UNIT, model.btc_sold[t, w])]
            if t == 0:
                constant += start_cash * (1.0 + cash_rate)
            else:
                terms.append((1.0 + cash_rate, model.cash[t - 1, w]))
            if revolver is not None:
                terms.append((1.0, model.revolver_balance[t, w]))
                constant -= monthly_fee * limit
                if t == 0:
                    constant -= start_balance * (1.0 + monthly_rate - monthly_fee)
                else:
                    terms.append((-(1.0 + monthly_rate - monthly_fee), model.revolver_balance[t - 1, w]))
            cash_rows[(t, w)] = linear(terms, constant)

            btc_terms = list(ctx.btc_mined.terms.get((t, w), []))
            btc_terms += [(-1.0, model.btc_held[t, w]), (-1.0, model.btc_sold[t, w])]
            if t == 0:
                btc_rows[(t, w)] = linear(btc_terms, start_btc)
            else:
                btc_rows[(t, w)] = linear(btc_terms + [(1.0, model.btc_held[t - 1, w])])
    if ctx.income_tracked:
        _post_interest(model, ctx)
    model.cash_balance = pyo.Constraint(
        index, rule=lambda m, t, w: cash_rows[t, w] == 0, doc="cash carried from month to month"
    )
    model.btc_balance = pyo.Constraint(
        index, rule=lambda m, t, w: btc_rows[t, w] == 0, doc="BTC carried from month to month"
    )

    _post_terminal(model, ctx, T)


def _post_terminal(model, ctx: BuildContext, T: int) -> None:
    haircut = ctx.instance.terminal.btc_haircut_pct / 100.0
    _, debt_balance = existing_debt_flows(ctx)
    for w in ctx.scenario_names:
        final_price = ctx.knobs.btc_price(T - 1, w)
        ctx.terminal.add(w, 1.0, model.cash[T - 1, w])
        ctx.terminal.add(w, final_price * (1.0 - haircut) / USD_PER_MODEL_UNIT,
                         model.btc_held[T - 1, w])
        ctx.terminal.add_constant(w, -debt_balance[T - 1] / USD_PER_MODEL_UNIT)
        if ctx.instance.finance.revolver is not None:
            ctx.terminal.add(w, -1.0, model.revolver_balance[T - 1, w])


def _post_interest(model, ctx: BuildContext) -> None:
    """Interest accrued on existing debts and the revolver (its undrawn fee included), for
    taxes and the covenant's debt service; bullet repayments are not scheduled amortization."""
    revolver, T = ctx.instance.finance.revolver, ctx.calendar.months
    coupons = [0.0] * T
    for debt in ctx.instance.finance.existing_debts:
        coupon, _, _ = existing_debt_schedule(
            debt.principal_usd, debt.coupon_pct_per_year, ctx.calendar.index(debt.maturity_month), T)
        coupons = [a + b for a, b in zip(coupons, coupon, strict=True)]
    for w in ctx.scenario_names:
        for t in range(T):
            ctx.interest.add_constant((t, w), coupons[t] / USD_PER_MODEL_UNIT)
            if revolver is None:
                continue
            rate = revolver.rate_pct_per_year / 1200.0
            fee = revolver.undrawn_fee_pct_per_year / 1200.0
            ctx.interest.add_constant((t, w), fee * revolver.limit_usd / USD_PER_MODEL_UNIT)
            if t == 0:
                drawn = revolver.drawn_at_start_usd / USD_PER_MODEL_UNIT
                ctx.interest.add_constant((t, w), (rate - fee) * drawn)
            elif rate != fee:
                ctx.interest.add((t, w), rate - fee, model.revolver_balance[t - 1, w])
