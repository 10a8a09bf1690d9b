"""VSS and EVPI of a tree by their definitions (DESIGN.md, "Trees"), each in the objective's
own terms ((1 - w) x E[NPV] + w x CVaR_alpha, which is E[NPV] without a risk term):

- wait-and-see (WS): each scenario solved alone with perfect foresight, its optimal NPVs
  weighed by the objective; EVPI = WS - the tree's optimum.
- expected value (EV): the instance with every series replaced by its probability-weighted
  mean and each lead time by its mean rounded to a month, solved alone; its decisions of the
  months before the first branching month (a flat list: its investment and financing
  decisions, every month) are fixed in the tree, which is solved again for the rest: the
  EEV; VSS = the tree's optimum - EEV.

Fixed are the decisions, not the balances they lead to (cash, BTC held, fleet owned, notes
outstanding, income lines), which the tree's own flows then set."""

from __future__ import annotations

import dataclasses

import pyomo.core as pyo

from capalloc.models.instance import Instance
from capalloc.models.plan import ValueOfInformation
from capalloc.optimizer.formulation import BuiltModel, build_model
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.scenario_tree import risk, split
from capalloc.optimizer.scenario_tree.extensive import _month_of, build_extensive_form
from capalloc.optimizer.solving.solve import SolveSettings, run_highs

BALANCES = {"cash", "btc_held", "fleet_owned_mw", "hall_online_mw", "notes_balance", "tax_base",
            "taxable_cumulative", "terminal_tax", "ebitda", "signed_in_year", "cash_shortfall"}
"""Variables that are balances or bookkeeping set by the decisions, never fixed by the EEV."""


def _npv_usd(built: BuiltModel) -> float:
    return pyo.value(built.model.npv_without_tie_break) * USD_PER_MODEL_UNIT


def _solve_alone(instance: Instance, settings: SolveSettings) -> BuiltModel | None:
    built = build_model(instance)
    run = run_highs(built, settings)
    return built if run.has_solution else None


def wait_and_see(instance: Instance, settings: SolveSettings) -> dict[str, float | None]:
    """Each scenario's optimal NPV when it is known from the start."""
    out: dict[str, float | None] = {}
    for w in split.scenario_names(instance):
        built = _solve_alone(split.scenario_instance(instance, w), settings)
        out[w] = _npv_usd(built) if built is not None else None
    return out


def _fix_root(tree, expected: BuiltModel, until: int, investment_only: bool) -> None:
    """Fix, in every block, the expected-value plan's decisions of the months before ``until``."""
    ev_model = expected.model
    for w, built in tree.blocks.items():
        for var in built.model.component_objects(pyo.Var, descend_into=False):
            name = var.local_name
            if name in BALANCES:
                continue
            for key in var:
                tuple_key = key if isinstance(key, tuple) else (key,)
                month = _month_of(name, tuple_key)
                operational = bool(tuple_key) and tuple_key[-1] == w
                if month is None or month >= until or (operational and investment_only):
                    continue
                if name == "signed_by":
                    source = expected.context.signed_by.at((tuple_key[0], tuple_key[1]), month)
                    value = round(pyo.value(source)) if source is not None else 0.0
                else:
                    ev_key = (*tuple_key[:-1], split.EXPECTED) if operational else key
                    ev_var = getattr(ev_model, name, None)
                    if ev_var is None or ev_key not in ev_var:
                        continue
                    value = pyo.value(ev_var[ev_key])
                    if var[key].is_integer():
                        value = round(value)
                var[key].setlb(value)
                var[key].setub(value)


def _expected_value_solution(instance: Instance, expected: BuiltModel, settings: SolveSettings,
                             notes: list[str]) -> float | None:
    """The tree's optimum with the expected-value plan's first-stage decisions fixed. When
    its operations (distributions, BTC sales, dispatch) of those months cannot be held in
    every scenario, its investment and financing decisions alone are fixed, and a note says so."""
    branching = split.branching_indices(instance)
    until = branching[0] if branching else instance.horizon_months
    for investment_only in ([True] if not branching else [False, True]):
        tree = build_extensive_form(instance)
        _fix_root(tree, expected, until, investment_only=investment_only)
        run = run_highs(tree, dataclasses.replace(settings))
        if run.has_solution:
            return pyo.value(tree.model.objective_without_tie_break) * USD_PER_MODEL_UNIT
        if run.termination not in ("provenInfeasible", "infeasibleOrUnbounded"):
            notes.append(f"the tree with the expected-value plan's decisions fixed found no plan before "
                         f"the time limit ({run.termination}): no EEV, no VSS; raise the time limit")
            return None
        if not investment_only:
            notes.append("the expected-value plan's decisions before the first branching month cannot "
                         "be held in every scenario (its distributions or dispatch leave a branch below "
                         "the cash floor): only its investment and financing decisions are fixed for EEV")
    notes.append("the expected-value plan's investment and financing decisions cannot be held in every "
                 "scenario of the tree: no EEV, VSS unbounded")
    return None


def value_of_information(instance: Instance, tree_objective_usd: float,
                         settings: SolveSettings) -> ValueOfInformation:
    """VSS and EVPI of the tree whose optimum is ``tree_objective_usd``."""
    names = split.scenario_names(instance)
    p = split.probabilities(instance)
    weight = instance.risk.cvar_weight if instance.risk is not None else 0.0
    alpha = instance.risk.cvar_alpha if instance.risk is not None else 0.8
    notes = [f"each solve to a relative gap of {settings.mip_rel_gap:g}: VSS and EVPI are known to "
             "about that share of the NPV"]
    ws = wait_and_see(instance, settings)
    missing = [w for w in names if ws[w] is None]
    if missing:
        notes.append(f"no plan for scenario(s) {', '.join(missing)} alone: wait-and-see counts them at 0")
    ws_value = risk.risk_objective([ws[w] or 0.0 for w in names], [p[w] for w in names], weight, alpha)
    eev = None
    expected = _solve_alone(split.expected_instance(instance), settings)
    if expected is None:
        notes.append("the expected-value instance has no plan: no VSS")
    else:
        eev = _expected_value_solution(instance, expected, settings, notes)
    return ValueOfInformation(
        expected_value_solution_usd=round(eev, 2) if eev is not None else None,
        vss_usd=round(tree_objective_usd - eev, 2) if eev is not None else None,
        wait_and_see_usd=round(ws_value, 2), evpi_usd=round(ws_value - tree_objective_usd, 2), notes=notes,
    )
