"""The Python API (issue 16): the README's example runs as written, and the functions
return what they say (checked against the CLI's files and the independent audit)."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

import capalloc
from tests.conftest import INSTANCES, ROOT


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    (tmp_path / "instances").mkdir()
    shutil.copy(INSTANCES / "tiny.yaml", tmp_path / "instances" / "tiny.yaml")
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    assert (tmp_path / "plans" / "tiny" / "plan.json").is_file()
    assert (tmp_path / "plans" / "tiny" / "report.html").is_file()
    assert "NPV $" in capsys.readouterr().out


def test_solve_returns_the_tables_the_cli_writes(tmp_path):
    plan = capalloc.solve(INSTANCES / "tiny.yaml", out_dir=tmp_path / "p")
    assert plan.out_dir == tmp_path / "p"
    for name in ("leases", "sites_monthly", "cashflow_monthly"):
        written = pd.read_csv(tmp_path / "p" / f"{name}.csv")
        pd.testing.assert_frame_equal(getattr(plan, name).reset_index(drop=True), written, check_dtype=False)
    report = capalloc.audit(INSTANCES / "tiny.yaml", plan)
    assert report.passed and report.npv_usd == pytest.approx(plan.npv_usd, rel=1e-9)
    assert list(plan.kpis["scenario"]) == [k.scenario for k in plan.plan.kpis]


def test_bad_input_raises_the_instance_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    with pytest.raises(capalloc.InstanceError):
        capalloc.load_instance(bad)
