"""The stress sweep design: a committed plan across a grid of shocks, each point as
`capalloc evaluate` would run it. Expected rows come from the hand arithmetic of
tests/test_evaluate.py's instance, and NPVs from solving each committed point on its own."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from capalloc.models import validate_instance_data
from capalloc.models.sweep import SweepSpecError, validate_sweep_data
from capalloc.optimizer.analysis.evaluate import plan_commitments
from capalloc.optimizer.checks.testing import solve_for_test
from capalloc.optimizer.cli import app
from capalloc.optimizer.outputs.plan_io import open_plan_dir
from capalloc.optimizer.sweep.runner import run_sweep
from capalloc.optimizer.sweep.worker import TIMING_COLUMNS
from tests.test_evaluate import hand

LEAD = "sites[a].ai_phases[*].lead_time_months"
CASH = "finance.starting_cash_usd"


@pytest.fixture(scope="module")
def stress_folder(tmp_path_factory) -> Path:
    """The hand instance solved (p1 signed 2026-01) and a stress spec over it: lead times
    shifted by 0, 1, 2 months x starting cash of $100M or $103M."""
    folder = tmp_path_factory.mktemp("stress")
    (folder / "base.yaml").write_text(yaml.safe_dump(hand()))
    solved = CliRunner().invoke(app, ["solve", str(folder / "base.yaml"), "-o", str(folder / "plan"), "-q"])
    assert solved.exit_code == 0, solved.output
    spec = {"base": "base.yaml", "design": "stress", "plan": "plan", "parameters": [
        {"name": "slip", "path": LEAD, "shifts": [0, 1, 2]},
        {"name": "cash", "path": CASH, "values": [100e6, 103e6]}]}
    (folder / "stress.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def rows_of(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))


def test_each_point_gives_the_hand_derived_shortfall_cure_and_floor(stress_folder):
    """Month-end cash with p1 signed in 2026-01 (tests/test_evaluate.py): 10, 10 after the
    $90M capex, the $7M bullet at the end of 2026-03, rent of 3 a month from t = lead.
      lead 2: 10, 10, 6, 9, ...      lowest 6: holds the $5M floor, highest floor 6
      lead 3: 10, 10, 3, 6, ...      2026-03 short by 2; cure +2; highest floor 3
      lead 4: 10, 10, 3, 3, 6, ...   2026-03 and 2026-04 short by 2; cure +2; highest floor 3
    $3M more starting cash adds 3 to every month: 9 / 6 / 6, all holding the floor."""
    run = run_sweep(stress_folder / "stress.yaml", stress_folder / "out1", progress=False, charts=True)
    assert run.counts == {"optimal": 4, "infeasible": 2}
    got = {(int(float(r["param.slip"])), float(r["param.cash"])): r for r in rows_of(stress_folder / "out1")}
    expected = {  # (status, short months, worst shortfall, extra cash, highest floor), $M
        (0, 100e6): ("optimal", 0, None, 0.0, 6.0), (1, 100e6): ("infeasible", 1, 2.0, 2.0, 3.0),
        (2, 100e6): ("infeasible", 2, 2.0, 2.0, 3.0), (0, 103e6): ("optimal", 0, None, 0.0, 9.0),
        (1, 103e6): ("optimal", 0, None, 0.0, 6.0), (2, 103e6): ("optimal", 0, None, 0.0, 6.0),
    }
    for key, (status, months, worst, cash, floor) in expected.items():
        row = got[key]
        assert row["status"] == status, key
        assert int(row["short_months"]) == months, key
        if worst is None:
            assert row["worst_shortfall_usd"] == "", key
        else:
            assert float(row["worst_shortfall_usd"]) == pytest.approx(worst * 1e6, abs=1.0), key
            assert row["first_short_month"] == "2026-03"
        assert float(row["extra_starting_cash_usd"]) == pytest.approx(cash * 1e6, abs=1.0), key
        assert float(row["highest_floor_usd"]) == pytest.approx(floor * 1e6, abs=1.0), key
    assert (stress_folder / "out1" / "heatmap_highest_floor.csv").is_file()


def test_a_feasible_point_has_the_npv_of_its_committed_instance_solved_alone(stress_folder):
    opened = open_plan_dir(stress_folder / "plan")
    data = hand(lead=3, starting_cash_usd=103e6)
    data["commitments"] = plan_commitments(opened.plan).model_dump(mode="json")
    alone = solve_for_test(validate_instance_data(data))
    if not (stress_folder / "out1").exists():
        run_sweep(stress_folder / "stress.yaml", stress_folder / "out1", progress=False, charts=False)
    row = next(r for r in rows_of(stress_folder / "out1")
               if float(r["param.slip"]) == 1 and float(r["param.cash"]) == 103e6)
    assert float(row["npv_usd"]) == pytest.approx(alone.npv_usd, abs=1.0)


def test_rows_are_byte_identical_with_one_or_two_workers(stress_folder):
    run_sweep(stress_folder / "stress.yaml", stress_folder / "w1", progress=False, charts=False)
    run_sweep(stress_folder / "stress.yaml", stress_folder / "w2", workers=2, progress=False, charts=False)

    def without_timings(out: Path) -> str:
        rows = rows_of(out)
        columns = [c for c in rows[0] if c not in TIMING_COLUMNS]
        return "\n".join(",".join(r[c] for c in columns) for r in rows)

    assert without_timings(stress_folder / "w1") == without_timings(stress_folder / "w2")


def test_a_stress_spec_needs_a_plan_and_only_a_stress_spec_takes_one():
    with pytest.raises(SweepSpecError, match="needs plan"):
        validate_sweep_data({"base": "x.yaml", "design": "stress",
                             "parameters": [{"path": CASH, "values": [1.0]}]})
    with pytest.raises(SweepSpecError, match="only used by a stress design"):
        validate_sweep_data({"base": "x.yaml", "design": "grid", "plan": "p",
                             "parameters": [{"path": CASH, "values": [1.0]}]})


def test_a_shock_that_makes_the_plans_decision_impossible_is_refused_before_any_solve(stress_folder):
    # Shifting the lead time by 10 months (to 12) leaves p1 no signing month in the 12-month
    # horizon: the plan's 2026-01 signing cannot be made there.
    spec = {"base": "base.yaml", "design": "stress", "plan": "plan",
            "parameters": [{"name": "slip", "path": LEAD, "shifts": [0, 10]}]}
    (stress_folder / "bad.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["sweep", str(stress_folder / "bad.yaml"), "-o",
                                      str(stress_folder / "bad_out"), "-q"])
    assert result.exit_code == 2, result.output
    assert "commitments.signings[0].in_month" in result.output and "p0001" in result.output
    assert not (stress_folder / "bad_out").exists()
