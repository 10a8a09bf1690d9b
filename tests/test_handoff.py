"""The two hand-offs give HiGHS the same model, so a plain solve (direct) and a sweep point
(persistent) follow the same search: same columns in the same order, same rows, same
coefficients to the bit, and the same HiGHS run."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.generate import TIGHT_CAP, Size, generate_instance
from capalloc.models import load_instance, validate_instance_data
from capalloc.optimizer.formulation import build_model
from capalloc.optimizer.solving.handoff import DirectHandoff, PersistentHandoff
from capalloc.optimizer.solving.solve import SolveSettings


def columnwise(highs) -> dict[str, np.ndarray]:
    """HiGHS's copy of the model with the matrix as (column, row, value) sorted by column,
    then row: the form HiGHS solves, whichever way the rows arrived."""
    lp = highs.getLp()
    matrix = lp.a_matrix_
    start = np.asarray(matrix.start_)
    index = np.asarray(matrix.index_)
    outer = np.repeat(np.arange(len(start) - 1), np.diff(start))
    column_wise = matrix.format_ == type(matrix.format_).kColwise
    cols, rows = (outer, index) if column_wise else (index, outer)
    order = np.lexsort((rows, cols))
    return {
        "cols": cols[order], "rows": rows[order], "values": np.asarray(matrix.value_)[order],
        "cost": np.asarray(lp.col_cost_), "col_lower": np.asarray(lp.col_lower_),
        "col_upper": np.asarray(lp.col_upper_), "row_lower": np.asarray(lp.row_lower_),
        "row_upper": np.asarray(lp.row_upper_),
        "integrality": np.asarray([int(v) for v in lp.integrality_]),
        "offset_and_sense": np.asarray([lp.offset_, int(lp.sense_)]),
    }


def instances():
    fixed_fleet = "instances/cleanspark_2026_fixed_fleet.yaml"
    yield "cleanspark_2026_fixed_fleet", load_instance(fixed_fleet), False
    yield "cleanspark_2026_fixed_fleet parametric", load_instance(fixed_fleet), True
    generated = generate_instance(  # two scenarios
        Size("handoff", 3, 36, 2.0, 2, 2, seed=3, signing_cap_ratio=TIGHT_CAP))
    yield "generated 3 x 36, 2 scenarios", validate_instance_data(generated), False


@pytest.mark.parametrize(("label", "instance", "parametric"), list(instances()),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_direct_and_persistent_hand_offs_give_highs_the_same_model(label, instance, parametric):
    built = build_model(instance, parametric=parametric)
    persistent = PersistentHandoff(built.model)
    direct = DirectHandoff(built.model)

    assert len(direct.variables) == len(persistent.variables) > 0
    assert all(a is b for a, b in zip(direct.variables, persistent.variables, strict=True))
    assert all(a is b for a, b in zip(direct.constraints, persistent.constraints, strict=True))
    assert direct.column_of == persistent.column_of
    expected, got = columnwise(persistent.highs), columnwise(direct.highs)
    for name, values in expected.items():
        assert np.array_equal(values, got[name]), f"{label}: {name} differs"


def test_both_hand_offs_take_the_same_search_path_and_load_the_same_values():
    instance = validate_instance_data(generate_instance(
        Size("handoff", 2, 24, 1.5, 2, 1, seed=2, signing_cap_ratio=TIGHT_CAP)))
    options = SolveSettings.from_instance(instance).highs_option_values()
    reports = []
    for handoff_type in (PersistentHandoff, DirectHandoff):
        built = build_model(instance)
        handoff = handoff_type(built.model)
        outcome = handoff.solve(options)
        assert outcome.has_solution
        handoff.load_values()
        info = handoff.highs.getInfo()
        values = [v.value for v in handoff.variables]
        assert values == list(handoff.highs.getSolution().col_value)
        reports.append((outcome.termination, outcome.objective, outcome.bound,
                        info.simplex_iteration_count, info.mip_node_count, values))
    assert reports[0] == reports[1]


def test_progress_reports_come_from_highs_search_on_the_direct_hand_off():
    """The progress display is fed by HiGHS's MIP callback on the HiGHS that searches: each
    report's incumbent (a maximization) never exceeds its bound, incumbents only rise and
    bounds only fall, and none is better than the plan the run ends with."""
    from capalloc.optimizer.solving.solve import run_highs

    instance = load_instance("instances/cleanspark_2026_fixed_fleet.yaml")
    reports = []
    run = run_highs(build_model(instance), SolveSettings.from_instance(instance), progress=reports.append)
    assert run.optimal and reports
    seen = [r for r in reports if r.incumbent_usd is not None and r.bound_usd is not None]
    assert seen, "no report carried an incumbent and a bound"
    for earlier, later in zip(seen, seen[1:], strict=False):
        assert later.incumbent_usd >= earlier.incumbent_usd - 1e-6
        assert later.bound_usd <= earlier.bound_usd + 1e-6
        assert later.elapsed_seconds >= earlier.elapsed_seconds
    for report in seen:
        assert report.incumbent_usd <= report.bound_usd + 1e-6
        assert report.incumbent_usd <= run.objective_usd + 1e-3
