"""A plan directory alone answers the plan commands: it carries the instance it solves, and
reading it refuses what is not a plan of this capalloc with a message saying what to do."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from capalloc.optimizer import __version__
from capalloc.optimizer.cli import app
from capalloc.optimizer.outputs.plan_io import PlanDirError, open_plan_dir
from tests.conftest import INSTANCES


@pytest.fixture(scope="module")
def tiny_plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("plans") / "tiny"
    result = CliRunner().invoke(app, ["solve", str(INSTANCES / "tiny.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_plan_dir_carries_the_instance_it_solves(tiny_plan, tmp_path):
    opened = open_plan_dir(tiny_plan)
    assert opened.instance.name == "tiny"
    # Solving the stored instance again gives the same plan: the instance.json is complete.
    copy = tmp_path / "again" / "instance.json"
    copy.parent.mkdir()
    shutil.copy(tiny_plan / "instance.json", copy)
    result = CliRunner().invoke(app, ["solve", str(copy), "-o", str(tmp_path / "p2")])
    assert result.exit_code == 0, result.output
    again = open_plan_dir(tmp_path / "p2")
    assert again.plan.decisions == opened.plan.decisions
    assert again.plan.npv_usd == opened.plan.npv_usd


def test_missing_folder_and_files_are_refused(tmp_path):
    with pytest.raises(PlanDirError, match="no such plan directory"):
        open_plan_dir(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(PlanDirError, match="is a file"):
        open_plan_dir(tmp_path / "file.txt")
    with pytest.raises(PlanDirError, match="no plan.json"):
        open_plan_dir(tmp_path)


def test_a_sweep_folder_is_not_a_plan(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / ".capalloc").write_text(json.dumps({"kind": "sweep", "format": 1, "written_by": "capalloc"}))
    with pytest.raises(PlanDirError, match="is a sweep folder"):
        open_plan_dir(sweep)


def test_a_plan_of_another_version_is_refused(tiny_plan, tmp_path):
    other = tmp_path / "old"
    shutil.copytree(tiny_plan, other)
    plan = json.loads((other / "plan.json").read_text())
    plan["provenance"]["capalloc_version"] = "0.0.1"
    (other / "plan.json").write_text(json.dumps(plan))
    with pytest.raises(PlanDirError, match=f"capalloc 0.0.1, this is capalloc {__version__}"):
        open_plan_dir(other)


def test_a_plan_without_its_instance_is_refused(tiny_plan, tmp_path):
    other = tmp_path / "bare"
    shutil.copytree(tiny_plan, other)
    (other / "instance.json").unlink()
    with pytest.raises(PlanDirError, match="has no instance.json"):
        open_plan_dir(other)
