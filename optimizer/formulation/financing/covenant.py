"""EBITDA per month and scenario, and the optional DSCR covenant (DESIGN.md: Covenant).

ebitda[t, w] equals the EBITDA ledger (operating flows: rent and prepayments as received,
phase opex, mining revenue at the month's BTC price, energy, mining opex, moves, curtailment
credits, fixed power charges, resale proceeds). From the covenant's first month on:
  sum of ebitda over the trailing 12 months >= DSCR x sum of debt service over them,
debt service = interest accrued + scheduled amortization (bullet maturities excluded);
months before the 12th use the months available.
"""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.optimizer.formulation.context import BuildContext, linear

TRAILING_MONTHS = 12


def add_income(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    """The ebitda variables (whenever taxes or a covenant need them), the covenant, then the
    tax rows (financing.taxes); runs after finance, which posts the revolver's interest."""
    from capalloc.optimizer.formulation.financing.taxes import add_tax_rows

    if not ctx.income_tracked:
        return
    index = [(t, w) for t in ctx.months for w in ctx.scenario_names]
    model.ebitda = pyo.Var(index, domain=pyo.Reals, doc="EBITDA of the month, $M")
    rows = {}
    for key in index:
        terms = [(-c, v) for c, v in ctx.ebitda.terms.get(key, [])] + [(1.0, model.ebitda[key])]
        rows[key] = linear(terms, -ctx.ebitda.constants.get(key, 0.0))
    model.ebitda_definition = pyo.Constraint(index, rule=lambda m, t, w: rows[t, w] == 0.0,
                                             doc="EBITDA = the month's operating flows")
    _add_covenant(model, ctx)
    add_tax_rows(model, ctx)


def debt_service_terms(ctx: BuildContext, key) -> tuple[list, float]:
    """Interest accrued + scheduled amortization of month and scenario ``key``, $M."""
    terms = list(ctx.interest.terms.get(key, [])) + list(ctx.scheduled_principal.terms.get(key, []))
    constant = ctx.interest.constants.get(key, 0.0) + ctx.scheduled_principal.constants.get(key, 0.0)
    return terms, constant


def _add_covenant(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    covenant = ctx.instance.finance.covenant
    if covenant is None:
        return
    first = max(0, ctx.calendar.index(covenant.from_month))
    index = [(t, w) for t in ctx.months if t >= first for w in ctx.scenario_names]
    rows = {}
    for t, w in index:
        terms, constant = [], 0.0
        for u in range(max(0, t - TRAILING_MONTHS + 1), t + 1):
            service, fixed = debt_service_terms(ctx, (u, w))
            terms.append((1.0, model.ebitda[u, w]))
            terms += [(-covenant.min_dscr * c, v) for c, v in service]
            constant -= covenant.min_dscr * fixed
        rows[(t, w)] = linear(terms, constant)
    model.dscr_covenant = pyo.Constraint(
        index, rule=lambda m, t, w: rows[t, w] >= 0.0,
        doc="trailing-12-month EBITDA >= DSCR x trailing-12-month debt service")
