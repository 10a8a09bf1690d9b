"""Signings forced by the first plan (optimizer.solving.narrowing): by when every better plan signs.

Its promises, each checked here without asking the code under test: no plan worth at least
the first plan is cut away (by brute force over every plan of two-phase instances, and
against the proven optimum of a larger one), every forced month really has an LP bound
below the first plan's value (re-solved in a fresh HiGHS), the boundary found is the
boundary (a few months earlier nothing is forced), and the narrowed model has the same
optimum.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import highspy
import numpy as np
import pytest

from benchmarks.generate import TIGHT_CAP, Size, generate_instance
from capalloc.models import load_instance, validate_instance_data
from capalloc.optimizer.formulation import build_model
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.solving.narrowing import CUTOFF_TOLERANCE, RESOLUTION_MONTHS
from capalloc.optimizer.solving.solve import HighsSession, SolveSettings, Start, starting_plan

ROOT = Path(__file__).resolve().parents[1]


def narrowed(instance) -> tuple[HighsSession, Start]:
    session = HighsSession(build_model(instance))
    start = starting_plan(session.highs, session.phase_columns(),
                          SolveSettings.from_instance(instance, threads=1))
    assert start.source == "lp dive"
    return session, start


def fresh(lp: highspy.HighsLp, relaxation: bool) -> highspy.Highs:
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.passModel(lp)
    highs.setOptionValue("solve_relaxation", relaxation)
    return highs


def lp_bound(lp: highspy.HighsLp, column: int, fixed: float) -> float:
    """The LP relaxation's optimum with one binary fixed (-inf when infeasible)."""
    highs = fresh(lp, relaxation=True)
    highs.changeColBounds(int(column), fixed, fixed)
    highs.run()
    if highs.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
        return -np.inf
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(highs.getInfo().objective_function_value)


def start_value(lp: highspy.HighsLp, start: Start) -> float:
    return float(np.dot(lp.col_cost_, start.solution.col_value) + lp.offset_)


def satisfies(start: Start, x: np.ndarray, tol: float = 1e-6) -> bool:
    values = x[start.columns]
    return bool(np.all(values >= start.lower - tol) and np.all(values <= start.upper + tol))


def two_phase_instance(months: int, seed: int):
    return validate_instance_data(generate_instance(
        Size("narrow", 2, months, 1.0, 1, 1, seed, signing_cap_ratio=TIGHT_CAP)))


@pytest.fixture(scope="module")
def two_phases():
    """2 sites x 36 months, one phase each (windows of 20 months): the first plan is the
    best plan and rules months out on both sides."""
    return two_phase_instance(36, 3)


@pytest.mark.parametrize(("months", "seed", "first_plan_is_best"), [(36, 3, True), (42, 1, False)])
def test_no_plan_worth_the_first_plan_is_cut_away(months: int, seed: int, first_plan_is_best: bool) -> None:
    # (36, 3): the narrowing removes feasible plans. (42, 1): the first plan is not the
    # best plan (short by about $0.5M), so better plans exist and must survive.
    instance = two_phase_instance(months, seed)
    session, start = narrowed(instance)
    assert start.columns.size > 0
    lp = session.highs.getLp()
    value = start_value(lp, start)
    phases = session.phase_columns()
    # Every plan: each phase signed in one window month, or never (z fixed by bounds), its
    # mining and finance completed by the LP (several hundred plans each).
    probe = fresh(lp, relaxation=True)
    columns = np.concatenate([p.columns for p in phases])
    kept = cut = better = 0
    for months_signed in itertools.product(*[[None, *range(p.columns.size)] for p in phases]):
        z = np.concatenate([np.zeros(p.columns.size) if m is None else
                            (np.arange(p.columns.size) >= m).astype(float)
                            for p, m in zip(phases, months_signed, strict=True)])
        probe.changeColsBounds(int(columns.size), columns, z, z)
        probe.run()
        if probe.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            continue  # no feasible completion (cash floor): not a plan
        worth = float(probe.getInfo().objective_function_value)
        if satisfies(start, np.asarray(probe.getSolution().col_value)):
            kept += 1
            better += worth > value * (1 + 1e-6)
        else:
            cut += 1
            assert worth < value, f"plan {months_signed} worth {worth} >= {value} is cut away"
    assert kept >= 1
    if first_plan_is_best:
        assert cut >= 1 and better == 0  # real plans were removed, none better than the first
    else:
        assert better >= 1


def rulings(session: HighsSession, start: Start):
    """(forced column, column RESOLUTION_MONTHS earlier or None) for every boundary found:
    the bisection stops within RESOLUTION_MONTHS of the last month it could not force."""
    phases = {p.key: p.columns for p in session.phase_columns()}
    for key, month in start.narrowing.signed_by.items():
        columns = phases[key]
        earlier = month - RESOLUTION_MONTHS
        yield columns[month], (columns[earlier] if earlier >= 0 else None)


def test_every_forced_month_has_an_lp_bound_below_the_first_plan() -> None:
    # cleanspark: the first plan is the optimum ($2,096.65M), signing the four Texas phases
    # in 2026 and Georgia's three from 2032; not signing any of them by a few months later
    # caps the LP below that value.
    instance = load_instance(ROOT / "instances" / "cleanspark_2026_fixed_fleet.yaml")
    session, start = narrowed(instance)
    lp = session.highs.getLp()
    value = start_value(lp, start)
    texas = {("austin_county", "aus1"), ("austin_county", "aus2"), ("brazoria", "bra1"),
             ("brazoria", "bra2")}
    assert texas <= set(start.narrowing.signed_by)
    for column, earlier in rulings(session, start):
        assert lp_bound(lp, column, 0.0) < value  # not signed by then: worth less
        if earlier is not None:  # the boundary is where the bisection says it is
            assert lp_bound(lp, earlier, 0.0) >= value * (1 - CUTOFF_TOLERANCE)


def test_the_narrowed_model_has_the_same_optimum() -> None:
    instance = validate_instance_data(generate_instance(
        Size("test", 3, 48, 2.0, 2, 1, 4, signing_cap_ratio=TIGHT_CAP)))
    session, start = narrowed(instance)
    lp = session.highs.getLp()
    assert start.columns.size > 0

    def optimum(narrow: bool) -> tuple[float, np.ndarray]:
        highs = fresh(lp, relaxation=False)
        highs.setOptionValue("mip_rel_gap", 0.0)
        if narrow:
            start.narrow(highs)
        highs.run()
        assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
        return float(highs.getInfo().objective_function_value), np.asarray(highs.getSolution().col_value)

    full, x = optimum(narrow=False)
    restricted, _ = optimum(narrow=True)
    assert restricted == pytest.approx(full, rel=1e-9, abs=1e-6)
    assert satisfies(start, x)  # the optimum of the full model lies inside the narrowed one


def test_the_session_puts_the_bounds_back(two_phases) -> None:
    session = HighsSession(build_model(two_phases))
    before = session.highs.getLp()
    run = session.run(SolveSettings.from_instance(two_phases, threads=1))
    after = session.highs.getLp()
    assert run.timings["narrowing"] >= 0.0 and run.has_solution
    assert np.array_equal(before.col_lower_, after.col_lower_)
    assert np.array_equal(before.col_upper_, after.col_upper_)


def test_the_bound_reported_holds_for_the_instance() -> None:
    # Objectives are maximized; the instance's bound is the smaller of HiGHS's and the LP
    # relaxation's. HiGHS's bound on a narrowed model is raised to the first plan's value
    # when it is lower: the plans cut away are all worth less than the first plan.
    narrowed_start = Start(None, "lp dive", relaxation_bound=110.0, first_plan_value=100.0,
                           columns=np.array([3], dtype=np.int32), lower=np.zeros(1), upper=np.zeros(1))
    assert narrowed_start.instance_bound(104.0) == 104.0  # HiGHS's bound is the tighter one
    assert narrowed_start.instance_bound(float("inf")) == 110.0  # no bound from HiGHS
    assert narrowed_start.instance_bound(None) == 110.0
    assert narrowed_start.instance_bound(97.0) == 100.0  # below the first plan: cannot hold
    plain = Start(None, "nothing signed", relaxation_bound=None)
    assert plain.instance_bound(float("inf")) is None
    assert plain.instance_bound(97.0) == 97.0


def test_a_solve_reports_a_bound_between_its_plan_and_the_relaxation(two_phases) -> None:
    session = HighsSession(build_model(two_phases))
    relaxation = fresh(session.highs.getLp(), relaxation=True)
    relaxation.run()
    run = session.run(SolveSettings.from_instance(two_phases, threads=1))
    lp_bound_usd = relaxation.getInfo().objective_function_value * USD_PER_MODEL_UNIT
    assert run.objective_usd <= run.bound_usd <= lp_bound_usd * (1 + 1e-9)


def test_the_narrowing_is_a_function_of_the_model() -> None:
    instance = validate_instance_data(generate_instance(
        Size("test", 3, 48, 2.0, 2, 1, 4, signing_cap_ratio=TIGHT_CAP)))
    _, first = narrowed(instance)
    _, second = narrowed(instance)
    assert first.narrowing.signed_by and first.narrowing.signed_by == second.narrowing.signed_by
    assert first.columns.tobytes() == second.columns.tobytes()
