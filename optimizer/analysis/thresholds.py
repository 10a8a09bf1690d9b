"""The lease rate (or capex) at which a late or unsigned phase would be signed earlier.

Two plans are compared with every other integer decision held: A, the plan, and B, the
same with the phase signed one month earlier (an unsigned phase: signed in its best
month). Each plan's NPV is concave and piecewise linear in the phase's lease rate (or
capex), since the rate moves only the fixed columns' coefficients of an LP. The threshold
is where the two NPVs meet. Its first estimate comes from the reduced costs: the slope of
each plan's NPV is sum_j x_j (dc_j - sum_i y_i da_ij) over the phase's columns (the
envelope theorem), so one Newton step from the instance's rate lands on the threshold
exactly when neither LP's basis changes on the way; that point is then re-solved to check
it. When a basis does change, the check fails and Newton steps on re-solves go on
('re-solve' method) until the NPVs agree.

This holds the other decisions; `capalloc breakeven` re-solves the whole MIP at each trial
rate, so it also lets other phases move. Where nothing else moves, both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capalloc.optimizer.analysis.fixed_lp import Assignment, FixedLP, LPSolution
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT

MAX_STEPS = 30
CANDIDATES_UNSIGNED = 24
"""Signing months tried for an unsigned phase (evenly spread over its window)."""
REFINED_UNSIGNED = 3
"""Of those, the ones with the lowest linear threshold estimates refined exactly."""

KNOBS = {"lease": "lease_scale", "capex": "capex_scale"}


@dataclass
class Threshold:
    """The rate as a factor of the instance's own, with how it was found."""

    factor: float | None
    method: str  # "reduced cost", "re-solve", "already" or "none"
    note: str = ""
    solves: int = 0


@dataclass
class PhaseThresholds:
    site: str
    phase: str
    status: str  # late, unsigned
    earlier_month: str | None
    lease: Threshold | None = None
    capex: Threshold | None = None
    note: str = ""
    blocked_by_cap: tuple[int, float, float] | None = None  # (year, gain USD, MW)


class SlopeReader:
    """d NPV / d factor of a held plan, from its LP's duals (reduced costs)."""

    def __init__(self, lp: FixedLP):
        self.lp = lp
        self._derivatives: dict[tuple[str, tuple[str, str]], tuple] = {}

    def _columns(self, key: tuple[str, str]) -> np.ndarray:
        window = self.lp.windows[key]
        z = self.lp.model.signed_by
        found = (self.lp.column.get(id(z[key[0], key[1], t])) for t in range(window.first, window.last + 1))
        return np.asarray([c for c in found if c is not None], dtype=np.int32)

    def _read(self, columns: np.ndarray):
        highs = self.lp.highs
        _, _, cost, _, _, _ = highs.getCols(int(columns.size), columns)
        _, start, index, value = highs.getColsEntries(int(columns.size), columns)
        return np.asarray(cost), np.asarray(start), np.asarray(index), np.asarray(value)

    def derivative(self, knob: str, key: tuple[str, str]):
        """(columns, d cost, per column: (rows, d values)) per unit of the factor; the
        coefficients are affine in it, so two readings give the derivative exactly."""
        cache_key = (knob, key)
        if cache_key not in self._derivatives:
            columns = self._columns(key)
            lp = self.lp
            lp.set_scale(knob, key, 1.0)
            lp.update()
            base = self._read(columns)
            lp.set_scale(knob, key, 2.0)
            lp.update()
            moved = self._read(columns)
            lp.set_scale(knob, key, 1.0)
            per_column = []
            for j in range(columns.size):
                rows = {}
                for reading, sign in ((base, -1.0), (moved, 1.0)):
                    _, start, index, value = reading
                    end = start[j + 1] if j + 1 < start.size else index.size
                    for i, v in zip(index[start[j]:end], value[start[j]:end], strict=True):
                        rows[int(i)] = rows.get(int(i), 0.0) + sign * float(v)
                per_column.append(rows)
            self._derivatives[cache_key] = (columns, moved[0] - base[0], per_column)
        return self._derivatives[cache_key]

    def slope_usd(self, knob: str, key: tuple[str, str], solution: LPSolution) -> float:
        columns, d_cost, per_column = self.derivative(knob, key)
        total = 0.0
        for j, column in enumerate(columns):
            x = solution.col_value[column]
            if x == 0.0:
                continue
            priced = sum(solution.row_dual[i] * d for i, d in per_column[j].items())
            total += x * (d_cost[j] - priced)
        return total * USD_PER_MODEL_UNIT


class ThresholdFinder:
    def __init__(self, lp: FixedLP, plan: Assignment):
        self.lp = lp
        self.plan = plan
        self.slopes = SlopeReader(lp)

    def _solve(self, assignment: Assignment, knob: str, key, factor: float,
               relax: tuple[str, ...] = ()) -> LPSolution:
        self.lp.set_scale(knob, key, factor)
        self.lp.hold(assignment)
        try:
            return self.lp.solve(relax)
        finally:
            self.lp.set_scale(knob, key, 1.0)

    def crossing(self, kind: str, key, moved: Assignment) -> Threshold:
        """The factor of the phase's lease rate or capex (``kind``) at which the plan and
        ``moved`` are worth the same (Newton steps on re-solves)."""
        knob = KNOBS[kind]
        factor, solves, first_check = 1.0, 0, True
        tolerance = None
        for _ in range(MAX_STEPS):
            a = self._solve(self.plan, knob, key, factor)
            b = self._solve(moved, knob, key, factor)
            solves += 2
            if not (a.feasible and b.feasible):
                return Threshold(None, "none", "no plan at this rate (liquidity floor)", solves)
            tolerance = tolerance or max(1.0, 1e-9 * abs(a.npv_usd))
            gap = a.npv_usd - b.npv_usd
            if abs(gap) <= tolerance:
                if factor == 1.0:
                    return Threshold(1.0, "already", "worth the same at today's rate", solves)
                return Threshold(factor, "reduced cost" if first_check else "re-solve", "", solves)
            if factor == 1.0 and gap < 0:
                return Threshold(1.0, "already", "worth more earlier at today's rate (within the MIP gap)",
                                 solves)
            if factor != 1.0:
                first_check = False
            step = self.slopes.slope_usd(knob, key, b) - self.slopes.slope_usd(knob, key, a)
            if step == 0.0:
                return Threshold(None, "none", "the rate does not change the comparison", solves)
            factor = float(factor + gap / step)
            if factor < 0.0:
                return Threshold(None, "none", "no non-negative rate makes the earlier signing better",
                                 solves)
        return Threshold(None, "none", f"no convergence in {MAX_STEPS} steps", solves)
