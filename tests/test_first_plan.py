"""The first plan (optimizer.solving.first_plan) handed to HiGHS as a MIP start.

Its promises: the plan is feasible for the MIP (checked here row by row against the model
HiGHS holds, not by asking the heuristic), it is worth no more than the proven optimum, it
is a function of the model alone, and when it cannot be found the solve falls back to the
do-nothing plan.
"""

from __future__ import annotations

from pathlib import Path

import highspy
import numpy as np
import pytest

from benchmarks.generate import TIGHT_CAP, Size, generate_instance
from capalloc.models import load_instance, validate_instance_data
from capalloc.optimizer.formulation import build_model
from capalloc.optimizer.solving.first_plan import find_first_plan
from capalloc.optimizer.solving.solve import HighsSession, SolveSettings, starting_plan

ROOT = Path(__file__).resolve().parents[1]


def session_of(instance) -> HighsSession:
    return HighsSession(build_model(instance))


def assert_mip_feasible(lp: highspy.HighsLp, x: np.ndarray, tol: float = 1e-6) -> None:
    """Every bound, every row and every integrality of ``lp`` holds at ``x``."""
    lower, upper = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    assert np.all(x >= lower - tol) and np.all(x <= upper + tol)
    integer = np.asarray([int(v) != 0 for v in lp.integrality_])
    assert np.all(np.abs(x[integer] - np.round(x[integer])) <= tol)
    starts = np.asarray(lp.a_matrix_.start_)
    rows = np.asarray(lp.a_matrix_.index_)
    values = np.asarray(lp.a_matrix_.value_)
    activity = np.zeros(lp.num_row_)
    if lp.a_matrix_.format_ == highspy.MatrixFormat.kRowwise:  # Pyomo hands rows over
        for row in range(lp.num_row_):
            span = slice(starts[row], starts[row + 1])
            activity[row] = np.dot(values[span], x[rows[span]])
    else:
        for column in range(lp.num_col_):
            span = slice(starts[column], starts[column + 1])
            activity[rows[span]] += values[span] * x[column]
    scale = 1.0 + np.abs(activity)
    assert np.all(activity >= np.asarray(lp.row_lower_) - tol * scale)
    assert np.all(activity <= np.asarray(lp.row_upper_) + tol * scale)


def objective_at(lp: highspy.HighsLp, x: np.ndarray) -> float:
    return float(np.dot(np.asarray(lp.col_cost_), x) + lp.offset_)


def proven_optimum(session: HighsSession) -> float:
    """The MIP solved to a zero gap without any start."""
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.passModel(session.highs.getLp())
    highs.setOptionValue("mip_rel_gap", 0.0)
    highs.setOptionValue("threads", 1)
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(highs.getInfo().objective_function_value)


@pytest.fixture(scope="module")
def small_generated():
    """3 sites x 48 months with cash, a signing cap and phase order all in play."""
    return validate_instance_data(generate_instance(
        Size("test", 3, 48, 2.0, 2, 1, 4, signing_cap_ratio=TIGHT_CAP)))


def test_first_plan_is_feasible_and_no_better_than_the_optimum(small_generated) -> None:
    session = session_of(small_generated)
    lp = session.highs.getLp()
    found = find_first_plan(lp, session.phase_columns(), 1, dive_budget=200, improve_budget=200)
    assert found is not None
    x, value = np.asarray(found.solution.col_value), found.value
    assert_mip_feasible(lp, x)
    # The value reported is the objective of that point (maximization: never above the optimum).
    assert objective_at(lp, x) == pytest.approx(value, rel=1e-9)
    assert value <= proven_optimum(session) + 1e-6
    # It signs something: the do-nothing plan would make this test vacuous.
    signed = [p for p in session.phase_columns() if x[p.columns[-1]] > 0.5]
    assert signed


def test_first_plan_finds_the_cleanspark_optimum() -> None:
    # The optimum (tests/golden/cleanspark_2026_fixed_fleet: NPV $2,096,647,621.47, proven by HiGHS at a
    # 0.1 % gap and re-audited) has the Texas phases signed in 2026-07/2027-01 and Georgia's in
    # 2032-03, 2033-05 and 2034-05; the LP dive alone signs Georgia later, and the improvement
    # moves are what bring ga1 and ga2 forward.
    session = session_of(load_instance(ROOT / "instances" / "cleanspark_2026_fixed_fleet.yaml"))
    found = find_first_plan(session.highs.getLp(), session.phase_columns(), 1,
                            dive_budget=200, improve_budget=200)
    assert found is not None
    assert found.value * 1e6 == pytest.approx(2_096_647_621.47, abs=1.0)


def test_first_plan_is_a_function_of_the_model(small_generated) -> None:
    first = session_of(small_generated)
    second = session_of(small_generated)
    a = find_first_plan(first.highs.getLp(), first.phase_columns(), 1, dive_budget=200, improve_budget=200)
    b = find_first_plan(second.highs.getLp(), second.phase_columns(), 1, dive_budget=200, improve_budget=200)
    assert a is not None and b is not None
    assert np.asarray(a.solution.col_value).tobytes() == np.asarray(b.solution.col_value).tobytes()


def test_a_dive_cut_short_signs_what_it_fixed_and_leaves_the_rest_unsigned(small_generated) -> None:
    """With LP solves for only part of the dive, the plan keeps the phases fixed so far and
    signs none of the others: still a MIP-feasible point, worth no more than the full dive's
    plan, and not the do-nothing plan (a start that signs nothing would make this vacuous)."""
    session = session_of(small_generated)
    lp = session.highs.getLp()
    phases = session.phase_columns()
    full = find_first_plan(lp, phases, 1, dive_budget=200, improve_budget=0)
    cut = find_first_plan(lp, phases, 1, dive_budget=2, improve_budget=0)
    assert full is not None and cut is not None and cut.value is not None
    x = np.asarray(cut.solution.col_value)
    assert_mip_feasible(lp, x)
    assert objective_at(lp, x) == pytest.approx(cut.value, rel=1e-9)
    signed = {key for key, month in cut.plan.items() if month is not None}
    unsigned = {key for key, month in cut.plan.items() if month is None}
    assert signed and unsigned  # cut short: some phases fixed, the others left out
    assert len(signed) < len([m for m in full.plan.values() if m is not None])
    assert cut.value <= full.value + 1e-9
    for phase in phases:  # what the plan says is what the point does
        assert (x[phase.columns[-1]] > 0.5) == (phase.key in signed)


def test_no_first_plan_falls_back_to_the_do_nothing_plan(small_generated, monkeypatch) -> None:
    from capalloc.optimizer.solving.first_plan import Diver

    session = session_of(small_generated)
    monkeypatch.setattr(Diver, "dive", lambda self, plan: None)  # as when the LP is infeasible
    settings = SolveSettings.from_instance(small_generated, threads=1)
    start = starting_plan(session.highs, session.phase_columns(), settings)
    assert start.source == "nothing signed" and start.solution is not None
    assert start.columns.size == 0  # nothing is narrowed without a first plan to beat
    x = np.asarray(start.solution.col_value)
    assert all(x[p.columns].max() == 0.0 for p in session.phase_columns())
    assert_mip_feasible(session.highs.getLp(), x)


def test_the_first_plan_keeps_halves_unless_highs_could_not_reach_its_root() -> None:
    from capalloc.optimizer.solving.solve import first_plan_share, remaining_time

    # 60 s limit, relaxation solved in 10 s: HiGHS would need ~3.5 x 10 = 35 s for its
    # presolve and root LP, more than the 30 s half it gets, so the search may use 90 % (54 s).
    assert first_plan_share(60.0, 10.0) == 0.9
    # 8 s: ~28 s fits in 30 s; at 70 s and 10 s (35 s needed, 35 s left) HiGHS keeps its half.
    assert first_plan_share(60.0, 8.0) == 0.5
    assert first_plan_share(70.0, 10.0) == 0.5
    assert first_plan_share(120.0, 0.23) == 0.5  # cleanspark's own limit and relaxation
    settings = SolveSettings(time_limit_seconds=60.0, mip_rel_gap=0.001, threads=1, random_seed=0)
    assert remaining_time(settings, 20.0, 0.5) == 40.0  # what is left of the limit
    assert remaining_time(settings, 50.0, 0.5) == 30.0  # never less than the other half
    assert remaining_time(settings, 58.0, 0.9) == pytest.approx(6.0)  # or the other tenth


def test_a_deadline_known_only_after_the_relaxation_is_kept(small_generated) -> None:
    """The search's deadline is decided from the relaxation's first solve: a rule that puts it
    in the past stops the dive right after that solve (the phases the relaxation signs
    integrally are kept, the others left unsigned), and the time the rule was given is the
    first solve's."""
    session = session_of(small_generated)
    seen: list[float] = []

    def already_passed(relaxation_seconds: float) -> float:
        seen.append(relaxation_seconds)
        return 0.0

    found = find_first_plan(session.highs.getLp(), session.phase_columns(), 1,
                            dive_budget=200, improve_budget=200, deadline=already_passed)
    assert found is not None and found.solution is not None
    # The relaxation, the LP with the open phases unsigned, the plan's final evaluation: no
    # rounding round and no improvement move ran.
    assert found.lp.solves == 3 and found.relaxation_bound is not None
    assert_mip_feasible(session.highs.getLp(), np.asarray(found.solution.col_value))
    assert seen and all(s == found.lp.relaxation_seconds > 0 for s in seen)
    assert found.deadline == 0.0
