"""`--decompose ph` (issue 15 item 7): mpi-sppy's progressive hedging on the option tree of
tests/test_tree.py, whose optimum is known by brute force over the only discrete decision
(the signing month per branch: tree_optimum). PH's written plan is the extensive form with
the integer decisions PH agreed on fixed, so it must reach that optimum to within the
rounding of model units (the $2 the tree tests allow), pass the audit, and PH itself, not the
re-solve, must have decided the signings (every integer root decision fixed, none disputed).

The tree is built so that PH has something to settle: knowing its path, the bear scenario
would sign in month 0 (wait-and-see), the bull scenario never; the tree's optimum waits to
the branching month. PH's settings: rho $10k per unit, at most 100 iterations, converged
when every integer decision agrees across its node for 5 iterations (ph.PHSettings).

Needs the [ph] extra (mpi-sppy, mpi4py, mpich, scipy), which .ci/run installs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from capalloc.models import load_instance
from capalloc.optimizer.pipeline import solve_instance
from capalloc.optimizer.scenario_tree import ph
from tests.helpers import month_label
from tests.test_tree import START, B, tree_data, tree_optimum, write


def solve_ph(instance):
    timings: dict[str, float] = {}
    plan = solve_instance(instance, decompose="ph", timings=timings).result.plan
    return plan, timings


def two_by_two() -> dict:
    """The option tree with a second branching month at b + 2 whose branches repeat their
    parent's inputs: no news there, so the optimum is the two-scenario tree's."""
    data = tree_data(name="tree_2x2")
    data["market"]["branching_months"].append(month_label(START, B + 2))
    scenarios = []
    for s in data["market"]["scenarios"]:
        for leaf in ("a", "b"):
            scenarios.append({**s, "name": f"{s['name']}_{leaf}", "probability": s["probability"] / 2,
                              "tree_path": [s["name"], leaf]})
    data["market"]["scenarios"] = scenarios
    return data


def test_ph_plan_reaches_the_brute_force_tree_optimum(tmp_path):
    instance = load_instance(write(tmp_path, tree_data()))
    plan, timings = solve_ph(instance)
    assert plan.tree.objective_usd == pytest.approx(tree_optimum(), abs=2.0)
    assert [(s.signing_month, s.scenarios) for s in plan.decisions.signings] == [
        (month_label(START, B), ["bear"])]
    assert plan.audit is not None and plan.audit.passed, plan.audit.messages
    # The root's 'signed by month t' indicators, t = 0..b-1, in both scenarios: PH fixed them.
    assert timings["ph_integers_fixed"] == 2 * B
    assert timings["ph_integers_disputed"] == 0


def test_ph_with_cvar_reaches_the_brute_force_worst_case_optimum(tmp_path):
    # alpha 0.5 of two equally likely scenarios, weight 1: the objective is the worse NPV, and
    # its optimum signs at the root in month 0 (the bear branch's own choice), against the
    # expected NPV's waiting. The value at risk is a root decision of PH (its own rho, $1M per
    # $M: with the signings' $10k it stays apart and PH stops, at 100 iterations, on waiting).
    instance = load_instance(write(tmp_path, tree_data(name="tree_cvar",
                                                       risk={"cvar_weight": 1.0, "cvar_alpha": 0.5})))
    plan, timings = solve_ph(instance)
    assert plan.tree.objective_usd == pytest.approx(tree_optimum(objective=lambda v: min(v.values())),
                                                    abs=2.0)
    assert [(s.signing_month, s.scenarios) for s in plan.decisions.signings] == [(START, None)]
    assert plan.audit.passed, plan.audit.messages
    assert timings["ph_integers_fixed"] == 2 * B and timings["ph_integers_disputed"] == 0


def test_three_stage_tree_shape_and_optimum(tmp_path):
    instance = load_instance(write(tmp_path, two_by_two()))
    shape = ph.tree_shape(instance)
    assert shape.scenarios == ["bull_a", "bull_b", "bear_a", "bear_b"]
    assert shape.all_nodenames == ["ROOT", "ROOT_0", "ROOT_0_0", "ROOT_0_1", "ROOT_1", "ROOT_1_0",
                                   "ROOT_1_1"]
    nodes = shape.nodes_of["bear_b"]
    assert [(n.name, n.stage, n.first, n.end, n.cond_prob) for n in nodes] == [
        ("ROOT", 1, 0, B, 1.0), ("ROOT_1", 2, B, B + 2, 0.5)]
    assert nodes[1].scenarios == ("bear_a", "bear_b")
    plan, timings = solve_ph(instance)
    assert plan.tree.objective_usd == pytest.approx(tree_optimum(), abs=2.0)
    assert plan.audit.passed, plan.audit.messages
    assert timings["ph_integers_disputed"] == 0


def run_cli(*args: str, cwd: Path, blocked: Path | None = None) -> subprocess.CompletedProcess:
    env = None
    if blocked is not None:  # a module named mpisppy that fails to import: the extra is missing
        import os

        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked), *sys.path])}
    return subprocess.run([sys.executable, "-m", "capalloc.optimizer.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_without_the_extra_decompose_ph_exits_2_naming_the_install(tmp_path):
    path = write(tmp_path, tree_data())
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "mpisppy.py").write_text("raise ImportError('No module named mpisppy')\n")
    done = run_cli("solve", str(path), "-o", str(tmp_path / "out"), "-q", "--decompose", "ph",
                   cwd=tmp_path, blocked=blocked)
    assert done.returncode == 2, done.stderr
    assert "pip install capalloc[ph]" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_decompose_of_a_flat_instance_or_an_unknown_engine_exits_2(tmp_path):
    data = tree_data(name="flat")
    data["market"]["branching_months"] = []
    for s in data["market"]["scenarios"]:
        s["tree_path"] = []
    path = write(tmp_path, data)
    done = run_cli("solve", str(path), "-o", str(tmp_path / "out"), "-q", "--decompose", "ph", cwd=tmp_path)
    assert done.returncode == 2 and "not a scenario tree" in done.stderr, done.stderr
    done = run_cli("solve", str(path), "-o", str(tmp_path / "out"), "-q", "--decompose", "lshaped",
                   cwd=tmp_path)
    assert done.returncode == 2 and "--decompose" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_a_tree_without_a_plan_exits_3_naming_the_floor_as_the_extensive_form_does(tmp_path):
    """A floor of $3M: month 0 ends with at most the $1M of starting cash plus the $0.5M a
    signing nets (hashprice is 0 before the branch): no scenario holds it from month 0. PH
    stops at its first iteration; the CLI says which scenario breaks the floor and when (not
    mpi-sppy's RuntimeError)."""
    data = tree_data(name="tree_short")
    data["finance"]["minimum_cash_usd"] = 3_000_000.0
    path = write(tmp_path, data)
    done = run_cli("solve", str(path), "-o", str(tmp_path / "out"), "-q", "--decompose", "ph", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert f"cannot be held at the end of {START}" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()
