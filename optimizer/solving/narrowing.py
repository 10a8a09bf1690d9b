"""Signing months ruled out by the first plan: by when every better plan has signed a phase.

Why: with its optimum handed in as the MIP start, HiGHS still spent most of its time on
cleanspark proving the last 1 % of the gap, with root cut rounds and a RENS sub-MIP over
every signing month of every phase. For a phase the first plan signs, an LP per probed
month shows by when any plan worth more must have signed it too (optimality-based bound
tightening, done once before the search):

- z[p, j] = 0 ("p is not yet signed at the end of window month j") allows a set of plans
  that only shrinks as j moves later (not signed by j implies not signed by any earlier
  month), so the LP bound with z[p, j] fixed to 0 can only fall as j grows. Once it is
  below the first plan's value, every better plan has signed p by month j: z[p, j..] = 1.

Bisection finds the boundary with a few LPs per phase, each warm-started from the last.
Probes never reach back to the first plan's own signing month, so the first plan satisfies
every bound set here and stays the MIP start; every plan cut away is worth less than it, so
the narrowed model has the same optimum, and the bound HiGHS proves on it is a bound for
the instance. The work is counted in LP solves (the first plan's Budget), so the narrowing
is a function of the model; only a short time limit's deadline can cut it short.

The mirror image (z[p, i] = 1 worse for early months i: "not signed before") was measured
and dropped: on cleanspark it ruled out 343 more columns for 32 more LPs and HiGHS did not
get faster (its own reduced-cost fixing finds those), so the total rose from 3.4 to 4.3 s
of CPU; at 5 x 120 and 5 x 180 it cost 0.3-0.6 s more than it saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np

from capalloc.optimizer.solving.first_plan import Budget, Key, Plan, SigningLp

CUTOFF_TOLERANCE = 1e-6
"""A probe rules a month out only when its LP bound is below the first plan's value by more
than this share of it ($2,000 on a $2 billion plan): LP tolerances cannot flip a verdict."""


@dataclass
class Narrowing:
    """By when each phase is signed in every plan better than the first plan."""

    signed_by: dict[Key, int] = field(default_factory=dict)
    """The phase is signed by this window month (z = 1 from it on)."""
    probes: int = 0
    seconds: float = 0.0

    def column_bounds(self, phases: dict[Key, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(columns, lower, upper) to set on the MIP: the 'signed by' binaries fixed to 1."""
        columns = [phases[key][month:] for key, month in self.signed_by.items()]
        if not columns:
            return np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros(0)
        forced = np.concatenate(columns).astype(np.int32)
        return forced, np.ones(forced.size), np.ones(forced.size)


class Prober:
    """LP bounds of the relaxation with one 'signed by' binary fixed, against a cutoff."""

    def __init__(self, lp: SigningLp, cutoff: float, budget: Budget):
        self.lp = lp
        self.cutoff = cutoff
        self.budget = budget
        self.probes = 0

    def worse(self, column: int, fixed: float) -> bool | None:
        """Whether every plan with the binary at ``fixed`` is worth less than the cutoff;
        None once the budget is spent (nothing may be concluded then)."""
        if self.budget.exhausted:
            return None
        self.budget.solves -= 1
        self.probes += 1
        highs = self.lp.highs
        highs.changeColBounds(int(column), fixed, fixed)
        highs.run()
        # Read the verdict before the bound is put back: changing the model resets HiGHS's
        # status and info (the objective would read 0).
        status = highs.getModelStatus()
        bound = float(highs.getInfo().objective_function_value)
        highs.changeColBounds(int(column), float(self.lp.lower[column]), float(self.lp.upper[column]))
        if status == highspy.HighsModelStatus.kInfeasible:
            return True
        if status != highspy.HighsModelStatus.kOptimal:
            return False  # an LP HiGHS could not settle proves nothing
        return bound < self.cutoff


RESOLUTION_MONTHS = 4
"""Bisections stop once the boundary is known to within this many months: the last two
halvings would cost a quarter of the probes for a few columns."""


def _latest_forced(prober: Prober, columns: np.ndarray, low: int, high: int) -> int | None:
    """The earliest window month j in (low, high] with z[j] = 0 worse than the cutoff, given
    that z[low] = 0 is not (low = -1: nothing known) and that the answer is monotone; None
    if z[high] = 0 is not worse either (or the budget ran out before anything was proven)."""
    if high <= low or not prober.worse(columns[high], 0.0):
        return None
    while high - low > RESOLUTION_MONTHS:
        middle = (low + high) // 2
        verdict = prober.worse(columns[middle], 0.0)
        if verdict is None:
            break
        if verdict:
            high = middle
        else:
            low = middle
    return high


def narrow_windows(lp: SigningLp, plan: Plan, value: float, budget: Budget) -> Narrowing:
    """By when each phase must be signed in any plan worth more than ``plan`` (of objective
    ``value``)."""
    narrowing = Narrowing()
    for key in lp.phases:
        lp.release(key)
    if budget.exhausted or not lp.solve():
        return narrowing
    budget.solves -= 1
    prober = Prober(lp, value - CUTOFF_TOLERANCE * max(1.0, abs(value)), budget)
    for key, phase in lp.phases.items():
        month = plan.get(key)
        if month is None:
            continue  # the first plan never signs it: no better plan has to
        # Neither the first plan (unsigned before its month) nor the relaxation (where its
        # z is 0) has a bound below the first plan's value: the boundary lies later.
        zero = np.flatnonzero(lp.signed_by(key) < 1e-9)
        known = max(month - 1, int(zero[-1]) if zero.size else -1)
        forced = _latest_forced(prober, phase.columns, known, phase.columns.size - 1)
        if forced is not None:
            narrowing.signed_by[key] = forced
    narrowing.probes = prober.probes
    return narrowing
