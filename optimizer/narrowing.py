"""Signing months ruled out by the first plan: where no better plan can sign a phase.

Why: with its optimum handed in as the MIP start, HiGHS still spends most of its time on
cleanspark proving the last 1 % of the gap, with root cut rounds and a RENS sub-MIP over
every signing month of every phase. Most of those months cannot be part of any plan worth
more than the first plan, and an LP per probed month shows which (optimality-based bound
tightening, done once before the search):

- z[p, i] = 1 ("p is signed by window month i") allows a set of plans that only shrinks as
  i moves earlier (signed by an earlier month implies signed by i), so the LP bound with
  z[p, i] fixed to 1 can only fall as i falls. Once it is below the first plan's value, no
  plan that signs p by month i or earlier is worth more: z[p, 0..i] = 0.
- z[p, j] = 0 ("p is not yet signed at j") likewise allows fewer plans as j moves later.
  Once its LP bound is below the first plan's value, every better plan has signed p by
  month j: z[p, j..] = 1.

Bisection finds each boundary with a few LPs per phase, each warm-started from the last.
Probes never reach the first plan's own signing months, so the first plan satisfies every
bound set here and stays the MIP start; every plan cut away is worth less than it, so the
narrowed model has the same optimum, and the bound HiGHS proves on it is a bound for the
instance. The work is counted in LP solves (the first plan's Budget), so the narrowing is a
function of the model; only a short time limit's deadline can cut it short.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np

from optimizer.first_plan import Budget, Key, Plan, SigningLp

CUTOFF_TOLERANCE = 1e-6
"""A probe rules a month out only when its LP bound is below the first plan's value by more
than this share of it ($2,000 on a $2 billion plan): LP tolerances cannot flip a verdict."""


@dataclass
class Narrowing:
    """Window months ruled out per phase, as counts from the window's ends."""

    never_before: dict[Key, int] = field(default_factory=dict)
    """The phase is not signed in its first ``n`` window months (z = 0 there)."""
    signed_by: dict[Key, int] = field(default_factory=dict)
    """The phase is signed by this window month (z = 1 from it on)."""
    probes: int = 0
    seconds: float = 0.0

    @property
    def months_ruled_out(self) -> int:
        return sum(self.never_before.values())

    def column_bounds(self, phases: dict[Key, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(columns, lower, upper) to set on the MIP: the narrowed 'signed by' binaries."""
        columns, lower, upper = [], [], []
        for key, count in self.never_before.items():
            columns.append(phases[key][:count])
            lower.append(np.zeros(count))
            upper.append(np.zeros(count))
        for key, month in self.signed_by.items():
            forced = phases[key][month:]
            columns.append(forced)
            lower.append(np.ones(forced.size))
            upper.append(np.ones(forced.size))
        if not columns:
            return np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros(0)
        return (np.concatenate(columns).astype(np.int32), np.concatenate(lower),
                np.concatenate(upper))


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
halvings would cost a quarter of the probes for a few columns (cleanspark: 68 probes
bound 738 columns; to the month, 91 probes bound 753)."""


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


def _earliest_allowed(prober: Prober, columns: np.ndarray, high: int) -> int:
    """How many of the first window months have z = 1 worse than the cutoff, given that
    z[high] = 1 is not; 0 if z[0] = 1 is not worse (or nothing could be proven)."""
    if high <= 0 or not prober.worse(columns[0], 1.0):
        return 0
    low = 0  # z[low] = 1 is worse; z[high] = 1 is not
    while high - low > RESOLUTION_MONTHS:
        middle = (low + high) // 2
        verdict = prober.worse(columns[middle], 1.0)
        if verdict is None:
            break
        if verdict:
            low = middle
        else:
            high = middle
    return low + 1


def narrow_windows(lp: SigningLp, plan: Plan, value: float, budget: Budget) -> Narrowing:
    """The signing months no plan worth more than ``plan`` (of objective ``value``) uses.

    Forced signings are probed first for every phase, then the months too early to sign:
    on cleanspark the forced ones shorten HiGHS's search the most per probe.
    """
    narrowing = Narrowing()
    for key in lp.phases:
        lp.release(key)
    if budget.exhausted or not lp.solve():
        return narrowing
    budget.solves -= 1
    relaxed = {key: lp.signed_by(key) for key in lp.phases}
    prober = Prober(lp, value - CUTOFF_TOLERANCE * max(1.0, abs(value)), budget)
    for key, phase in lp.phases.items():
        month = plan.get(key)
        if month is None:
            continue  # the first plan never signs it: no better plan has to
        # The first plan is not signed before its month, nor is the LP where its z is 0.
        zero = np.flatnonzero(relaxed[key] < 1e-9)
        known = max(month - 1, int(zero[-1]) if zero.size else -1)
        forced = _latest_forced(prober, phase.columns, known, phase.columns.size - 1)
        if forced is not None:
            narrowing.signed_by[key] = forced
    for key, phase in lp.phases.items():
        month = plan.get(key)
        # Neither the first plan nor the LP relaxation's fully signed months can be ruled out.
        full = np.flatnonzero(relaxed[key] > 1.0 - 1e-9)
        high = min(phase.columns.size if month is None else month,
                   int(full[0]) if full.size else phase.columns.size)
        count = _earliest_allowed(prober, phase.columns, high)
        if count:
            narrowing.never_before[key] = count
    narrowing.probes = prober.probes
    return narrowing
