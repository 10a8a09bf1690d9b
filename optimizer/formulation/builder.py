"""Assembles the formulation: each concern adds its own sets, variables, constraints and
ledger entries, in an order where every ledger is complete before its owner reads it."""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.core as pyo
from pyomo.common.gc_manager import PauseGC

from capalloc.models.instance import Instance
from capalloc.optimizer.formulation.ai_phases import add_ai_phases
from capalloc.optimizer.formulation.commitments import add_commitments
from capalloc.optimizer.formulation.context import BuildContext, make_context
from capalloc.optimizer.formulation.cure import Cure, add_cure_cash, add_cure_objective
from capalloc.optimizer.formulation.finance import add_finance
from capalloc.optimizer.formulation.financing.btc_loans import add_btc_loans, add_btc_pledges
from capalloc.optimizer.formulation.financing.covenant import add_income
from capalloc.optimizer.formulation.financing.notes import add_notes
from capalloc.optimizer.formulation.financing.taxes import add_taxes
from capalloc.optimizer.formulation.fleet import add_fleet
from capalloc.optimizer.formulation.knobs import Knobs, structure_signature
from capalloc.optimizer.formulation.mining import add_mining
from capalloc.optimizer.formulation.objective import add_objective
from capalloc.optimizer.formulation.power import add_power

# Commitments bound the decision variables once they all exist (AI phases, fleet and halls,
# notes and equity); a cure's extra cash joins the cash ledger before finance reads it.
STAGES = (add_ai_phases, add_fleet, add_mining, add_power, add_notes, add_commitments, add_btc_loans,
          add_taxes, add_cure_cash, add_finance, add_btc_pledges, add_income, add_objective,
          add_cure_objective)


@dataclass
class BuiltModel:
    model: pyo.ConcreteModel
    context: BuildContext
    signature: dict | None = None  # structure_signature of a parametric model's instance


def build_model(
    instance: Instance, *, elastic_cash: bool = False, parametric: bool = False,
    cure: Cure | None = None,
) -> BuiltModel:
    """The Pyomo model of an instance. ``elastic_cash`` lets cash fall below the floor at a
    penalty, to explain infeasibility; ``parametric`` makes market prices, power prices,
    capex and lease rates mutable Params for persistent re-solves (formulation.knobs);
    ``cure`` swaps the objective for a liquidity cure (formulation.cure)."""
    ctx = make_context(instance, elastic_cash=elastic_cash, parametric=parametric)
    ctx.cure = cure
    model = pyo.ConcreteModel(name=instance.name)
    ctx.knobs = Knobs(model, ctx, parametric)
    # The build allocates millions of small objects and frees none: the cyclic garbage
    # collector's passes cost more than half of it at 50 sites x 180 months (benchmarks/).
    with PauseGC():
        for stage in STAGES:
            stage(model, ctx)
    return BuiltModel(model, ctx, structure_signature(instance) if parametric else None)


def retarget_model(built: BuiltModel, instance: Instance) -> bool:
    """Point a parametric model at another instance of the same structure.

    Returns False (and changes nothing) when the instance differs in anything but knob
    fields (formulation.knobs.KNOB_FIELDS), in which case the model must be rebuilt.
    """
    from capalloc.optimizer.formulation.ai_phases import SignedBy, signing_windows
    from capalloc.optimizer.formulation.context import make_context
    from capalloc.optimizer.formulation.knobs import knob_values, structure_signature

    ctx = built.context
    if not ctx.parametric or structure_signature(instance) != built.signature:
        return False
    ctx.knobs.assign(knob_values(ctx.knobs.base, instance, ctx))
    fresh = make_context(instance, parametric=True)
    ctx.instance, ctx.scenarios, ctx.site_power_price = instance, fresh.scenarios, fresh.site_power_price
    ctx.scenario_power_price = fresh.scenario_power_price
    for cached in ("sites_by_id", "site_order", "generations_by_id"):
        ctx.__dict__.pop(cached, None)
    ctx.phase_windows = signing_windows(instance, ctx.calendar.months, ctx.calendar.index)
    ctx.signed_by = SignedBy(ctx.signed_by.z, ctx.phase_windows)
    return True
