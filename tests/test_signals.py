"""Signals and the top-level guard, with real processes and real signals (bounded waits).

- Ctrl-C (SIGINT) ends every stage of a solve with exit 130 and a line that starts with
  "interrupted" and says what was written; during HiGHS it stops HiGHS through its interrupt
  callback and the best plan is written, marked `interrupted` with its gap.
- A sweep's workers ignore Ctrl-C (the parent stops them and keeps finished points: the
  resume contract), end when their parent is killed, and leave no warning behind.
- An unexpected exception prints one line (what failed, where the trace was saved under the
  temp folder) and exits 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from capalloc.optimizer.outputs.plan_io import read_plan

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny.yaml"
CLEANSPARK = ROOT / "instances" / "cleanspark_2026.yaml"
CLEANSPARK_UNTAXED = ROOT / "benchmarks" / "cleanspark_2026_before_issue14.yaml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# Runs `capalloc ARGS...` in this process after wrapping TARGET (module:attribute) so that the
# process sends itself SIGINT when the stage starts (after DELAY seconds, from a timer thread,
# when DELAY > 0): a real signal at a marked point of a real run.
DRIVER = r"""
import importlib, os, signal, sys, threading
target, delay = sys.argv[1], float(sys.argv[2])
module_name, attribute = target.split(":")
owner_path, _, name = attribute.rpartition(".")
owner = importlib.import_module(module_name)
for part in filter(None, owner_path.split(".")):
    owner = getattr(owner, part)
real = getattr(owner, name)
fired = []
def stage(*args, **kwargs):
    if not fired:
        fired.append(1)
        if delay > 0:
            threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()
        else:
            os.kill(os.getpid(), signal.SIGINT)
    return real(*args, **kwargs)
setattr(owner, name, stage)
from capalloc.optimizer.cli import main
sys.argv = ["capalloc", *sys.argv[3:]]
main()
"""


def drive(target: str, delay: float, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DRIVER, target, str(delay), *map(str, args)],
                          cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def flat(text: object) -> str:
    return "".join(str(text).split())


@pytest.mark.parametrize("stage", [
    "capalloc.optimizer.cli:load_instance",          # reading the instance, before Pyomo is imported
    "capalloc.optimizer.pipeline:build_model",       # building the model
    "capalloc.optimizer.solving.solve:find_first_plan",      # the LP dive for the first plan
    "capalloc.optimizer.pipeline:extract_plan",      # after HiGHS, before anything is written
])
def test_ctrl_c_before_the_write_exits_130_saying_nothing_was_written(tmp_path, stage):
    """Issue 12: an early Ctrl-C exited 130 silently."""
    out = tmp_path / "plan"
    result = drive(stage, 0, "solve", TINY, "-o", out, "-q", cwd=tmp_path)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert last_line(result.stderr).startswith("interrupted"), result.stderr
    if stage != "capalloc.optimizer.cli:load_instance":  # the solve had started: it says what it kept
        assert "noplanwritten" in flat(result.stderr)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ctrl_c_while_the_plan_is_committed_finishes_the_write_first(tmp_path):
    out = tmp_path / "plan"
    result = drive("capalloc.optimizer.outputs.output_dir:roll_forward", 0, "solve", TINY, "-o", out, "-q",
                   cwd=tmp_path)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert last_line(result.stderr).startswith("interrupted")
    assert "writtento" in flat(result.stderr) and flat(out) in flat(result.stderr)
    assert read_plan(out).npv_usd == read_plan(ROOT / "tests" / "golden" / "tiny").npv_usd
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".capalloc"]


def _interrupted_plan(result: subprocess.CompletedProcess, out: Path):
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    message = last_line(result.stderr)
    assert message.startswith("interrupted") or "interrupted" in flat(result.stderr)
    assert "markedinterruptedinplan.json" in flat(result.stderr)
    plan = read_plan(out)
    assert plan.solver.status == "interrupted" and plan.solver.termination == "interrupted"
    assert plan.audit is not None and plan.audit.passed  # a real plan: every rule holds
    assert json.loads((out / ".capalloc").read_text())["kind"] == "plan"
    return plan


def test_ctrl_c_during_highs_stops_it_and_keeps_the_best_plan_marked_interrupted(tmp_path):
    """Issue 12: Ctrl-C while HiGHS ran exited 4 ("time limit, no plan") and dropped the
    first plan. cleanspark as issue 13 left it (no tax, so HiGHS starts from the LP dive's
    plan, with the relaxation's bound) at a 0 % gap keeps HiGHS busy for tens of seconds;
    the signal comes 1 s into HiGHS's run."""
    out = tmp_path / "plan"
    result = drive("capalloc.optimizer.solving.handoff:DirectHandoff.solve", 1.0, "solve",
                   CLEANSPARK_UNTAXED, "-o", out,
                   "-q", "--mip-gap", "0", "--time-limit", "300", cwd=tmp_path)
    stats = _interrupted_plan(result, out).solver
    # The gap the plan states follows from its own objective and bound: |bound - obj| / |obj|.
    assert stats.dual_bound_usd is not None and stats.gap_pct is not None
    gap = abs(stats.dual_bound_usd - stats.objective_usd) / abs(stats.objective_usd) * 100
    assert stats.gap_pct == pytest.approx(gap, rel=1e-3, abs=1e-6)
    assert stats.gap_pct > 0  # stopped short of the proof a 0 % gap asks for
    assert f"{stats.gap_pct:.3g}%" in flat(result.stderr)


def test_ctrl_c_before_highs_found_a_plan_keeps_the_do_nothing_plan(tmp_path):
    """Issue 17: a taxed model is searched by HiGHS alone (solving.solve.first_plan_pays), with
    the plan that signs nothing kept aside rather than handed over as a start. Ctrl-C as
    HiGHS starts, before it can have any plan of its own, keeps that plan: no lease signed (the
    rest of it, fleet and financing, is its LP's best), and the independent audit passes on it."""
    out = tmp_path / "plan"
    result = drive("capalloc.optimizer.solving.handoff:DirectHandoff.solve", 0, "solve", CLEANSPARK,
                   "-o", out, "-q", "--time-limit", "300", cwd=tmp_path)
    plan = _interrupted_plan(result, out)
    assert plan.decisions.signings == []


# --- sweeps ------------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(x) for x in handle.read().split()]
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent that will never reap it."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_sweep(spec: Path, out: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "capalloc.optimizer.cli", "sweep", str(spec),
                             "-o", str(out),
                             "-q", "--workers", "2"], cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(condition, what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _workers_started(sweep: subprocess.Popen) -> bool:
    if sweep.poll() is not None:
        pytest.fail(f"the sweep ended early: {sweep.stderr.read()}")
    return len(_children(sweep.pid)) >= 3  # the resource tracker and two workers


def _a_point_finished(sweep: subprocess.Popen, out: Path) -> bool:
    if sweep.poll() is not None:
        pytest.fail(f"the sweep ended early: {sweep.stderr.read()}")
    return any((out / "parts").glob("p*.json"))


@pytest.mark.parametrize("moment", ["while the workers start", "while the workers solve"])
def test_ctrl_c_stops_a_sweep_quietly_and_resume_completes_it(tmp_path, moment):
    """Issue 12: SIGINT printed a leaked-semaphore warning (and, while workers were starting,
    their tracebacks). Ctrl-C goes to the whole process group, as a terminal sends it."""
    spec = ROOT / "instances" / "sweeps" / "two_sites_grid.yaml"
    out = tmp_path / "out"
    sweep = _start_sweep(spec, out, tmp_path)
    family: list[int] = []
    try:
        if moment == "while the workers start":
            _wait_for(lambda: _workers_started(sweep), "the workers")
        else:
            _wait_for(lambda: _a_point_finished(sweep, out), "a finished point")
        family = _children(sweep.pid)
        os.killpg(sweep.pid, signal.SIGINT)
        _, err = sweep.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep.pid, signal.SIGKILL)
    assert sweep.returncode == 130, err
    assert "Traceback" not in err and "leaked" not in err and "Warning" not in err, err
    assert last_line(err).startswith("interrupted") and "--resume" in err
    _wait_for(lambda: not any(_running(p) for p in family), "the workers to end", 60)
    resumed = subprocess.run([sys.executable, "-m", "capalloc.optimizer.cli", "sweep", str(spec),
                             "-o", str(out),
                              "-q", "--resume"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 9  # the header and the 3 x 3 grid, each point once
    assert len({row.split(",")[0] for row in rows[1:]}) == 9


def test_killing_a_sweeps_parent_ends_its_workers(tmp_path):
    """Issue 12: kill -9 of the sweep's parent left its workers and resource tracker running."""
    spec = ROOT / "instances" / "sweeps" / "two_sites_grid.yaml"
    out = tmp_path / "out"
    sweep = _start_sweep(spec, out, tmp_path)
    family: list[int] = []
    try:
        _wait_for(lambda: _a_point_finished(sweep, out), "a finished point")
        family = _children(sweep.pid)
        assert len(family) >= 3
        sweep.kill()
        sweep.wait(timeout=60)
        deadline = time.monotonic() + 60
        while any(_running(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in family if _running(p)]
    finally:
        for pid in family:  # whatever is left must not outlive the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert left == [], f"still running after their parent died: {left}"


# --- the top-level guard ------------------------------------------------------------------------

def test_an_unexpected_error_prints_one_line_and_saves_the_trace_in_the_temp_folder(
        tmp_path, monkeypatch, capsys):
    temp, cwd = tmp_path / "temp", tmp_path / "cwd"
    temp.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(cwd)

    def broken(path):
        raise RuntimeError("the loader broke\non two lines")

    monkeypatch.setattr("capalloc.optimizer.cli.load_instance", broken)
    monkeypatch.setattr(sys, "argv", ["capalloc", "validate", str(TINY)])
    from capalloc.optimizer.cli import main

    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "validate" in err and "RuntimeError: the loader broke on two lines" in err
    saved = list(temp.iterdir())
    assert len(saved) == 1 and str(saved[0]) in err
    trace = saved[0].read_text()
    assert "Traceback" in trace and "RuntimeError: the loader broke" in trace and "broken" in trace
    assert list(cwd.iterdir()) == []  # nothing in the user's folder
