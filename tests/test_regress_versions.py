"""Plans record the package versions that made them; `capalloc regress` notes a golden plan
made with other versions (issue 12 item 6): a note, never a failure."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from capalloc.optimizer.checks.regress import regress
from capalloc.optimizer.outputs.plan_io import read_plan

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("highspy", "pyomo", "pydantic", "pandas", "numpy")


@pytest.fixture(scope="module")
def golden_setup(tmp_path_factory):
    """tiny.yaml alone in a folder, and its golden plan written by regress --update."""
    root = tmp_path_factory.mktemp("regress")
    instances = root / "instances"
    instances.mkdir()
    (instances / "tiny.yaml").write_text((ROOT / "instances" / "tiny.yaml").read_text())
    golden = root / "golden"
    [result] = regress(instances, golden, update=True)
    assert result.status == "updated"
    return instances, golden


def golden_json(golden: Path) -> dict:
    return json.loads((golden / "tiny" / "plan.json").read_text())


def rewrite_golden(golden: Path, tmp_path: Path, change) -> Path:
    """A copy of the golden folder whose plan.json went through ``change``."""
    data = golden_json(golden)
    change(data)
    copy = tmp_path / "golden"
    (copy / "tiny").mkdir(parents=True)
    for file in (golden / "tiny").iterdir():
        (copy / "tiny" / file.name).write_bytes(file.read_bytes())
    (copy / "tiny" / "plan.json").write_text(json.dumps(data, indent=2))
    return copy


def test_a_plan_records_the_installed_versions(golden_setup):
    _, golden = golden_setup
    provenance = golden_json(golden)["provenance"]
    for name in PACKAGES:
        assert provenance[f"{name}_version"] == version(name)
    # highspy's version is the HiGHS library's it bundles, which the solver stats record.
    assert golden_json(golden)["solver"]["solver_version"] == version("highspy")


def test_same_versions_pass_without_notes(golden_setup):
    instances, golden = golden_setup
    [result] = regress(instances, golden)
    assert (result.status, result.problems, result.notes) == ("pass", [], [])


def test_other_versions_get_one_note_each_and_still_pass(golden_setup, tmp_path):
    instances, golden = golden_setup

    def older(data: dict) -> None:
        data["solver"]["solver_version"] = "1.7.2"
        data["provenance"].update(highspy_version="1.7.2", pandas_version="2.1.0", numpy_version="1.26.4")

    [result] = regress(instances, rewrite_golden(golden, tmp_path, older))
    assert result.status == "pass" and result.problems == []
    hs, pd, np = version("highspy"), version("pandas"), version("numpy")
    # highspy's change is told once, as HiGHS's; pyomo and pydantic are unchanged: no line.
    assert result.notes == [
        f"golden plan solved by HiGHS 1.7.2, this run by HiGHS {hs}",
        f"golden plan made with pandas 2.1.0, this run with pandas {pd}",
        f"golden plan made with numpy 1.26.4, this run with numpy {np}",
    ]


def test_a_golden_without_version_records_still_reads(golden_setup, tmp_path):
    instances, golden = golden_setup

    def old_format(data: dict) -> None:
        for name in PACKAGES:
            del data["provenance"][f"{name}_version"]

    copy = rewrite_golden(golden, tmp_path, old_format)
    assert read_plan(copy / "tiny").provenance.pyomo_version is None
    [result] = regress(instances, copy)
    assert result.status == "pass"
    assert result.notes == ["golden plan does not record its highspy, pyomo, pydantic, pandas, numpy "
                            "versions (written by an older capalloc; --update records them)"]


def test_regress_cli_prints_the_notes_and_exits_0(golden_setup, tmp_path):
    instances, golden = golden_setup
    copy = rewrite_golden(golden, tmp_path, lambda d: d["provenance"].update(pyomo_version="6.9.0"))
    result = subprocess.run([sys.executable, "-m", "capalloc.optimizer.cli", "regress", str(instances),
                             "--golden", str(copy)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"note: golden plan made with pyomo 6.9.0, this run with pyomo {version('pyomo')}" in result.stdout
    assert "1 passed, 0 failed" in result.stdout
