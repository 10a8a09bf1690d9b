"""Solving sweep points: a PointSolver lives in each worker process and solves point after point.

``PointSolver().solve(point_id, instance, params) -> ResultRow`` is the whole interface the
runner and the break-even search use. A worker builds a model once per structure and
re-solves it with changed parameters (optimizer.solving.resolve.ParametricSolver).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from capalloc.models.instance import Instance
from capalloc.models.plan import Plan

STATUSES = ("optimal", "time_limit", "infeasible", "no_plan", "error")
FIXED_COLUMNS = ("point_id", "status", "message", "npv_usd", "gap_pct", "minimum_cash_usd",
                 "peak_debt_usd", "mw_signed_total")
TIMING_COLUMNS = ("solve_seconds", "highs_seconds")
PARAM_PREFIX = "param."


@dataclass
class ResultRow:
    """What one point gave: status, NPV, gap, decisions and KPIs (first scenario), timings.

    ``metrics`` holds the per-site, per-phase and per-year columns:
    ``first_signing.<site>`` (YYYY-MM or None), ``mw_signed.<site>``,
    ``signing.<site>/<phase>`` (YYYY-MM or None), ``ai_mw_online.<year>``, ``hashrate_ehs.<year>``,
    and where the instance has them ``fleet_mw_ordered.<generation>``, ``fleet_mw_sold.<generation>``
    (MW over the horizon) and ``curtailment_credits_usd``.
    """

    point_id: str
    params: dict[str, Any]
    status: str
    message: str = ""
    npv_usd: float | None = None
    gap_pct: float | None = None
    minimum_cash_usd: float | None = None
    peak_debt_usd: float | None = None
    mw_signed_total: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    solve_seconds: float = 0.0
    highs_seconds: float = 0.0

    @property
    def solved(self) -> bool:
        return self.status in ("optimal", "time_limit")

    def record(self) -> dict[str, Any]:
        """Flat mapping: fixed columns, param.<name>, metrics, timings (JSON/CSV-ready)."""
        out: dict[str, Any] = {c: getattr(self, c) for c in FIXED_COLUMNS}
        out.update({PARAM_PREFIX + k: v for k, v in self.params.items()})
        out.update(self.metrics)
        out.update({c: getattr(self, c) for c in TIMING_COLUMNS})
        return out

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ResultRow:
        known = set(FIXED_COLUMNS) | set(TIMING_COLUMNS)
        params = {k[len(PARAM_PREFIX):]: v for k, v in record.items() if k.startswith(PARAM_PREFIX)}
        metrics = {k: v for k, v in record.items() if k not in known and not k.startswith(PARAM_PREFIX)}
        fields_ = {k: record.get(k) for k in known}
        return cls(params=params, metrics=metrics, **fields_)

    def signing_month(self, site: str, phase: str) -> str | None:
        return self.metrics.get(f"signing.{site}/{phase}")


def _years(instance: Instance) -> list[str]:
    from capalloc.models.common import month_ordinal

    first = month_ordinal(instance.start)
    return sorted({str((first + t) // 12) for t in range(instance.horizon_months)})


def empty_metrics(instance: Instance) -> dict[str, Any]:
    """Every metric column of the instance, unset (a point without a plan)."""
    out: dict[str, Any] = {}
    for site in instance.sites:
        out[f"first_signing.{site.id}"] = None
        out[f"mw_signed.{site.id}"] = None
    for site in instance.sites:
        for phase in site.ai_phases:
            out[f"signing.{site.id}/{phase.id}"] = None
    for year in _years(instance):
        out[f"ai_mw_online.{year}"] = None
    for year in _years(instance):
        out[f"hashrate_ehs.{year}"] = None
    for gen in instance.fleet:
        if gen.purchase is not None or gen.resale_usd_per_th is not None:
            out[f"fleet_mw_ordered.{gen.id}"] = None
            out[f"fleet_mw_sold.{gen.id}"] = None
    if any(s.curtailment is not None for s in instance.sites):
        out["curtailment_credits_usd"] = None
    for program in instance.finance.notes_programs:
        out[f"notes_issued_usd.{program.id}"] = None
    if instance.finance.equity_issuance is not None:
        out["equity_raised_usd"] = None
    return out


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def row_from_plan(point_id: str, params: dict[str, Any], instance: Instance, plan: Plan) -> ResultRow:
    """The result row of a solved point (KPIs of the first scenario)."""
    metrics = empty_metrics(instance)
    for site in instance.sites:
        signed = [s for s in plan.decisions.signings if s.site == site.id]
        metrics[f"mw_signed.{site.id}"] = round(float(sum(s.critical_it_mw for s in signed)), 6)
        if signed:
            metrics[f"first_signing.{site.id}"] = min(s.signing_month for s in signed)
    for s in plan.decisions.signings:
        metrics[f"signing.{s.site}/{s.phase}"] = s.signing_month
    kpis = plan.kpis[0]
    for year, mw in kpis.ai_mw_online_by_year.items():
        metrics[f"ai_mw_online.{year}"] = mw
    for year, ehs in kpis.hashrate_ehs_by_year.items():
        metrics[f"hashrate_ehs.{year}"] = ehs
    for fleet in plan.decisions.fleet:
        metrics[f"fleet_mw_ordered.{fleet.generation}"] = round(float(sum(fleet.ordered_mw)), 6)
        metrics[f"fleet_mw_sold.{fleet.generation}"] = round(float(sum(fleet.sold_mw)), 6)
    if "curtailment_credits_usd" in metrics:
        metrics["curtailment_credits_usd"] = kpis.curtailment_credits_usd
    for notes in plan.decisions.notes:
        metrics[f"notes_issued_usd.{notes.program}"] = round(float(sum(notes.issued_usd)), 2)
    if "equity_raised_usd" in metrics:
        metrics["equity_raised_usd"] = kpis.equity_raised_usd
    status = "optimal" if plan.solver.status in ("optimal", "gap_limit") else "time_limit"
    return ResultRow(
        point_id=point_id, params=dict(params), status=status, npv_usd=plan.npv_usd,
        gap_pct=_finite(plan.solver.gap_pct), minimum_cash_usd=kpis.minimum_cash_usd,
        peak_debt_usd=kpis.peak_debt_usd,
        mw_signed_total=round(float(sum(s.critical_it_mw for s in plan.decisions.signings)), 6),
        metrics=metrics,
    )


class PointSolver:
    """Solves sweep points one after another in one process.

    ``threads`` overrides the instance's HiGHS threads (the runner passes 1 when several
    points run side by side); ``time_limit``/``mip_gap`` override its other solver settings.
    """

    def __init__(self, threads: int | None = None, *, time_limit: float | None = None,
                 mip_gap: float | None = None):
        self.threads, self.time_limit, self.mip_gap = threads, time_limit, mip_gap
        self.points_solved = 0
        self.models_built = 0
        self._parametric = None  # optimizer.solving.resolve.ParametricSolver of the last structure

    def solve(self, point_id: str, instance: Instance, params: dict[str, Any], *,
              stress: bool = False) -> ResultRow:
        """The point's row; ``stress``: the instance holds a plan's commitments (a stress
        design), and the row adds the shortfall and cures (optimizer.sweep.stress)."""
        from capalloc.optimizer.solving.solve import InfeasibleError, NoPlanError, SolveSettings

        started = time.perf_counter()
        settings = SolveSettings.from_instance(instance, threads=self.threads,
                                               time_limit=self.time_limit, mip_gap=self.mip_gap)
        highs_seconds = 0.0
        try:
            if stress:
                row, highs_seconds = self._stress(point_id, instance, params, settings)
            else:
                plan, highs_seconds = self._solve(instance, settings)
                row = row_from_plan(point_id, params, instance, plan)
        except InfeasibleError as error:
            row = ResultRow(point_id, dict(params), "infeasible", "; ".join(error.reasons),
                            metrics=empty_metrics(instance))
        except NoPlanError as error:
            row = ResultRow(point_id, dict(params), "no_plan", str(error),
                            metrics=empty_metrics(instance))
        except Exception as error:  # one bad point must not end the sweep
            row = ResultRow(point_id, dict(params), "error", f"{type(error).__name__}: {error}",
                            metrics=empty_metrics(instance))
        row.solve_seconds = round(time.perf_counter() - started, 4)
        row.highs_seconds = round(highs_seconds, 4)
        self.points_solved += 1
        return row

    def _stress(self, point_id: str, instance: Instance, params: dict[str, Any],
                settings) -> tuple[ResultRow, float]:
        """A stress point: the committed plan's NPV, or where the floor breaks the shortfall
        and the least extra starting cash; the highest floor held either way."""
        from capalloc.optimizer.analysis.evaluate import cure_value, shortfall_and_cures
        from capalloc.optimizer.solving.solve import InfeasibleError
        from capalloc.optimizer.sweep.stress import stress_message, stress_metrics

        try:
            plan, highs_seconds = self._solve(instance, settings, explain=False)
        except InfeasibleError:
            evaluation = shortfall_and_cures(instance, settings)
            metrics = {**empty_metrics(instance),
                       **stress_metrics(evaluation, evaluation.highest_floor_usd)}
            return ResultRow(point_id, dict(params), "infeasible", stress_message(evaluation),
                             metrics=metrics), 0.0
        row = row_from_plan(point_id, params, instance, plan)
        row.metrics.update(stress_metrics(None, cure_value(instance, settings, "floor")))
        return row, highs_seconds

    def _solve(self, instance: Instance, settings, explain: bool = True) -> tuple[Plan, float]:
        """Re-solve on the worker's persistent model when the structure allows, else build one.

        Points that differ from the model's instance only in market prices, hashrate, fees,
        power prices, capex or lease rates re-use it (optimizer.solving.resolve.ParametricSolver);
        anything else (a lead time, a term, a site) builds the model of the new structure.
        """
        from capalloc.optimizer.outputs.extract import extract_plan
        from capalloc.optimizer.scenario_tree.split import needs_extensive_form
        from capalloc.optimizer.solving.resolve import ParametricSolver
        from capalloc.optimizer.solving.solve import InfeasibleError, NoPlanError, explain_infeasibility

        if needs_extensive_form(instance):  # a scenario tree: its extensive form, built per point
            from capalloc.optimizer.scenario_tree.solve import solve_tree_instance

            outcome = solve_tree_instance(instance, settings=settings, audit=False,
                                          value_of_information=False)
            return outcome.result.plan, outcome.highs_seconds
        if self._parametric is None or not self._parametric.accepts(instance):
            self._parametric = ParametricSolver(instance)
            self.models_built += 1
        run = self._parametric.solve(instance, settings)
        if not run.has_solution:
            if run.termination in ("provenInfeasible", "infeasibleOrUnbounded"):
                raise InfeasibleError(explain_infeasibility(instance, settings) if explain else [])
            raise NoPlanError(f"HiGHS stopped ({run.termination}) after {run.highs_seconds:.1f} s "
                              "without a plan")
        return extract_plan(run, "").plan, run.highs_seconds


# One PointSolver per worker process (process pool or Dask worker), kept across points.
_SOLVER: PointSolver | None = None


def process_solver(threads: int | None) -> PointSolver:
    global _SOLVER
    if _SOLVER is None or _SOLVER.threads != threads:
        _SOLVER = PointSolver(threads)
    return _SOLVER


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def exit_with_parent(parent_pid: int) -> None:
    """End this worker when the sweep's parent process ends, however it ends (kill -9 too).

    Linux: the kernel sends SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG). Elsewhere a
    daemon thread polls the parent's pid. Either way the pool's resource tracker, which
    lives as long as a process holds its pipe, exits with the last worker."""
    import os
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
            if os.getppid() != parent_pid:  # the parent died before the request was made
                os._exit(1)
            return
    import threading

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="capalloc-parent-watch", daemon=True).start()


def init_pool_worker(parent_pid: int | None = None) -> None:
    """Process-pool initializer: leave Ctrl-C to the parent, which cancels and keeps results;
    exit with the parent."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Spawned with SIGINT blocked (runner._ctrl_c_held_while_spawning): a Ctrl-C pending since
    # start-up is dropped here, now that it is ignored.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if parent_pid is not None:
        exit_with_parent(parent_pid)
    import_pyomo_untracked()


def import_pyomo_untracked() -> None:
    """Import Pyomo so that the lock it makes on import is tracked by no resource tracker.

    Pyomo creates a multiprocessing Lock when imported. In a spawned worker that is a named
    semaphore registered with the pool's resource tracker, so stopping the worker mid-point
    (Ctrl-C, which abandons running points) made the tracker warn about a leaked semaphore.
    Made under the fork context, the semaphore is unlinked at once and nothing can leak."""
    import multiprocessing

    method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("fork", force=True)
    try:
        import pyomo.common.dependencies  # noqa: F401
    finally:
        multiprocessing.set_start_method(method, force=True)


def solve_task(point_id: str, instance: Instance, params: dict[str, Any], stress: bool,
               threads: int | None) -> dict[str, Any]:
    """Entry point of a pool or Dask task: the flat record of the solved point."""
    return process_solver(threads).solve(point_id, instance, params, stress=stress).record()
