"""A first plan for the MIP search, found with the LP relaxation alone.

Why: HiGHS proves a 0.1 % gap quickly once it holds a plan close to the optimum (its
reduced-cost fixing prunes most signing months), but on cash-bound instances its own
heuristics need seconds of sub-MIPs to find one, and at 50 sites none in a minute. Here
the signing months are rounded one phase at a time, each rounding checked by re-solving the
LP with the signed phases' binaries fixed by bounds (warm-started dual simplex, a few
milliseconds each on the example instances):

1. dive: solve the LP; phases whose signing is already integral are fixed as they are;
   of the rest, the ones the LP signs earliest are fixed at the first month their
   "signed by" value reaches one half; if that breaks the LP, the earliest month at which
   the phase can be signed is found by bisection. A dive cut short by its budget leaves
   the phases still open unsigned.
2. improve: each signed phase in turn is moved to the earliest month the LP allows with the
   phases signed after it set free again, those are re-dived, and the move is kept if the
   plan is worth more.

Every step is a deterministic function of the model (no clocks): a budget of LP solves
bounds the work, so the same instance always gets the same first plan. The plan completed
by the final LP (mining, finance) is a feasible MIP solution: every rule is a row or a
bound of that LP and every binary is fixed at 0 or 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np

Key = tuple[str, str]

ROUNDING_THRESHOLD = 0.5
"""A phase rounds to the first month its LP 'signed by' value reaches this."""
PHASES_PER_ROUND_DIVISOR = 8
"""Each dive round fixes the earliest 1/8 of the phases still open (at least one)."""
INTEGRAL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class PhaseColumns:
    """Where a phase's 'signed by' binaries sit in HiGHS's columns (window order)."""

    key: Key
    after: Key | None  # the site's previous phase, signed no later than this one
    first: int  # the window's first month (model month index)
    columns: np.ndarray


Plan = dict[Key, int | None]
"""Signing month of each phase as an index into its window (None: not signed)."""


class SigningLp:
    """The model's LP relaxation with some phases' signing months fixed by bounds."""

    def __init__(self, lp: highspy.HighsLp, phases: list[PhaseColumns], threads: int):
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("threads", int(threads))  # HiGHS's pool is process-wide
        self.highs.passModel(lp)
        self.highs.setOptionValue("solve_relaxation", True)
        self.lower = np.asarray(lp.col_lower_, dtype=np.float64)
        self.upper = np.asarray(lp.col_upper_, dtype=np.float64)
        self.phases = {p.key: p for p in phases}
        self.solves = 0
        self.relaxation_bound: float | None = None
        self.relaxation_seconds: float | None = None  # how long the first, cold solve took

    def _bound(self, columns: np.ndarray, value: float) -> None:
        if columns.size:
            fill = np.full(columns.size, value)
            self.highs.changeColsBounds(int(columns.size), columns, fill, fill)

    def sign(self, key: Key, month: int | None) -> None:
        """Fix the phase as signed in window month ``month`` (None: never signed)."""
        columns = self.phases[key].columns
        if month is None:
            self._bound(columns, 0.0)
        else:
            self._bound(columns[:month], 0.0)
            self._bound(columns[month:], 1.0)

    def release(self, key: Key, earliest: int = 0) -> None:
        """Let the LP choose the phase's signing again, not before window month ``earliest``."""
        columns = self.phases[key].columns
        self.highs.changeColsBounds(int(columns.size), columns, self.lower[columns], self.upper[columns])
        self._bound(columns[:earliest], 0.0)

    def solve(self) -> bool:
        started = time.perf_counter()
        self.highs.run()
        self.solves += 1
        optimal = self.highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        if self.solves == 1:
            # The first solve has nothing fixed: the LP relaxation, a bound on every plan.
            # (Kept here because HiGHS re-solves an unchanged LP from scratch when run again.)
            self.relaxation_seconds = time.perf_counter() - started
            if optimal:
                self.relaxation_bound = self.objective
        return optimal

    def signed_by(self, key: Key) -> np.ndarray:
        values = np.asarray(self.highs.getSolution().col_value)
        return values[self.phases[key].columns]

    @property
    def objective(self) -> float:
        return float(self.highs.getInfo().objective_function_value)


class Budget:
    """LP solves a search may still use, and an optional wall-clock deadline.

    The solve count is what normally ends the search, so the plan found is a function of
    the model alone; the deadline only guards short time limits (runs that stop on a time
    limit depend on the machine's speed anyway)."""

    def __init__(self, solves: int, deadline: float | Callable[[], float | None] | None = None):
        self.solves = solves
        self.deadline = deadline  # a time, or a function giving it once it is known

    @property
    def exhausted(self) -> bool:
        deadline = self.deadline() if callable(self.deadline) else self.deadline
        return self.solves <= 0 or (deadline is not None and time.perf_counter() > deadline)


def _rounded(values: np.ndarray) -> int | None:
    signed = np.flatnonzero(values >= ROUNDING_THRESHOLD)
    return int(signed[0]) if signed.size else None


def _integral(values: np.ndarray) -> bool:
    return bool(np.all((values < INTEGRAL_TOLERANCE) | (values > 1.0 - INTEGRAL_TOLERANCE)))


class Diver:
    """Rounds the open phases of a plan, keeping the LP feasible after every rounding."""

    def __init__(self, lp: SigningLp, budget: Budget):
        self.lp = lp
        self.budget = budget

    def solve(self) -> bool:
        self.budget.solves -= 1
        return self.lp.solve()

    def _ready(self, plan: Plan, key: Key) -> bool:
        after = self.lp.phases[key].after
        return key not in plan and (after is None or after in plan)

    def dive(self, plan: Plan) -> Plan | None:
        """Complete ``plan`` (its phases already fixed in the LP), or None when the LP
        cannot be kept feasible. When the budget runs out first, the phases still open are
        left unsigned: a plan that signs only what the dive had fixed by then."""
        plan = dict(plan)
        if not self.solve():
            return None
        while True:
            open_phases = self._fix_integral(plan)
            if not open_phases:
                return plan
            if self.budget.exhausted:
                return self._leave_open_phases_unsigned(plan)
            # Earliest first: a phase signed early shapes the cash every later one sees.
            open_phases.sort(key=lambda item: (item[1] is None, item[1] or 0))
            batch = open_phases[: max(1, math.ceil(len(open_phases) / PHASES_PER_ROUND_DIVISOR))]
            for key, month in batch:
                self.lp.sign(key, month)
            if self.solve():
                plan.update(batch)
                continue
            for key, _ in batch:
                self.lp.release(key)
            key, month = batch[0]
            earliest = self._earliest_feasible(key, month)
            if earliest is False:
                return None
            plan[key] = earliest
            self.lp.sign(key, earliest)
            if not self.solve():
                return None

    def _leave_open_phases_unsigned(self, plan: Plan) -> Plan | None:
        """The plan with every phase not fixed yet left unsigned (one more LP), or None if
        that LP is infeasible. Why: a dive cut short by a short time limit used to leave
        HiGHS the plan that signs nothing; at 50 sites x 120 months and 10 s that was the
        whole answer."""
        rest = [key for key in self.lp.phases if key not in plan]
        for key in rest:
            self.lp.sign(key, None)
        if not self.solve():
            return None
        plan.update(dict.fromkeys(rest))
        return plan

    def _fix_integral(self, plan: Plan) -> list[tuple[Key, int | None]]:
        """Fix every ready phase the LP already signs integrally; return the others' roundings."""
        rounded: list[tuple[Key, int | None]] = []
        progressed = True
        while progressed:
            progressed = False
            rounded = []
            for key in self.lp.phases:
                if not self._ready(plan, key):
                    continue
                values = self.lp.signed_by(key)
                if _integral(values):
                    plan[key] = _rounded(values)
                    self.lp.sign(key, plan[key])
                    progressed = True
                else:
                    rounded.append((key, _rounded(values)))
        return rounded

    def _earliest_feasible(self, key: Key, infeasible: int | None) -> int | None | bool:
        """The first window month after ``infeasible`` at which the LP can sign the phase
        (None if only leaving it unsigned works, False if nothing does)."""
        window = len(self.lp.phases[key].columns)
        self.lp.sign(key, None)
        if not self.solve():
            return False
        return self.earliest_between(key, 0 if infeasible is None else infeasible + 1, window)

    def earliest_between(self, key: Key, low: int, high: int) -> int | None:
        """Bisection for the earliest window month in [low, high) at which the LP can sign
        the phase, else None (the LP is feasible at ``high`` or with the phase unsigned)."""
        found = None
        while low < high and not self.budget.exhausted:
            middle = (low + high) // 2
            self.lp.sign(key, middle)
            if self.solve():
                found, high = middle, middle
            else:
                low = middle + 1
        return found


def _value(lp: SigningLp, plan: Plan) -> float | None:
    for key, month in plan.items():
        lp.sign(key, month)
    return lp.objective if lp.solve() else None


def improve(lp: SigningLp, plan: Plan, budget: Budget) -> Plan:
    """Move each signed phase to the earliest month the LP allows once the phases signed
    after it make way, re-dive those, and keep the move when the plan is worth more."""
    if budget.exhausted:
        return plan
    best = _value(lp, plan)
    budget.solves -= 1
    if best is None:
        return plan
    for key in sorted((k for k, m in plan.items() if m is not None), key=lambda k: (plan[k], k)):
        if budget.exhausted:
            break
        current = plan[key]
        if current is None:
            continue
        later = [k for k, m in plan.items() if k != key and (m is None or m > current)]
        for other in later:
            lp.release(other)
        diver = Diver(lp, budget)
        month = diver.earliest_between(key, _earliest_after_predecessor(lp, plan, key), current)
        candidate = None
        if month is not None:
            lp.sign(key, month)
            kept = {k: m for k, m in plan.items() if k not in later}
            kept[key] = month
            candidate = diver.dive(kept)
        value = _value(lp, candidate) if candidate is not None else None
        budget.solves -= 1
        if value is not None and value > best + 1e-9 * max(1.0, abs(best)):
            plan, best = candidate, value
        else:
            _value(lp, plan)
            budget.solves -= 1
    return plan


def _earliest_after_predecessor(lp: SigningLp, plan: Plan, key: Key) -> int:
    """The first window month of ``key`` not before its site's previous phase's signing."""
    after = lp.phases[key].after
    if after is None or plan.get(after) is None:
        return 0
    signed = lp.phases[after].first + plan[after]
    return max(0, signed - lp.phases[key].first)


@dataclass
class FirstPlan:
    """What the search found: a plan as a MIP solution (every column) with its objective
    (None when the dive failed), the LP relaxation's optimum (a bound on every plan), and
    the LP that searched (optimizer.solving.narrowing probes the same warm LP)."""

    solution: highspy.HighsSolution | None
    value: float | None
    plan: Plan | None
    relaxation_bound: float | None
    lp: SigningLp
    deadline: float | None = None  # the one the search kept to (the narrowing keeps to it too)


def find_first_plan(lp: highspy.HighsLp, phases: list[PhaseColumns], threads: int, *,
                    dive_budget: int, improve_budget: int,
                    deadline: Callable[[float], float] | None = None) -> FirstPlan | None:
    """The first plan, or None when the model has no phase to sign. ``deadline`` turns the
    relaxation's first solve time into the time the search must stop by."""
    if not phases:
        return None
    signing = SigningLp(lp, phases, threads)

    def stop_by() -> float | None:
        seconds = signing.relaxation_seconds
        return None if deadline is None or seconds is None else deadline(seconds)

    plan = Diver(signing, Budget(dive_budget, stop_by)).dive({})
    bound = signing.relaxation_bound
    value = None
    if plan is not None:
        plan = improve(signing, plan, Budget(improve_budget, stop_by))
        value = _value(signing, plan)
    if value is None:
        return FirstPlan(None, None, None, bound, signing, stop_by())
    return FirstPlan(signing.highs.getSolution(), value, plan, bound, signing, stop_by())
