"""A tree's plan: each scenario's block extracted as a flat plan (optimizer.outputs.extract), then
merged into one plan whose decisions say in which scenarios they hold
(optimizer.scenario_tree.decisions)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pyomo.core as pyo

from capalloc.models.plan import Signing
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.outputs.extract import PlanResult, extract_plan
from capalloc.optimizer.scenario_tree import split
from capalloc.optimizer.scenario_tree.decisions import merge_decisions, tree_summary
from capalloc.optimizer.scenario_tree.extensive import TreeModel
from capalloc.optimizer.solving.solve import SolverRun


def extract_tree_plan(run: SolverRun, tree: TreeModel, instance_sha256: str) -> PlanResult:
    instance = tree.instance
    names = split.scenario_names(instance)
    p = split.probabilities(instance)
    parts = {w: extract_plan(dataclasses.replace(run, built=tree.blocks[w]), instance_sha256) for w in names}
    decisions = merge_decisions({w: parts[w].plan.decisions for w in names}, names)
    kpis = [parts[w].plan.kpis[0].model_copy(update={"probability": p[w]}) for w in names]
    summary = tree_summary(instance, {k.scenario: k.npv_usd for k in kpis})
    model = tree.model
    objective = pyo.value(model.objective_without_tie_break) * USD_PER_MODEL_UNIT
    tie_break = pyo.value(model.objective) * USD_PER_MODEL_UNIT - objective
    first = parts[names[0]].plan
    stats = first.solver.model_copy(update={
        "objective_usd": round(objective, 2),
        "dual_bound_usd": round(run.bound_usd - tie_break, 2) if run.bound_usd is not None else None,
    })
    plan = first.model_copy(update={
        "provenance": first.provenance.model_copy(update={"scenarios": names}),
        "solver": stats, "kpis": kpis, "npv_usd": summary.expected_npv_usd, "decisions": decisions,
        "tree": summary,
    })
    leases = []
    for signing in decisions.signings:
        row = signing.model_dump()
        row["scenarios"] = "all" if signing.scenarios is None else " ".join(signing.scenarios)
        leases.append(row)

    def table(name: str) -> pd.DataFrame | None:
        frames = [getattr(parts[w], name) for w in names if getattr(parts[w], name) is not None]
        return pd.concat(frames, ignore_index=True) if frames else None

    return PlanResult(plan, table("sites_monthly"), table("cashflow_monthly"),
                      pd.DataFrame(leases, columns=list(Signing.model_fields)),
                      table("fleet_monthly"), table("debt_monthly"), instance)
