"""--write-model hands other solvers the exact model HiGHS solved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import highspy

ROOT = Path(__file__).resolve().parents[1]


def test_written_mps_solves_to_the_plans_objective_with_pyomo_names(tmp_path):
    mps = tmp_path / "tiny.mps"
    result = subprocess.run(
        [sys.executable, "-m", "capalloc.optimizer.cli", "solve", "instances/tiny.yaml", "-o",
         str(tmp_path / "plan"), "--quiet", "--mip-gap", "0", "--write-model", str(mps)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tiny: NPV"), "nothing may be printed before the summary"
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.readModel(str(mps))
    highs.setOptionValue("mip_rel_gap", 0.0)
    highs.run()
    # The model counts money in $M; solved to optimality by a fresh HiGHS from the file, its
    # objective is the plan's NPV.
    assert abs(highs.getInfo().objective_function_value * 1e6 - plan["npv_usd"]) <= 1.0
    status, column = highs.getColByName("signed_by[alpha,hall1,0]")
    assert status == highspy.HighsStatus.kOk and column >= 0
