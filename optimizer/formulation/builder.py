"""Assembles the formulation: each concern adds its own sets, variables, constraints and
ledger entries, in an order where every ledger is complete before its owner reads it."""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.environ as pyo

from models.instance import Instance
from optimizer.formulation.ai_phases import add_ai_phases
from optimizer.formulation.context import BuildContext, make_context
from optimizer.formulation.finance import add_finance
from optimizer.formulation.mining import add_mining
from optimizer.formulation.objective import add_objective
from optimizer.formulation.power import add_power

STAGES = (add_ai_phases, add_mining, add_power, add_finance, add_objective)


@dataclass
class BuiltModel:
    model: pyo.ConcreteModel
    context: BuildContext


def build_model(instance: Instance, *, elastic_cash: bool = False) -> BuiltModel:
    """The Pyomo model of an instance. ``elastic_cash`` lets cash fall below the floor at a
    penalty, to explain infeasibility."""
    ctx = make_context(instance, elastic_cash=elastic_cash)
    model = pyo.ConcreteModel(name=instance.name)
    for stage in STAGES:
        stage(model, ctx)
    return BuiltModel(model, ctx)
