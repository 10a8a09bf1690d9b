"""`capalloc regress`: solve every instance of a folder and hold each plan to its golden plan
(policy: optimizer.checks.testing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from capalloc.models.loader import instance_fingerprint, load_instance
from capalloc.optimizer.checks.testing import plan_mismatches
from capalloc.optimizer.outputs.plan_io import PlanDirError, check_plan_dir, read_plan, write_plan_dir
from capalloc.optimizer.outputs.versions import version_notes


@dataclass
class RegressionResult:
    instance: str
    status: str  # pass | fail | updated
    npv_usd: float | None = None
    golden_npv_usd: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the golden plan's other versions


def instance_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json") and p.is_file())


def regress(
    instance_dir: Path, golden_dir: Path, *, update: bool = False, rel_tol: float | None = None,
    on_result: Callable[[RegressionResult], None] | None = None,
) -> list[RegressionResult]:
    """Solve each instance; compare with ``golden_dir/<instance stem>/`` or (``update``) rewrite it.

    ``update`` replaces golden plan directories only (marked or written by an older capalloc),
    never a folder holding anything else (OutputDirError before the first solve).
    The default tolerance is the instance's own mip_rel_gap (a re-solve may legitimately land
    anywhere within the gap), at least 1e-6.
    """
    from capalloc.optimizer.pipeline import solve_instance
    from capalloc.optimizer.solving.solve import SolveSettings

    files = instance_files(instance_dir)
    if update:  # every golden folder must be replaceable before the first solve
        for file in files:
            check_plan_dir(golden_dir / file.stem, force=True)
    results = []
    for file in files:
        instance = load_instance(file)
        outcome = solve_instance(
            instance, instance_sha256=instance_fingerprint(file),
            settings=SolveSettings.from_instance(instance),
        )
        plan = outcome.result.plan
        if plan.solver.status == "interrupted":
            raise KeyboardInterrupt  # a golden run cut short by Ctrl-C proves nothing
        target = golden_dir / file.stem
        if update:
            # Golden plans written before the .capalloc marker are plan directories too.
            write_plan_dir(outcome.result, target, {"note": "golden plan written by capalloc regress"},
                           force=True)
            result = RegressionResult(file.name, "updated", plan.npv_usd, plan.npv_usd)
        else:
            tolerance = rel_tol if rel_tol is not None else max(1e-6, instance.solver.mip_rel_gap)
            try:
                golden = read_plan(target)
            except PlanDirError:
                result = RegressionResult(file.name, "fail", plan.npv_usd, None,
                                          [f"no golden plan in {target}; run with --update"])
            else:
                problems = plan_mismatches(plan, golden, rel_tol=tolerance, instance=instance)
                result = RegressionResult(file.name, "fail" if problems else "pass", plan.npv_usd,
                                          golden.npv_usd, problems, version_notes(golden, plan))
        results.append(result)
        if on_result:
            on_result(result)
    return results
