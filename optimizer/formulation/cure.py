"""What would cure a plan that cannot hold the liquidity floor (``capalloc evaluate``).

Two variants of the model, each an exact optimization over the same rules (its integer
decisions pinned by the commitments, operations free):

- ``starting_cash``: extra starting cash x >= 0 joins month 0's balance as starting cash
  does (earning the cash rate over month 0); the objective maximizes -x, so its optimum is
  the least extra cash with which some plan holds the floor in every month and scenario.
- ``floor``: the floor becomes a variable F with cash[t, w] >= F for every month and
  scenario; the objective maximizes F, the highest floor some plan can hold.
"""

from __future__ import annotations

from typing import Literal

import pyomo.core as pyo

from capalloc.optimizer.formulation.context import BuildContext

Cure = Literal["starting_cash", "floor"]


def add_cure_cash(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    if ctx.cure != "starting_cash":
        return
    model.extra_starting_cash = pyo.Var(domain=pyo.NonNegativeReals, doc="starting cash added, $M")
    growth = 1.0 + ctx.instance.finance.cash_interest_pct_per_year / 100.0 / 12.0
    for w in ctx.scenario_names:
        ctx.cash.add((0, w), growth, model.extra_starting_cash)


def add_cure_objective(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    if ctx.cure is None:
        return
    model.npv.deactivate()
    if ctx.cure == "starting_cash":
        model.cure = pyo.Objective(expr=-model.extra_starting_cash, sense=pyo.maximize)
        return
    model.held_floor = pyo.Var(domain=pyo.Reals, doc="the floor every month's cash holds, $M")
    for key in model.cash:
        model.cash[key].setlb(None)
    model.floor_held = pyo.Constraint(list(model.cash.keys()),
                                      rule=lambda m, t, w: m.cash[t, w] >= m.held_floor)
    model.cure = pyo.Objective(expr=model.held_floor, sense=pyo.maximize)
