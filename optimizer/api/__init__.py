"""capalloc from Python: load an instance, solve it, read the plan's tables as pandas
DataFrames, audit, compare, sweep, evaluate, explain and report.

    import capalloc

    instance = capalloc.load_instance("instances/tiny.yaml")
    plan = capalloc.solve(instance)                      # or a path; out_dir="plans/tiny" writes it
    print(plan.npv_usd, plan.status)
    plan.leases                                          # DataFrame: one row per signing
    plan.cashflow_monthly                                # DataFrame: scenario x month, USD
    capalloc.audit(instance, plan).passed                # the independent recomputation
    capalloc.compare(plan, capalloc.open_plan("plans/other")).differs

The command line (`capalloc ...`) is a thin layer over the same functions. The modules below
(capalloc.models: the data contract; capalloc.optimizer: formulation, solving, checks, outputs)
stay importable for deeper use; what this module exports is the stable surface.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from capalloc.models.instance import Instance
from capalloc.models.loader import InstanceError, load_instance
from capalloc.models.plan import Plan
from capalloc.optimizer import __version__

__all__ = [
    "Instance", "InstanceError", "PlanTables", "__version__", "audit", "compare", "evaluate", "explain",
    "load_instance", "open_plan", "report", "solve", "sweep",
]

TABLES = ("sites_monthly", "cashflow_monthly", "leases", "fleet_monthly", "debt_monthly")

if TYPE_CHECKING:
    import pandas as pd

    from capalloc.tables import PlanTables


def __getattr__(name: str) -> Any:
    # PlanTables builds on the extraction's PlanResult, which imports Pyomo: loaded on first
    # use, so that `import capalloc` (and every CLI command, which imports this package first)
    # stays as quick as the commands that never solve.
    if name == "PlanTables":
        from capalloc.tables import PlanTables

        return PlanTables
    raise AttributeError(f"module 'capalloc' has no attribute {name!r}")


def _as_instance(instance: Instance | str | Path) -> Instance:
    return instance if isinstance(instance, Instance) else load_instance(instance)


def solve(instance: Instance | str | Path, out_dir: str | Path | None = None, *,
          time_limit: float | None = None, mip_gap: float | None = None, audit: bool = True,
          force: bool = False) -> PlanTables:
    """Solve an instance (validated object or file path) and return the plan with its tables.
    ``out_dir`` also writes the plan directory (the same files as `capalloc solve -o`).
    Raises InstanceError for bad input, and capalloc.optimizer.solving.solve.InfeasibleError /
    NoPlanError when no plan exists."""
    from capalloc.optimizer.outputs.extract import PlanResult
    from capalloc.optimizer.pipeline import solve_file, solve_instance
    from capalloc.optimizer.solving.solve import SolveSettings
    from capalloc.tables import PlanTables

    if isinstance(instance, str | Path) and out_dir is not None:
        outcome = solve_file(instance, out_dir, time_limit=time_limit, mip_gap=mip_gap, audit=audit,
                             force=force)
        validated = outcome.result.instance
    else:
        validated = _as_instance(instance)
        settings = SolveSettings.from_instance(validated)
        if time_limit is not None or mip_gap is not None:
            import dataclasses

            settings = dataclasses.replace(
                settings, **{k: v for k, v in (("time_limit_seconds", time_limit), ("mip_rel_gap", mip_gap))
                             if v is not None})
        outcome = solve_instance(validated, settings=settings, audit=audit)
        if out_dir is not None:
            from capalloc.optimizer.outputs.plan_io import write_plan_dir

            outcome.out_dir = write_plan_dir(outcome.result, out_dir, {}, force=force)
    fields = {name: getattr(outcome.result, name) for name in PlanResult.__dataclass_fields__}
    return PlanTables(**{**fields, "instance": validated}, out_dir=outcome.out_dir,
                      timings_seconds=dict(outcome.timings))


def open_plan(plan_dir: str | Path) -> PlanTables:
    """A plan directory written by `capalloc solve` (this version), with its tables."""
    from capalloc.optimizer.outputs.plan_io import open_plan_dir, read_table
    from capalloc.tables import PlanTables

    opened = open_plan_dir(plan_dir)
    tables: dict[str, Any] = {}
    for name in TABLES:
        path = Path(plan_dir) / f"{name}.csv"
        tables[name] = read_table(plan_dir, f"{name}.csv") if path.is_file() else None
    return PlanTables(plan=opened.plan, instance=opened.instance, out_dir=Path(plan_dir), **tables)


def _plan(plan: PlanTables | Plan | str | Path) -> Plan:
    if hasattr(plan, "plan") and isinstance(plan.plan, Plan):  # a PlanTables
        return plan.plan
    if isinstance(plan, Plan):
        return plan
    return open_plan(plan).plan


def audit(instance: Instance | str | Path, plan: PlanTables | Plan | str | Path):
    """The independent audit of a plan against an instance: an AuditReport with ``passed``,
    ``violations`` and the recomputed ``npv_usd``."""
    from capalloc.optimizer.checks.audit import audit_plan

    return audit_plan(_as_instance(instance), _plan(plan))


def compare(a: PlanTables | Plan | str | Path, b: PlanTables | Plan | str | Path, *, rel_tol: float = 1e-6):
    """Compare two plans: a Comparison with ``differs``, the objectives and the signing changes."""
    from capalloc.optimizer.checks.compare import compare_plans

    return compare_plans(_plan(a), _plan(b), rel_tol=rel_tol)


def sweep(spec: str | Path, out_dir: str | Path, *, workers: int = 1, resume: bool = False) -> pd.DataFrame:
    """Run a sweep spec (see `capalloc schema` and README "Sensitivity sweeps") into ``out_dir``
    and return its results table."""
    import pandas as pd

    from capalloc.optimizer.sweep.runner import run_sweep

    run_sweep(spec, out_dir, workers=workers, resume=resume, progress=False)
    return pd.read_csv(Path(out_dir) / "results.csv")


def evaluate(plan_dir: str | Path, other: Instance | str | Path):
    """Re-optimize a committed plan's operations under another instance (a stress): an
    Evaluation with ``feasible``, ``npv_usd`` or the ``shortfalls`` and the cures."""
    from capalloc.optimizer.analysis.evaluate import evaluate as run

    opened = open_plan(plan_dir)
    return run(opened.plan, opened.instance, _as_instance(other))


def explain(plan_dir: str | Path, *, resolves: bool = True, write: bool = False) -> dict[str, Any]:
    """The plan's marginal values (LP duals with its integer decisions held: power per site
    and year, liquidity per month, signing capacity per year), lease and capex thresholds,
    and, with ``resolves``, each phase's sign-now / never NPV: the dictionary `capalloc
    explain` writes to explain.json (``write`` writes it there too)."""
    from capalloc.optimizer.analysis.report import explain_plan, write_explain
    from capalloc.optimizer.outputs.plan_io import open_plan_dir

    opened = open_plan_dir(plan_dir)
    data = explain_plan(opened, resolves=resolves)
    if write:
        write_explain(Path(plan_dir), data)
    return data


def report(folder: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write report.html and the workbook for a plan directory or a sweep folder; the files."""
    from capalloc.optimizer.outputs.report_files import write_report

    return write_report(folder, out_dir).files
