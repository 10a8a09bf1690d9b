"""Re-solving one model structure under many parameter values (sweeps, break-even searches).

A ParametricSolver builds the model of a base instance once, with its knobs as mutable
Params (formulation.knobs), and hands it to HiGHS once through Pyomo's persistent
interface. For each instance of the same structure it assigns the knobs, lets the
persistent interface edit only the changed coefficients, and solves a canonical copy of
the updated model (entries sorted, explicit zeros dropped) in a fresh HiGHS: the result of
a point then depends only on that point's numbers, never on which points the worker solved
before, so a local pool and a Dask cluster give identical rows.
"""

from __future__ import annotations

import time

import highspy
import numpy as np
import pyomo.core as pyo
from pyomo.contrib.solver.common.results import TerminationCondition

from capalloc.models.instance import Instance
from capalloc.optimizer.formulation import BuiltModel, build_model, retarget_model
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.solving.handoff import outcome_of
from capalloc.optimizer.solving.solve import (
    HighsSession,
    SolverRun,
    SolveSettings,
    StopOnCtrlC,
    _prepare_threads,
    first_plan_pays,
    remaining_time,
    starting_plan,
)


def canonical_lp(lp: highspy.HighsLp) -> highspy.HighsLp:
    """The same LP with each column's entries sorted by row and zeros dropped."""
    matrix = lp.a_matrix_
    starts = np.asarray(matrix.start_, dtype=np.int64)
    index = np.asarray(matrix.index_, dtype=np.int64)
    value = np.asarray(matrix.value_, dtype=np.float64)
    columns = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    keep = value != 0.0
    columns, index, value = columns[keep], index[keep], value[keep]
    order = np.lexsort((index, columns))
    columns, index, value = columns[order], index[order], value[order]
    counts = np.bincount(columns, minlength=len(starts) - 1)
    matrix.start_ = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    matrix.index_ = index.astype(np.int32)
    matrix.value_ = value
    lp.a_matrix_ = matrix
    return lp


REFERENCE_CAPEX_USD_PER_MW_IT = 1e6
REFERENCE_LEASE_USD_PER_KW_MONTH = 100.0


def reference_instance(instance: Instance) -> Instance:
    """The instance with every non-zero capex and lease rate set to a fixed reference value.

    Capex and lease rates enter a parametric model as scales of its base instance's figures,
    so the last bits of a coefficient depend on the base. Building every model from the
    reference base of its structure makes a point's coefficients, and so its HiGHS path and
    plan, the same whichever point a worker happened to build its model from.
    """
    copy = instance.model_copy(deep=True)
    for site in copy.sites:
        for phase in site.ai_phases:
            if phase.capex_usd_per_mw_it != 0.0:
                phase.capex_usd_per_mw_it = REFERENCE_CAPEX_USD_PER_MW_IT
            if phase.lease_usd_per_kw_month != 0.0:
                phase.lease_usd_per_kw_month = REFERENCE_LEASE_USD_PER_KW_MONTH
    return copy


class ParametricSolver:
    """Solves instances that share a base instance's structure without rebuilding."""

    def __init__(self, base: Instance):
        base = reference_instance(base)
        self.base = base
        self.timings: dict[str, float] = {}
        started = time.perf_counter()
        self.built: BuiltModel = build_model(base, parametric=True)
        self.timings["build"] = time.perf_counter() - started
        self.session = HighsSession(self.built, persistent=True, timings=self.timings)
        self._columns = list(enumerate(self.session.handoff.variables))
        self._phases = self.session.phase_columns()  # the canonical copy keeps column order
        self._dive = first_plan_pays(self.built)

    def accepts(self, instance: Instance) -> bool:
        """Whether ``instance`` has the base's structure (else it needs its own model)."""
        from capalloc.optimizer.formulation.knobs import structure_signature

        return structure_signature(instance) == self.built.signature

    def solve(self, instance: Instance, settings: SolveSettings) -> SolverRun:
        if not retarget_model(self.built, instance):
            raise ValueError("instance does not share the base instance's structure")
        timings: dict[str, float] = {}
        started = time.perf_counter()
        self.session.handoff.update()
        lp = canonical_lp(self.session.highs.getLp())
        timings["update"] = time.perf_counter() - started
        _prepare_threads(settings.threads)
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        for name, value in settings.highs_option_values().items():
            highs.setOptionValue(name, value)
        highs.passModel(lp)
        started = time.perf_counter()
        start = starting_plan(highs, self._phases, settings, dive=self._dive)
        start.narrow(highs)  # a fresh HiGHS per point: nothing to put back
        if start.solution is not None:  # after the bounds: a model change drops the start
            highs.setSolution(start.solution)
        searched = time.perf_counter() - started
        timings["first_plan"] = searched - start.narrowing.seconds
        timings["narrowing"] = start.narrowing.seconds
        highs.setOptionValue("time_limit", remaining_time(settings, searched, start.share))
        started = time.perf_counter()
        with StopOnCtrlC(highs) as stop:
            highs.run()
        if stop.requested:  # a sweep point cut short is not a result: it reruns on --resume
            raise KeyboardInterrupt
        timings["highs_wall"] = time.perf_counter() - started
        outcome = outcome_of(highs)
        if outcome.has_solution:
            values = highs.getSolution().col_value
            for column, var in self._columns:
                var.set_value(values[column], skip_validation=True)
        outcome = start.fall_back(outcome, [var for _, var in self._columns])
        has_solution = outcome.has_solution
        objective = outcome.objective
        bound = start.instance_bound(outcome.bound) if has_solution else None
        gap = abs(bound - objective) / max(abs(objective), 1e-9) if bound is not None else None
        counts = {"variables": lp.num_col_, "constraints": lp.num_row_,
                  "binaries": int(sum(1 for v in lp.integrality_ if int(v) != 0)),
                  "nonzeros": int(len(lp.a_matrix_.value_))}
        return SolverRun(
            built=self.built, settings=settings,
            termination=outcome.termination.name, has_solution=has_solution,
            optimal=outcome.termination == TerminationCondition.convergenceCriteriaSatisfied,
            objective_usd=objective * USD_PER_MODEL_UNIT if objective is not None else None,
            bound_usd=bound * USD_PER_MODEL_UNIT if bound is not None else None,
            gap=gap, highs_seconds=outcome.cumulative_seconds,  # a fresh HiGHS per point
            highs_version=f"{highs.versionMajor()}.{highs.versionMinor()}.{highs.versionPatch()}",
            counts=counts, timings=timings,
        )


def objective_value_usd(built: BuiltModel) -> float:
    return pyo.value(built.model.npv_without_tie_break) * USD_PER_MODEL_UNIT
