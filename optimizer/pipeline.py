"""Instance file -> validated instance -> model -> HiGHS -> plan -> audit -> files, timed by stage."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from capalloc.models.instance import Instance
from capalloc.models.loader import instance_fingerprint, load_instance
from capalloc.optimizer.checks.audit import AUDIT_REL_TOL
from capalloc.optimizer.formulation import build_model
from capalloc.optimizer.outputs.extract import PlanResult, extract_plan
from capalloc.optimizer.solving.solve import (
    InfeasibleError,
    NoPlanError,
    ProgressCallback,
    SolveSettings,
    explain_infeasibility,
    run_highs,
)


@dataclass
class SolveOutcome:
    result: PlanResult
    settings: SolveSettings
    timings: dict[str, float] = field(default_factory=dict)
    highs_seconds: float = 0.0
    out_dir: Path | None = None


class AuditDisagreement(Exception):
    """The independent audit does not confirm the solver's plan."""


class PlanInterrupted(Exception):
    """Ctrl-C stopped HiGHS after it had a plan: the plan (marked ``interrupted`` in plan.json,
    with its gap) is in ``outcome`` and, when an output folder was given, written there."""

    def __init__(self, outcome: SolveOutcome):
        self.outcome = outcome
        super().__init__("interrupted with a plan")


def solve_instance(
    instance: Instance,
    *,
    instance_sha256: str = "",
    settings: SolveSettings | None = None,
    progress: ProgressCallback | None = None,
    write_model: str | None = None,
    audit: bool = True,
    timings: dict[str, float] | None = None,
    decompose: str | None = None,
    value_of_information: bool = True,
) -> SolveOutcome:
    """Solve a validated instance; raise InfeasibleError or NoPlanError when there is no plan.
    A scenario tree (branching months, lead times by scenario, a risk term) goes through its
    extensive form (optimizer.scenario_tree); ``value_of_information=False`` skips its VSS
    and EVPI solves."""
    from capalloc.optimizer.scenario_tree.split import needs_extensive_form

    if needs_extensive_form(instance):
        from capalloc.optimizer.scenario_tree.solve import solve_tree_instance

        return solve_tree_instance(instance, instance_sha256=instance_sha256, settings=settings,
                                   progress=progress, write_model=write_model, audit=audit,
                                   timings=timings, decompose=decompose,
                                   value_of_information=value_of_information)
    timings = {} if timings is None else timings
    settings = settings or SolveSettings.from_instance(instance)
    started = time.perf_counter()
    built = build_model(instance)
    timings["build"] = time.perf_counter() - started
    run = run_highs(built, settings, progress=progress, write_model=write_model, timings=timings)
    if run.interrupted and not run.has_solution:
        raise KeyboardInterrupt  # stopped before HiGHS had any plan: nothing to keep
    if not run.has_solution:
        if run.termination in ("provenInfeasible", "infeasibleOrUnbounded"):
            raise InfeasibleError(explain_infeasibility(instance, settings))
        raise NoPlanError(
            f"HiGHS stopped ({run.termination}) after {run.highs_seconds:.1f} s without a plan; "
            "raise --time-limit"
        )
    started = time.perf_counter()
    result = extract_plan(run, instance_sha256)
    timings["extract"] = time.perf_counter() - started
    if audit:
        from capalloc.optimizer.checks.audit import audit_plan

        started = time.perf_counter()
        report = audit_plan(instance, result.plan)
        timings["audit"] = time.perf_counter() - started
        result.plan.audit = report.verdict(AUDIT_REL_TOL)
    return SolveOutcome(result, settings, timings, run.highs_seconds)


def solve_file(
    path: str | Path,
    out_dir: str | Path | None = None,
    *,
    time_limit: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
    write_model: str | None = None,
    audit: bool = True,
    instance: Instance | None = None,
    force: bool = False,
    decompose: str | None = None,
    value_of_information: bool = True,
) -> SolveOutcome:
    """The whole pipeline for one instance file; writes the plan directory if ``out_dir``.
    ``instance``: the file already validated by the caller (not read a second time).

    ``out_dir`` is claimed before the solve (optimizer.outputs.output_dir: OutputDirError when it may
    not be written, ``force`` to replace a plan directory without capalloc's marker) and is
    left as it was unless a plan is written. Ctrl-C during HiGHS with a plan: the plan is
    written marked ``interrupted``, then PlanInterrupted; without one: KeyboardInterrupt."""
    from capalloc.optimizer.outputs.plan_io import claim_plan_dir, write_plan_dir

    timings: dict[str, float] = {}
    started = time.perf_counter()
    instance = instance if instance is not None else load_instance(path)
    sha = instance_fingerprint(path)
    timings["validate"] = time.perf_counter() - started
    settings = SolveSettings.from_instance(
        instance, time_limit=time_limit, mip_gap=mip_gap, threads=threads
    )
    claim = claim_plan_dir(out_dir, force=force) if out_dir is not None else contextlib.nullcontext()
    with claim:
        outcome = solve_instance(
            instance, instance_sha256=sha, settings=settings, progress=progress,
            write_model=write_model, audit=audit, timings=timings, decompose=decompose,
            value_of_information=value_of_information,
        )
        verdict = outcome.result.plan.audit
        if verdict is not None and not verdict.passed:
            raise AuditDisagreement(
                f"the independent audit does not confirm the plan: {'; '.join(verdict.messages[:5])}"
            )
        if out_dir is not None:
            started = time.perf_counter()
            run_info = {"timings_seconds": {k: round(v, 4) for k, v in timings.items()},
                        "highs_seconds": round(outcome.highs_seconds, 4)}
            outcome.out_dir = write_plan_dir(outcome.result, out_dir, run_info, claim=claim)
            timings["write"] = time.perf_counter() - started
    if outcome.result.plan.solver.status == "interrupted":
        raise PlanInterrupted(outcome)
    return outcome
