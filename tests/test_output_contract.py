"""The output contract (optimizer/outputs/output_dir.py, README "Input and output contract"):
capalloc writes only inside the -o folder it was given; it replaces that folder only when it
is a plan directory capalloc wrote (its .capalloc marker, or --force for one written before
the marker) holding nothing else; everything else is refused with exit 2 before any solve,
every byte left in place; a second writer is refused while the first holds the folder; a
write killed at any step is rolled forward or cleaned by the next one, and readers never
see half a plan."""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from capalloc.models import load_instance
from capalloc.optimizer.cli import app
from capalloc.optimizer.outputs.output_dir import (
    JOURNAL,
    LOCK,
    MARKER,
    OutputClaim,
    OutputDirError,
    resolve_file,
)
from capalloc.optimizer.outputs.plan_io import OWNED_FILES, plan_files, read_plan, read_table, write_plan_dir
from capalloc.optimizer.pipeline import solve_instance
from capalloc.optimizer.solving.solve import SolveSettings

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny.yaml"
runner = CliRunner()


def flat(text: object) -> str:
    """Text without whitespace: the terminal wraps long messages wherever it likes."""
    return "".join(str(text).split())


def snapshot(folder: Path) -> dict[str, tuple[str, bytes | None]]:
    """Every entry under ``folder`` (hidden ones too): kind and bytes."""
    out: dict[str, tuple[str, bytes | None]] = {}
    for base, dirs, files in os.walk(folder):
        for name in dirs:
            out[os.path.relpath(os.path.join(base, name), folder)] = ("dir", None)
        for name in files:
            path = os.path.join(base, name)
            out[os.path.relpath(path, folder)] = ("file", Path(path).read_bytes())
    return out


@pytest.fixture
def no_solve(monkeypatch):
    """Fails the test if the CLI gets as far as solving."""
    calls: list[str] = []

    def refuse(*args, **kwargs):
        calls.append("solve")
        raise AssertionError("solved although the output folder should have been refused first")

    monkeypatch.setattr("capalloc.optimizer.pipeline.solve_instance", refuse)
    return calls


CORE_FILES = {"plan.json", "sites_monthly.csv", "cashflow_monthly.csv", "leases.csv", "run.json"}


def assert_plan_dir(folder: Path) -> None:
    """The marker and plan files only: every core file, nothing capalloc does not write."""
    names = {p.name for p in folder.iterdir()}
    assert {n for n in names if n.startswith(".")} == {MARKER}, names
    assert CORE_FILES <= names <= {MARKER, *OWNED_FILES}, names


def copy_tiny(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "tiny.yaml"
    target.write_bytes(TINY.read_bytes())
    return target


def solve_cli(instance: Path, out: Path | str, *extra: str):
    return runner.invoke(app, ["solve", str(instance), "-o", str(out), "--quiet", *extra])


# --- refusals before solving, every byte in place -------------------------------------------

def _folder_with_the_instance_and_notes(tmp: Path) -> tuple[Path, Path, list[str]]:
    work = tmp / "work"
    instance = copy_tiny(work)
    (work / "notes.txt").write_text("my notes\n")
    return instance, work, ["notes.txt", "tiny.yaml"]


def _parent_with_sibling_folders(tmp: Path) -> tuple[Path, Path, list[str]]:
    instance = copy_tiny(tmp / "in")
    parent = tmp / "projects"
    (parent / "alpha").mkdir(parents=True)
    (parent / "alpha" / "model.xlsx").write_bytes(b"\x00\x01spreadsheet")
    (parent / "beta").mkdir()
    return instance, parent, ["alpha/", "beta/"]


def _old_plan_with_a_foreign_file(tmp: Path) -> tuple[Path, Path, list[str]]:
    instance = copy_tiny(tmp / "in")
    plan = tmp / "plan"
    plan.mkdir()
    for name in OWNED_FILES:
        (plan / name).write_text(f"old {name}\n")
    (plan / "comments.md").write_text("keep me\n")
    return instance, plan, ["comments.md"]


def _marked_plan_with_a_foreign_file(tmp: Path) -> tuple[Path, Path, list[str]]:
    instance, plan, foreign = _old_plan_with_a_foreign_file(tmp)
    (plan / MARKER).write_text(json.dumps({"kind": "plan", "format": 1}) + "\n")
    return instance, plan, foreign


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("case", [_folder_with_the_instance_and_notes, _parent_with_sibling_folders,
                                  _old_plan_with_a_foreign_file, _marked_plan_with_a_foreign_file])
def test_a_folder_holding_other_files_is_refused_before_solving(tmp_path, no_solve, case, force):
    """Issue 12: `-o DIR` deleted the instance file and notes in DIR; `-o` at a parent folder
    removed its sibling folders. --force never changes that."""
    instance, out, foreign = case(tmp_path)
    before = snapshot(tmp_path)
    result = solve_cli(instance, out, *(["--force"] if force else []))
    assert result.exit_code == 2, result.output
    assert no_solve == []
    message = flat(result.output)
    assert flat(out) in message and "--force" in message
    for name in foreign:
        assert name in message
    assert "Traceback" not in result.output
    assert snapshot(tmp_path) == before


def test_dot_is_refused_before_solving(tmp_path, no_solve, monkeypatch):
    """Issue 12: `-o .` ended in a traceback."""
    instance = copy_tiny(tmp_path)
    (tmp_path / "data.csv").write_text("month,x\n")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    result = solve_cli(instance, ".")
    assert result.exit_code == 2, result.output
    assert "data.csv" in flat(result.output) and "tiny.yaml" in flat(result.output)
    assert no_solve == [] and snapshot(tmp_path) == before


def test_a_file_is_refused_not_hidden(tmp_path, no_solve):
    """Issue 12: `-o FILE` hid the file as `.FILE.old.XXXX`."""
    instance = copy_tiny(tmp_path / "in")
    target = tmp_path / "report.txt"
    target.write_text("quarterly report\n")
    before = snapshot(tmp_path)
    result = solve_cli(instance, target)
    assert result.exit_code == 2, result.output
    assert "isafile" in flat(result.output) and flat(target) in flat(result.output)
    assert no_solve == [] and snapshot(tmp_path) == before


def test_a_path_under_a_file_is_refused(tmp_path, no_solve):
    instance = copy_tiny(tmp_path / "in")
    (tmp_path / "report.txt").write_text("x\n")
    before = snapshot(tmp_path)
    result = solve_cli(instance, tmp_path / "report.txt" / "plan")
    assert result.exit_code == 2, result.output
    assert no_solve == [] and snapshot(tmp_path) == before


def test_a_sweep_folder_is_not_a_plan_directory(tmp_path, no_solve):
    instance = copy_tiny(tmp_path / "in")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / MARKER).write_text(json.dumps({"kind": "sweep", "format": 1}) + "\n")
    before = snapshot(tmp_path)
    result = solve_cli(instance, sweep, "--force")
    assert result.exit_code == 2 and "holdsacapallocsweep" in flat(result.output)
    assert no_solve == [] and snapshot(tmp_path) == before


def _drop_root_file_powers() -> None:
    """In the child, before exec: without these capabilities root obeys file modes like any
    user (prctl PR_CAPBSET_DROP of CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _run_unprivileged(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "capalloc.optimizer.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_drop_root_file_powers if os.geteuid() == 0 else None)


@pytest.mark.parametrize("where", ["the folder", "its parent"])
def test_a_read_only_output_is_refused_before_solving(tmp_path, where):
    """Issue 12: a read-only -o ended in a traceback, and only after the whole solve."""
    instance = copy_tiny(tmp_path / "in")
    locked = tmp_path / "readonly"
    locked.mkdir()
    out = locked if where == "the folder" else locked / "plan"
    locked.chmod(0o555)
    try:
        before = snapshot(tmp_path)
        result = _run_unprivileged(["solve", str(instance), "-o", str(out), "-q"], cwd=tmp_path)
        after = snapshot(tmp_path)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot" in result.stderr and flat(out) in flat(result.stderr)
    assert result.stdout == ""  # the plan summary comes after a solve: there was none
    assert after == before


# --- what may be replaced ---------------------------------------------------------------------

def test_a_new_path_is_created_with_parents_and_marked(tmp_path):
    instance = copy_tiny(tmp_path / "in")
    out = tmp_path / "a" / "b" / "plan"
    result = solve_cli(instance, out)
    assert result.exit_code == 0, result.output
    assert_plan_dir(out)
    assert json.loads((out / MARKER).read_text())["kind"] == "plan"


def test_a_marked_plan_directory_is_replaced_and_an_old_one_only_with_force(tmp_path):
    instance = copy_tiny(tmp_path / "in")
    out = tmp_path / "plan"
    assert solve_cli(instance, out).exit_code == 0
    first = snapshot(out)
    (out / "leases.csv").write_text("stale\n")  # a marked plan directory is capalloc's to replace
    assert solve_cli(instance, out).exit_code == 0
    assert snapshot(out) == {**first, "run.json": snapshot(out)["run.json"]}

    (out / MARKER).unlink()  # as an older capalloc left it
    before = snapshot(tmp_path)
    refused = solve_cli(instance, out)
    assert refused.exit_code == 2 and "--force" in flat(refused.output) and "marker" in refused.output
    assert snapshot(tmp_path) == before
    forced = solve_cli(instance, out, "--force")
    assert forced.exit_code == 0, forced.output
    assert_plan_dir(out)


def test_an_empty_folder_is_used_and_a_failed_solve_leaves_it_empty(tmp_path):
    instance = copy_tiny(tmp_path / "in")
    data = yaml.safe_load(instance.read_text())
    data["finance"]["minimum_cash_usd"] = 1e12  # above any cash: infeasible (exit 3)
    infeasible = tmp_path / "in" / "infeasible.yaml"
    infeasible.write_text(yaml.safe_dump(data))
    empty = tmp_path / "empty"
    empty.mkdir()
    result = solve_cli(infeasible, empty)
    assert result.exit_code == 3, result.output
    assert list(empty.iterdir()) == []
    fresh = tmp_path / "fresh" / "plan"
    assert solve_cli(infeasible, fresh).exit_code == 3
    assert not (tmp_path / "fresh").exists()


# --- concurrent writers ----------------------------------------------------------------------

def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path, no_solve):
    """Issue 12: two solves racing into the same -o: the loser got 'Directory not empty'."""
    instance = copy_tiny(tmp_path / "in")
    out = tmp_path / "plan"
    out.mkdir()
    holder = os.open(out / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(holder, b"4242\n")
        before = snapshot(tmp_path)
        result = solve_cli(instance, out)
        assert snapshot(tmp_path) == before
    finally:
        os.close(holder)
    assert result.exit_code == 2, result.output
    assert "anothercapallociswriting" in flat(result.output) and "4242" in result.output
    assert no_solve == []


def test_two_solves_racing_never_trace_and_leave_a_whole_plan(tmp_path):
    instance = copy_tiny(tmp_path / "in")
    out = tmp_path / "plan"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "capalloc.optimizer.cli", "solve", str(instance), "-o", str(out), "-q"]
    racers = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(r.wait(timeout=300), r.communicate()[1]) for r in racers]
    for code, err in results:
        assert "Traceback" not in err
        assert code == 0 or (code == 2 and "anothercapallociswriting" in flat(err)), err
    assert any(code == 0 for code, _ in results)
    assert read_plan(out).npv_usd == read_plan(ROOT / "tests" / "golden" / "tiny").npv_usd
    assert_plan_dir(out)


# --- interrupted writes ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_plans():
    """Two different plans of tiny (BTC at $90,000 and at $135,000): NPV, files, result."""
    instance = load_instance(TINY)
    assert instance.market.scenarios[0].btc_price_usd == 90000.0
    higher = instance.model_copy(deep=True)
    higher.market.scenarios[0] = instance.market.scenarios[0].model_copy(update={"btc_price_usd": 135000.0})
    plans = []
    for case in (instance, higher):
        outcome = solve_instance(case, settings=SolveSettings.from_instance(case))
        plans.append((outcome.result.plan.npv_usd, plan_files(outcome.result, {"run": 1}), outcome.result))
    assert plans[0][0] != plans[1][0]
    return plans


KILLER = r"""
import json, os, shutil, signal, sys
from capalloc.optimizer.outputs.output_dir import OutputClaim  # light: no pandas, no Pyomo
target, files_path, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = json.loads(open(files_path).read())
OWNED_FILES = list(files)
count = [0]
def wrap(module, name):
    real = getattr(module, name)
    def step(*args, **kwargs):
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(module, name, step)
for module, name in [(os, "replace"), (os, "unlink"), (os, "fsync"), (os, "mkdir"), (os, "rmdir"),
                     (os, "write"), (os, "rename"), (shutil, "rmtree")]:
    wrap(module, name)
with OutputClaim(target, "plan", OWNED_FILES) as claim:
    claim.commit(files)
print("steps", count[0])
"""


def _killed_write(target: Path, files: dict[str, str], kill_at: int, scratch: Path) -> int | None:
    """Write ``files`` in a child killed by SIGKILL at its ``kill_at``-th file-system step;
    returns the number of steps when the write ran to its end instead."""
    spec = scratch / "files.json"
    spec.write_text(json.dumps(files))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", KILLER, str(target), str(spec), str(kill_at)],
                           env=env, capture_output=True, text=True, timeout=120)
    if child.returncode == -signal.SIGKILL:
        return None
    assert child.returncode == 0, child.stderr
    return int(child.stdout.split()[1])


def _seen_by_a_reader(target: Path, names) -> dict[str, str] | None:
    """What a capalloc reader gets for each plan file right now (None: no plan there)."""
    if not resolve_file(target, "plan.json").is_file():
        return None
    return {name: resolve_file(target, name).read_text() for name in names}


@pytest.mark.parametrize("start", ["absent", "old plan"])
def test_a_write_killed_at_any_step_is_whole_for_readers_and_recovered_next_time(tmp_path, two_plans,
                                                                                 start):
    """Issue 12: a killed solve left `.plan.XXXX` staging folders, and a kill between the two
    renames left no plan at the path with the old one stranded in `.plan.old.*`.

    Kill the writer at every step in turn: a reader sees the old plan or the new one, never a
    mix and never nothing (once there was a plan); the next write succeeds without --force
    and leaves only the marker and the plan files; read_plan gives the new plan."""
    (old_npv, old_files, _), (new_npv, new_files, _) = two_plans
    step, finished = 0, None
    while finished is None:
        step += 1
        assert step < 200, "the write never ran to its end"
        target = tmp_path / f"k{step}" / "plan"
        if start == "old plan":
            write_plan_dir_files(target, old_files)
        finished = _killed_write(target, new_files, step, tmp_path)
        seen = _seen_by_a_reader(target, new_files)
        if finished is None:
            allowed = [new_files] + ([old_files] if start == "old plan" else [None])
            assert seen in allowed, f"step {step}: a reader sees a mix"
            if target.parent.exists():
                leftovers = {p.name for p in target.parent.iterdir()} - {"plan"}
                assert leftovers == set(), f"step {step}: written beside -o: {leftovers}"
        else:
            assert seen == new_files
        # The next writer recovers what the kill left and writes its own plan.
        with OutputClaim(target, "plan", OWNED_FILES) as claim:
            claim.commit(new_files)
        assert sorted(p.name for p in target.iterdir()) == sorted([MARKER, *new_files]), step
        assert read_plan(target).npv_usd == new_npv
        assert read_table(target, "leases.csv").shape[0] == new_files["leases.csv"].count("\n") - 1
    assert finished == step - 1 and finished > 10  # killed at every step of a whole write
    assert old_npv != new_npv


def write_plan_dir_files(target: Path, files: dict[str, str]) -> None:
    with OutputClaim(target, "plan", OWNED_FILES) as claim:
        claim.commit(files)


RENAME_KILLER = r"""
import os, pickle, signal, sys
from capalloc.optimizer.outputs.plan_io import write_plan_dir
target, result_path, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(result_path, "rb") as handle:
    result = pickle.load(handle)
count = [0]
for name in ("replace", "rename"):
    real = getattr(os, name)
    def step(*args, _real=real, **kwargs):
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return _real(*args, **kwargs)
    setattr(os, name, step)
write_plan_dir(result, target, {"run": 1})
print("steps", count[0])
"""


def test_write_plan_dir_killed_at_each_rename_leaves_a_plan_and_nothing_beside_it(tmp_path, two_plans):
    """Issue 12, through the public write_plan_dir: a kill between the old code's two renames
    left no plan at the path and the old one stranded in `.plan.old.*` beside it."""
    import pickle

    (old_npv, _, old_result), (new_npv, _, new_result) = two_plans
    pickled = tmp_path / "new.pickle"
    pickled.write_bytes(pickle.dumps(new_result))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    step, finished = 0, None
    while finished is None:
        step += 1
        assert step < 50, "the write never ran to its end"
        target = tmp_path / f"k{step}" / "plan"
        write_plan_dir(old_result, target, {"run": 1})
        child = subprocess.run([sys.executable, "-c", RENAME_KILLER, str(target), str(pickled), str(step)],
                               env=env, capture_output=True, text=True, timeout=300)
        if child.returncode != -signal.SIGKILL:
            assert child.returncode == 0, child.stderr
            finished = int(child.stdout.split()[1])
        assert read_plan(target).npv_usd in (old_npv, new_npv), f"step {step}: no whole plan"
        write_plan_dir(new_result, target, {"run": 1})  # the next run
        assert [p.name for p in target.parent.iterdir()] == ["plan"], f"step {step}: left beside -o"
        assert read_plan(target).npv_usd == new_npv
    assert finished == step - 1


def test_a_journal_left_by_a_kill_is_followed_by_readers_and_rolled_forward(tmp_path, two_plans):
    """The state between the journal and the last move, built by hand: half the files moved."""
    (_, old_files, _), (new_npv, new_files, _) = two_plans
    target = tmp_path / "plan"
    write_plan_dir_files(target, old_files)
    staging = target / ".staging-test"
    staging.mkdir()
    names = [MARKER, *sorted(new_files)]
    for name in names:
        (staging / name).write_text(new_files.get(name, json.dumps({"kind": "plan", "format": 1})))
    (target / JOURNAL).write_text(json.dumps({"kind": "plan", "staging": staging.name, "files": names,
                                              "remove": []}))
    for name in names[:3]:
        os.replace(staging / name, target / name)
    assert _seen_by_a_reader(target, new_files) == new_files
    assert read_plan(target).npv_usd == new_npv
    with OutputClaim(target, "plan", OWNED_FILES):
        pass  # claiming recovers: the journal is rolled forward
    assert sorted(p.name for p in target.iterdir()) == sorted([MARKER, *new_files])
    assert {n: (target / n).read_text() for n in new_files} == new_files


def test_write_plan_dir_keeps_the_contract_for_library_callers(tmp_path, two_plans):
    (_, old_files, result), _ = two_plans
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("x\n")
    with pytest.raises(OutputDirError, match="thesis.tex"):
        write_plan_dir(result, folder, {"run": 1})
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]
    written = write_plan_dir(result, tmp_path / "new", {"run": 1})
    assert {name: (written / name).read_text() for name in old_files} == old_files


# --- regress --update and sweeps ----------------------------------------------------------------

def test_regress_update_replaces_golden_plans_but_not_foreign_folders(tmp_path, no_solve):
    instances = tmp_path / "instances"
    copy_tiny(instances)
    golden = tmp_path / "golden"
    (golden / "tiny").mkdir(parents=True)
    (golden / "tiny" / "draft.docx").write_bytes(b"PK\x03\x04")
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["regress", str(instances), "--golden", str(golden), "--update"])
    assert result.exit_code == 2, result.output
    assert "draft.docx" in flat(result.output)
    assert no_solve == [] and snapshot(tmp_path) == before


def test_regress_reads_and_updates_golden_plans_written_before_the_marker(tmp_path):
    instances = tmp_path / "instances"
    copy_tiny(instances)
    golden = tmp_path / "golden" / "tiny"
    golden.mkdir(parents=True)
    for source in (ROOT / "tests" / "golden" / "tiny").iterdir():  # written by the old code: no marker
        (golden / source.name).write_bytes(source.read_bytes())
    checked = runner.invoke(app, ["regress", str(instances), "--golden", str(golden.parent)])
    assert checked.exit_code == 0, checked.output
    updated = runner.invoke(app, ["regress", str(instances), "--golden", str(golden.parent), "--update"])
    assert updated.exit_code == 0, updated.output
    assert json.loads((golden / MARKER).read_text())["kind"] == "plan"
    assert read_plan(golden).npv_usd == read_plan(ROOT / "tests" / "golden" / "tiny").npv_usd


def test_a_sweep_refuses_a_plan_directory_a_file_and_a_held_folder(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"base": str(TINY), "design": "grid", "parameters": [
        {"name": "btc", "path": "market.scenarios[base].btc_price_usd", "factors": [1.0]}]}))
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / MARKER).write_text(json.dumps({"kind": "plan", "format": 1}) + "\n")
    afile = tmp_path / "file.txt"
    afile.write_text("x\n")
    held = tmp_path / "held"
    held.mkdir()
    before = snapshot(tmp_path)
    holder = os.open(held / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        results = {name: runner.invoke(app, ["sweep", str(spec), "-o", str(path), "-q"])
                   for name, path in (("plan", plan), ("file", afile), ("held", held))}
    finally:
        os.close(holder)
    for name, result in results.items():
        assert result.exit_code == 2, (name, result.output)
        assert "Traceback" not in result.output
    assert "holdsacapallocplan" in flat(results["plan"].output)
    assert "isafile" in flat(results["file"].output)
    assert "anothercapallociswriting" in flat(results["held"].output)
    after = snapshot(tmp_path)
    after.pop(f"held/{LOCK}", None)
    before.pop(f"held/{LOCK}", None)
    assert after == before


def test_a_sweep_folder_is_marked_and_resumable(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"base": str(TINY), "design": "grid", "parameters": [
        {"name": "btc", "path": "market.scenarios[base].btc_price_usd", "factors": [1.0, 1.2]}]}))
    out = tmp_path / "out"
    first = runner.invoke(app, ["sweep", str(spec), "-o", str(out), "-q"])
    assert first.exit_code == 0, first.output
    assert json.loads((out / MARKER).read_text())["kind"] == "sweep"
    assert not (out / LOCK).exists()
    again = runner.invoke(app, ["sweep", str(spec), "-o", str(out), "-q", "--resume"])
    assert again.exit_code == 0, again.output
    assert (out / "results.csv").read_text().count("\n") == 3  # the header and the two points
