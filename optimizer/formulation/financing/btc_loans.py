"""BTC-backed loans: a facility lent against pledged BTC (DESIGN, "Financing is a decision").

balance[t, w] <= LTV x price[t, w] x pledged[t, w]   every month and scenario (a falling
                                                     price forces repayment or more collateral)
pledged[t, w] <= btc_held[t, w]                      pledged BTC cannot be sold
cash[t] += balance[t] - (1 + rate/12) x balance[t-1] draws net of repayments, interest on the
                                                     opening balance, paid at the month's end
terminal -= balance[T-1]
interest[t] += rate/12 x balance[t-1]                with taxes or a covenant: deducted from
                                                     taxable income, part of debt service

The balance and the pledge are per scenario, like the revolver: operations, not issuance.
"""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext, linear

TIE_BREAK_USD_PER_BTC_MONTH = 0.2
"""Canonical pledges: 20 cents per BTC-month, so the plan pledges only what the LTV needs (any
larger pledge is worth the same). In $M it is 2e-7, just above HiGHS's dual feasibility
tolerance (1e-7), below which it would be ignored; it is not part of the reported NPV."""


def add_btc_loans(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    """Balance and pledge variables, the LTV rows, and the loan's cash and terminal terms.
    Runs before finance, which reads the cash ledger; the pledge rows come after it."""
    loan = ctx.instance.finance.btc_loan
    if loan is None:
        return
    months, scenarios = list(ctx.months), ctx.scenario_names
    index = [(t, w) for t in months for w in scenarios]
    model.btc_loan_balance = pyo.Var(index, bounds=(0.0, loan.limit_usd / USD_PER_MODEL_UNIT),
                                     doc="BTC-backed loan balance at the month's end, $M")
    model.btc_pledged = pyo.Var(index, domain=pyo.NonNegativeReals,
                                doc="BTC pledged to the loan at the month's end")
    balance, pledged = model.btc_loan_balance, model.btc_pledged
    growth = 1.0 + loan.rate_pct_per_year / 100.0 / 12.0
    ltv = loan.ltv_pct / 100.0
    ltv_rows = {}
    for w in scenarios:
        for t in months:
            ctx.cash.add((t, w), 1.0, balance[t, w])
            if t > 0:
                ctx.cash.add((t, w), -growth, balance[t - 1, w])
                if ctx.income_tracked:
                    ctx.interest.add((t, w), growth - 1.0, balance[t - 1, w])
            price = ctx.knobs.btc_price(t, w)
            ltv_rows[(t, w)] = linear([(1.0, balance[t, w]),
                                       (-ltv * price / USD_PER_MODEL_UNIT, pledged[t, w])])
            ctx.tie_break.append((-TIE_BREAK_USD_PER_BTC_MONTH / USD_PER_MODEL_UNIT, pledged[t, w]))
        ctx.terminal.add(w, -1.0, balance[months[-1], w])
    model.btc_loan_ltv = pyo.Constraint(
        index, rule=lambda m, t, w: ltv_rows[t, w] <= 0.0,
        doc="BTC loan balance within LTV x BTC price x BTC pledged (the margin call)",
    )


def add_btc_pledges(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    """Pledged BTC stays held: it cannot be sold until released (after finance's BTC rows)."""
    if ctx.instance.finance.btc_loan is None:
        return
    index = list(model.btc_pledged.index_set())
    model.btc_pledge_held = pyo.Constraint(
        index, rule=lambda m, t, w: linear([(1.0, m.btc_pledged[t, w]), (-1.0, m.btc_held[t, w])]) <= 0.0,
        doc="pledged BTC is part of the BTC held",
    )


def btc_loan_values(model: pyo.ConcreteModel,
                    ctx: BuildContext) -> dict[str, tuple[list[float], list[float]]]:
    """Scenario -> (balance USD, BTC pledged) per month; empty when no loan is offered."""
    if ctx.instance.finance.btc_loan is None:
        return {}
    T = ctx.calendar.months
    return {
        w: ([pyo.value(model.btc_loan_balance[t, w]) * USD_PER_MODEL_UNIT for t in range(T)],
            [pyo.value(model.btc_pledged[t, w]) for t in range(T)])
        for w in ctx.scenario_names
    }


def btc_loan_debt_rows(model: pyo.ConcreteModel, ctx: BuildContext) -> list[dict]:
    """debt_monthly.csv rows of the BTC loan (extract_notes.DEBT_COLUMNS), passed to
    extract_notes.debt_table as extra rows: drawn (balance increase), interest (rate/12 on
    the opening balance), principal (balance decrease), balance, BTC pledged and the LTV used
    (balance / (pledged x price), empty with nothing pledged); none when no loan is offered."""
    loan = ctx.instance.finance.btc_loan
    rows: list[dict] = []
    for w_index, (w, (balance, pledged)) in enumerate(btc_loan_values(model, ctx).items()):
        price = ctx.scenarios[w_index].btc_price_usd
        before = 0.0
        for t, label in enumerate(ctx.calendar.labels):
            change = balance[t] - before
            rows.append({
                "scenario": w, "month": label, "instrument": "btc_loan", "kind": "btc_loan",
                "drawn_usd": round(max(change, 0.0), 2) + 0.0,
                "interest_usd": round(loan.rate_pct_per_year / 1200.0 * before, 2) + 0.0,
                "principal_usd": round(max(-change, 0.0), 2) + 0.0,
                "balance_usd": round(balance[t], 2) + 0.0, "collateral_btc": round(pledged[t], 8) + 0.0,
                "ltv_pct": (round(100.0 * balance[t] / (pledged[t] * price[t]), 6)
                            if pledged[t] > 1e-9 else None),
            })
            before = balance[t]
    return rows
