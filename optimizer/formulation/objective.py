"""Objective: expected NPV of distributions plus the discounted terminal value.

NPV_w = sum_t DF(t) * (distribution[t, w] + value[t, w]) + DF(T-1) * terminal value_w, where DF(t) =
(1 + r)^-((t+1)/12); the terminal ledger holds cash, BTC after the haircut, contracted net
rent after the horizon, fleet salvage and mining continuation, less debt outstanding; the
value ledger holds what equity issuance and conversions cost existing holders (negative).
"""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.optimizer.formulation.context import BuildContext, Term, linear


def objective_terms(model: pyo.ConcreteModel, ctx: BuildContext) -> tuple[list[Term], float]:
    factors = ctx.calendar.discount_factors
    last = factors[-1]
    terms: list[Term] = []
    constant = 0.0
    for scenario in ctx.scenarios:
        w, p = scenario.name, scenario.probability
        terms += [(p * factors[t], model.distribution[t, w]) for t in ctx.months]
        terms += [(p * last * c, v) for c, v in ctx.terminal.terms.get(w, [])]
        constant += p * last * ctx.terminal.constants.get(w, 0.0)
        for t in ctx.months:  # value given up in month t, at month t's discount factor
            terms += [(p * factors[t] * c, v) for c, v in ctx.value.terms.get((t, w), [])]
            constant += p * factors[t] * ctx.value.constants.get((t, w), 0.0)
    return terms, constant


def add_objective(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    terms, constant = objective_terms(model, ctx)
    model.npv = pyo.Objective(expr=linear(terms + ctx.tie_break, constant), sense=pyo.maximize)
    model.npv_without_tie_break = pyo.Expression(expr=linear(terms, constant))
