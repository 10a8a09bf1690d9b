"""A plan's LP: the model with every integer decision held at the plan's value.

DESIGN ("Pyomo + HiGHS: facts measured here"): a MIP has no duals. With the integers held
(their bounds set to the plan's values) the rest is an LP, whose duals price the plan's
constraints. The model is built once with its lease rates and capex as mutable Params
(formulation.knobs) and handed to HiGHS once through Pyomo's persistent interface; a
changed signing or rate is a bound or coefficient update, re-solved as an LP
(``solve_relaxation``) from a cleared solver state, so each answer depends only on its inputs.

Signs, as HiGHS reports them for this maximization: a row's dual is the objective's change
per unit its bound moves (d NPV / d rhs), positive on a binding <= row; a column's dual is
its reduced cost c_j - sum_i y_i a_ij.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import highspy
import numpy as np
import pyomo.core as pyo

from capalloc.models.instance import Instance
from capalloc.models.plan import Plan
from capalloc.optimizer.formulation import BuiltModel, build_model
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.solving.handoff import PersistentHandoff

Assignment = dict[tuple[str, str], int | None]
"""Signing month (model index) per phase (site, phase id); None: never signed."""


class FixedLPError(Exception):
    """The plan's integer decisions do not fit the instance's model."""


@dataclass
class LPSolution:
    """One solve of the fixed LP (money in model units, $M, unless named _usd)."""

    feasible: bool
    npv_usd: float | None
    row_dual: np.ndarray
    col_dual: np.ndarray
    col_value: np.ndarray


def plan_assignment(plan: Plan, built: BuiltModel) -> Assignment:
    """The plan's signing month per phase, as model month indices."""
    index = {label: t for t, label in enumerate(plan.months)}
    signed = {(s.site, s.phase): index[s.signing_month] for s in plan.decisions.signings}
    out: Assignment = {}
    for window in built.context.phase_windows:
        month = signed.pop(window.key, None)
        if month is not None and not (window.signable and window.first <= month <= window.last):
            raise FixedLPError(f"{window.site}/{window.phase.id}: signed in {plan.months[month]}, "
                               "outside the months the instance allows")
        out[window.key] = month
    if signed:
        raise FixedLPError(f"the plan signs phases the instance does not have: {sorted(signed)}")
    return out


def plan_lots(plan: Plan, built: BuiltModel) -> dict[tuple[str, int], int]:
    """The plan's whole lots ordered per (generation, month)."""
    model, ctx = built.model, built.context
    ordered = {f.generation: f.ordered_mw for f in plan.decisions.fleet}
    lots = {}
    for g, t in (key for key, _ in _items(model, "fleet_lots")):
        lot = ctx.generations_by_id[g].purchase.lot_mw
        mw = ordered.get(g, [0.0] * ctx.calendar.months)[t]
        lots[(g, t)] = int(round(mw / lot))
    return lots


class FixedLP:
    """The instance's model, integers held, re-solvable under other signings and rates."""

    def __init__(self, instance: Instance):
        self.instance = instance
        self.built = build_model(instance, parametric=True)
        self.model = self.built.model
        self.windows = {w.key: w for w in self.built.context.phase_windows}
        self.handoff = PersistentHandoff(self.model)
        self.highs = self.handoff.highs
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("solve_relaxation", True)
        self.highs.setOptionValue("random_seed", 0)
        self.highs.setOptionValue("threads", 1)
        self.column = self.handoff.column_of
        self.row = {id(c): i for i, c in enumerate(self.handoff.constraints)}
        self._lots: dict[tuple[str, int], int] = {}
        self._stale = False
        self._base_scales = {name: {k: pyo.value(v) for k, v in getattr(self.model, f"knob_{name}").items()}
                             for name in ("lease_scale", "capex_scale")}

    # ---- the integer decisions -------------------------------------------------------
    def set_lots(self, lots: Mapping[tuple[str, int], int]) -> None:
        """The whole lots every later ``hold`` keeps (the plan's: purchases are not explained)."""
        self._lots = dict(lots)

    def hold(self, assignment: Assignment, lots: Mapping[tuple[str, int], int] | None = None) -> None:
        """Set every integer column's bounds to the given decisions, on HiGHS directly: the
        Pyomo variables keep their own bounds, so the persistent interface's updates (which
        push only what changed on the Pyomo side) never undo these."""
        pairs: list[tuple[object, float]] = []
        model = self.model
        for key, window in self.windows.items():
            if not window.signable:
                continue
            month = assignment.get(key)
            for t in range(window.first, window.last + 1):
                pairs.append((model.signed_by[key[0], key[1], t],
                              1.0 if month is not None and t >= month else 0.0))
        years = self.built.context.calendar.year_periods()
        for (site, phase, year), var in _items(model, "signed_in_year"):
            month = assignment.get((site, phase))
            inside = month is not None and years[year][0] <= month <= years[year][-1]
            pairs.append((var, 1.0 if inside else 0.0))
        held = self._lots if lots is None else lots
        pairs += [(var, float(held.get(key, 0))) for key, var in _items(model, "fleet_lots")]
        # A variable fixed in the model itself (a commitment) is no column: nothing to hold.
        found = [(self.column[id(var)], value) for var, value in pairs if id(var) in self.column]
        columns, values = [c for c, _ in found], [v for _, v in found]
        if columns:
            index = np.asarray(columns, dtype=np.int32)
            bound = np.asarray(values, dtype=np.float64)
            self.highs.changeColsBounds(int(index.size), index, bound, bound)

    def set_scale(self, name: str, key: tuple[str, str], factor: float) -> None:
        """A phase's lease rate or capex (``lease_scale``/``capex_scale``) at ``factor`` x the instance's."""
        param = getattr(self.model, f"knob_{name}")[key]
        value = self._base_scales[name][key] * factor
        if pyo.value(param) != value:
            param.set_value(value)
            self._stale = True

    def reset_scales(self) -> None:
        for name, values in self._base_scales.items():
            for key in values:
                self.set_scale(name, key, 1.0)

    def update(self) -> None:
        """Push changed knobs to HiGHS (Pyomo re-evaluates every knob expression: ~0.7 s at
        CleanSpark's size, so only when one changed)."""
        if self._stale:
            self.handoff.update()
            self._stale = False

    # ---- solving -------------------------------------------------------------------
    def solve(self, relax_rows: tuple[str, ...] = ()) -> LPSolution:
        """Solve the LP as held; ``relax_rows``: constraint components left out (their
        rows' bounds opened) for this solve."""
        self.update()
        highs = self.highs
        opened = self._open_rows(relax_rows)
        try:
            # Warm-started from the previous solve's basis: the LP optimum does not depend on
            # it, and the order of solves is fixed, so the output stays the same run to run.
            highs.run()
            status = highs.getModelStatus()
            solution = highs.getSolution()
            feasible = status == highspy.HighsModelStatus.kOptimal
            npv = None
            if feasible:
                values = np.asarray(solution.col_value)
                npv = (self._npv_model_units(values)) * USD_PER_MODEL_UNIT
            return LPSolution(feasible, npv, np.asarray(solution.row_dual), np.asarray(solution.col_dual),
                              np.asarray(solution.col_value))
        finally:
            self._restore_rows(opened)

    def _npv_model_units(self, values: np.ndarray) -> float:
        """The NPV without the canonical tie-break, at the solution's values."""
        for var_id, column in self.column.items():
            self.handoff.solver._vars[var_id][0].set_value(values[column], skip_validation=True)
        return pyo.value(self.model.npv_without_tie_break)

    def _open_rows(self, names: tuple[str, ...]):
        if not names:
            return None
        rows = [self.row[id(c)] for name in names if hasattr(self.model, name)
                for c in getattr(self.model, name).values()]
        if not rows:
            return None
        index = np.asarray(rows, dtype=np.int32)
        lp = self.highs.getLp()
        saved = (index, np.asarray(lp.row_lower_)[index], np.asarray(lp.row_upper_)[index])
        inf = np.full(index.size, highspy.kHighsInf)
        self.highs.changeRowsBounds(int(index.size), index, -inf, inf)
        return saved

    def _restore_rows(self, saved) -> None:
        if saved is not None:
            index, lower, upper = saved
            self.highs.changeRowsBounds(int(index.size), index, lower, upper)

    # ---- reading duals -------------------------------------------------------------
    def row_dual(self, solution: LPSolution, constraint) -> float:
        return float(solution.row_dual[self.row[id(constraint)]])

    def col_dual(self, solution: LPSolution, var) -> float:
        return float(solution.col_dual[self.column[id(var)]])


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _items(model: pyo.ConcreteModel, name: str) -> list:
    """A component's (index, data) pairs, none when the model has no such component."""
    component = getattr(model, name, None)
    return list(component.items()) if component is not None else []
