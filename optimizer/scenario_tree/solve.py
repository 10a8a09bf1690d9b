"""The solve pipeline of a tree instance: the extensive form to HiGHS, the plan merged from
each scenario's block, VSS and EVPI, the audit scenario by scenario."""

from __future__ import annotations

import dataclasses
import time

import pyomo.core as pyo

from capalloc.models.instance import Instance
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.scenario_tree.extensive import build_extensive_form
from capalloc.optimizer.scenario_tree.plan import extract_tree_plan
from capalloc.optimizer.solving.solve import (
    InfeasibleError,
    NoPlanError,
    ProgressCallback,
    SolveSettings,
    run_highs,
)


def solve_tree_instance(
    instance: Instance, *, instance_sha256: str = "", settings: SolveSettings | None = None,
    progress: ProgressCallback | None = None, write_model: str | None = None, audit: bool = True,
    timings: dict[str, float] | None = None, value_of_information: bool = True, decompose: str | None = None,
):
    """optimizer.pipeline.solve_instance for a tree: a SolveOutcome, or InfeasibleError /
    NoPlanError. ``value_of_information``: also solve the wait-and-see and expected-value
    problems for EVPI and VSS (plan.json's tree.value_of_information). ``decompose="ph"``:
    progressive hedging first (optimizer.scenario_tree.ph), then the extensive form with the
    integer decisions PH agreed on fixed."""
    from capalloc.optimizer.pipeline import AUDIT_REL_TOL, SolveOutcome

    timings = {} if timings is None else timings
    settings = settings or SolveSettings.from_instance(instance)
    agreed: dict = {}
    if decompose == "ph":
        from capalloc.optimizer.scenario_tree import ph

        started = time.perf_counter()
        try:
            outcome = ph.run_ph(instance, settings)
        except ph.PHInfeasible:  # said as the extensive form says it: which scenario, when
            raise InfeasibleError(explain_tree_infeasibility(instance, settings)) from None
        timings["ph"] = time.perf_counter() - started
        timings["ph_iterations"] = float(outcome.iterations)
        agreed = outcome.agreed()
        timings["ph_integers_fixed"] = float(len(agreed))
        timings["ph_integers_disputed"] = float(sum(len(v) for v in outcome.integers.values()) - len(agreed))
    started = time.perf_counter()
    tree = build_extensive_form(instance)
    if agreed:
        from capalloc.optimizer.scenario_tree.ph import fix_integer_decisions

        fix_integer_decisions(tree, agreed)
    timings["build"] = time.perf_counter() - started
    run = run_highs(tree, settings, progress=progress, write_model=write_model, timings=timings)
    if run.interrupted and not run.has_solution:
        raise KeyboardInterrupt
    if not run.has_solution:
        if run.termination in ("provenInfeasible", "infeasibleOrUnbounded"):
            raise InfeasibleError(explain_tree_infeasibility(instance, settings))
        raise NoPlanError(f"HiGHS stopped ({run.termination}) after {run.highs_seconds:.1f} s without a "
                          "plan; raise --time-limit")
    started = time.perf_counter()
    result = extract_tree_plan(run, tree, instance_sha256)
    timings["extract"] = time.perf_counter() - started
    if value_of_information and not run.interrupted:
        from capalloc.optimizer.scenario_tree.value import value_of_information as compute

        started = time.perf_counter()
        info = compute(instance, result.plan.tree.objective_usd, settings)
        result.plan.tree = result.plan.tree.model_copy(update={"value_of_information": info})
        timings["value_of_information"] = time.perf_counter() - started
    if audit:
        from capalloc.optimizer.checks.audit import audit_plan

        started = time.perf_counter()
        result.plan.audit = audit_plan(instance, result.plan).verdict(AUDIT_REL_TOL)
        timings["audit"] = time.perf_counter() - started
    return SolveOutcome(result, settings, timings, run.highs_seconds)


def explain_tree_infeasibility(instance: Instance, settings: SolveSettings) -> list[str]:
    """The tree with its liquidity floor made elastic: which scenarios cannot hold it, when."""
    from capalloc.optimizer.calendar import Calendar

    tree = build_extensive_form(instance, elastic_cash=True)
    quick = dataclasses.replace(settings, time_limit_seconds=min(settings.time_limit_seconds, 60.0),
                                mip_rel_gap=0.01)
    run = run_highs(tree, quick)
    if run.interrupted:
        raise KeyboardInterrupt
    if not run.has_solution:
        return ["the tree has no plan even with the liquidity floor relaxed; check the fleet, power, "
                "signing rules and the lead times by scenario"]
    calendar = Calendar(instance.start, instance.horizon_months, instance.discount_rate_pct_per_year)
    floor = instance.finance.minimum_cash_usd
    reasons = []
    for w, built in tree.blocks.items():
        short = [(t, pyo.value(built.model.cash_shortfall[t, w]) * USD_PER_MODEL_UNIT)
                 for t in range(calendar.months)]
        short = [(t, s) for t, s in short if s > 0.5]
        if short:
            worst_t, worst = max(short, key=lambda item: item[1])
            reasons.append(
                f"scenario {w}: the minimum cash of ${floor:,.0f} (finance.minimum_cash_usd) cannot be "
                f"held at the end of {calendar.label(short[0][0])} and {len(short) - 1} later month(s) "
                f"by a plan whose decisions before the branch serve every scenario; the worst shortfall "
                f"is ${worst:,.0f} in {calendar.label(worst_t)}.")
    return reasons or ["no plan satisfies every rule in every scenario, but relaxing the liquidity floor "
                       "alone does not explain why"]
