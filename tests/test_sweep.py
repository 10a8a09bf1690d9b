"""Sensitivity sweeps: spec expansion, runner backends, crash-safe store, charts, break-even.

Reference values come from solving each generated instance on its own (the ordinary
pipeline), never from a previous sweep's output.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from capalloc.models import load_instance, validate_instance_data
from capalloc.models.sweep import SweepSpecError, parse_path, validate_sweep_data
from capalloc.optimizer.pipeline import solve_instance
from capalloc.optimizer.solving.solve import SolveSettings
from capalloc.optimizer.sweep.breakeven import BreakevenError, find_breakeven
from capalloc.optimizer.sweep.expand import Expansion, expand_file
from capalloc.optimizer.sweep.paths import PathError, resolve
from capalloc.optimizer.sweep.runner import run_sweep
from capalloc.optimizer.sweep.store import ResultStore
from capalloc.optimizer.sweep.worker import TIMING_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny.yaml"
TWO_SITES = ROOT / "instances" / "two_sites.yaml"
LEASE = "sites[alpha].ai_phases[hall1].lease_usd_per_kw_month"
BTC = "market.scenarios[base].btc_price_usd"


def write_spec(folder: Path, body: dict, name: str = "spec.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"base": str(TINY), **body}
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def grid_spec(folder: Path, btc: list[float], lease: list[float], name: str = "spec.yaml") -> Path:
    return write_spec(folder, {"design": "grid", "parameters": [
        {"name": "btc", "path": BTC, "factors": btc},
        {"name": "lease", "path": LEASE, "values": lease},
    ]}, name)


def comparable(records: list[dict]) -> list[dict]:
    """Rows without wall-clock timings (the only columns allowed to differ between runs)."""
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in records]


def solve_alone(instance):
    return solve_instance(instance, instance_sha256="", settings=SolveSettings.from_instance(instance),
                          audit=False).result.plan


# ----------------------------------------------------------------------------- spec and paths


def test_path_syntax_and_resolution():
    assert [str(s) for s in parse_path("sites[alpha].ai_phases[*].pue")] == [
        ".sites", "[alpha]", ".ai_phases", "[*]", ".pue"]
    data = load_instance(TINY).model_dump(mode="python")
    # the market shorthand is normalized into scenarios[base]
    assert [t.value for t in resolve(data, BTC)] == [90000.0]
    assert [t.label for t in resolve(data, "sites[0].ai_phases[*].pue")] == [
        "sites[alpha].ai_phases[hall1].pue"]
    assert resolve(data, "fleet[s19xp].sites_at_start.alpha")[0].value == 80.0
    for bad, words in [("sites[beta].uptime_pct", "no element with id or name 'beta'"),
                       ("sites[alpha].uptime", "unknown field 'uptime'"),
                       ("sites[3].uptime_pct", "out of range"),
                       ("market.btc_price_usd", "unknown field 'btc_price_usd'"),
                       ("sites.uptime_pct", "is a list")]:
        with pytest.raises(PathError, match=words):
            resolve(data, bad)
    with pytest.raises(ValueError):
        parse_path("sites[alpha]..pue")


def test_spec_model_rejects_bad_shapes():
    def problems(body):
        with pytest.raises(SweepSpecError) as info:
            validate_sweep_data({"base": "x.yaml", **body})
        return str(info.value)

    assert "empty range" in problems({"design": "grid", "parameters": [{"path": BTC, "values": []}]})
    assert "exactly one of" in problems(
        {"design": "grid", "parameters": [{"path": BTC, "values": [1], "factors": [2]}]})
    assert "needs a distribution" in problems({"design": "lhs", "samples": 3,
                                              "parameters": [{"path": BTC, "factors": [1]}]})
    assert "empty range" in problems({"design": "random", "samples": 3, "parameters": [
        {"path": BTC, "distribution": {"kind": "uniform", "low": 2, "high": 2}}]})
    assert "bogus: Extra inputs are not permitted" in problems(
        {"design": "grid", "parameters": [{"path": BTC, "values": [1]}], "bogus": 1})


def test_factors_shifts_and_series(tmp_path):
    """A factor scales a growth series' start value; a shift moves every month of it."""
    raw = yaml.safe_load(TINY.read_text())
    raw["market"]["btc_price_usd"] = {"start_value": 90000.0, "growth_pct_per_year": 12.0}
    base = tmp_path / "growth.yaml"
    base.write_text(yaml.safe_dump(raw))
    spec = write_spec(tmp_path, {"base": str(base), "design": "grid", "parameters": [
        {"name": "f", "path": BTC, "factors": [1.5]},
        {"name": "s", "path": BTC, "shifts": [-1000.0]},
        {"name": "lead", "path": "sites[alpha].ai_phases[hall1].lead_time_months", "factors": [1.3]},
    ]})
    base_values = load_instance(base).market.scenarios[0].btc_price_usd.values("2026-07", 36)
    with expand_file(spec) as expansion:
        (point,) = expansion.points
        instance = expansion.instance(point)
        series = instance.market.scenarios[0].btc_price_usd
        got = series.values(instance.start, instance.horizon_months)
        want = [v * 1.5 - 1000.0 for v in base_values]
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-6
        assert instance.sites[0].ai_phases[0].lead_time_months == 16  # 12 x 1.3 = 15.6 -> 16


def test_oat_and_lhs_designs(tmp_path):
    oat = write_spec(tmp_path, {"design": "oat", "parameters": [
        {"name": "btc", "path": BTC, "factors": [0.8, 1.0, 1.2]},
        {"name": "lead", "path": "sites[alpha].ai_phases[hall1].lead_time_months",
         "values": [9, 12, 18]},
    ]}, "oat.yaml")
    with expand_file(oat) as expansion:
        params = [p.params for p in expansion.points]
    # the base point, then each non-base level of each parameter alone
    assert params == [{"btc": 1.0, "lead": 12}, {"btc": 0.8, "lead": 12}, {"btc": 1.2, "lead": 12},
                      {"btc": 1.0, "lead": 9}, {"btc": 1.0, "lead": 18}]

    n = 20
    body = {"design": "lhs", "samples": n, "seed": 7, "parameters": [
        {"name": "u", "path": BTC, "distribution": {"kind": "uniform", "low": 50000, "high": 150000}},
        {"name": "t", "path": LEASE,
         "distribution": {"kind": "triangular", "low": 100, "mode": 120, "high": 200}},
        {"name": "n", "path": "sites[alpha].power_price_usd_per_mwh", "apply": "shift",
         "distribution": {"kind": "normal", "mean": 0, "std": 30, "low": -20, "high": 20}},
        {"name": "lead", "path": "sites[alpha].ai_phases[hall1].lead_time_months",
         "distribution": {"kind": "uniform", "low": 6, "high": 24}},
    ]}
    with expand_file(write_spec(tmp_path, body, "lhs.yaml")) as expansion:
        draws = [p.params for p in expansion.points]
        expansion.validate_all()
    with expand_file(write_spec(tmp_path, body, "lhs2.yaml")) as again:
        assert [p.params for p in again.points] == draws  # same seed, same points
    strata = sorted(int((d["u"] - 50000) / 100000 * n) for d in draws)
    assert strata == list(range(n))  # Latin hypercube: one draw per stratum
    assert all(100 <= d["t"] <= 200 and -20 <= d["n"] <= 20 for d in draws)
    assert all(isinstance(d["lead"], int) for d in draws)


# ----------------------------------------------------------------------------- acceptance


def _grid_base() -> Path:
    return TWO_SITES if TWO_SITES.is_file() else TINY


@pytest.mark.slow
def test_grid_matches_solving_each_instance_alone(tmp_path):
    """3x3 grid: each point's NPV equals the NPV of its instance solved on its own."""
    base = _grid_base()
    spec = write_spec(tmp_path, {"base": str(base), "design": "grid", "parameters": [
        {"name": "btc", "path": "market.scenarios[*].btc_price_usd", "factors": [0.7, 1.0, 1.3]},
        {"name": "capex", "path": "sites[*].ai_phases[*].capex_usd_per_mw_it",
         "factors": [0.8, 1.0, 1.2]},
    ]})
    run = run_sweep(spec, tmp_path / "out", progress=False)
    assert run.total == 9 and run.solved_now == 9
    records = ResultStore(tmp_path / "out").records()
    assert [r["point_id"] for r in records] == [f"p{i:04d}" for i in range(9)]
    with expand_file(spec) as expansion:
        for point, record in zip(expansion.points, records, strict=True):
            data = yaml.safe_load(yaml.safe_dump(expansion.point_data(point)))
            alone = solve_alone(validate_instance_data(data, "alone", base_dir=expansion.base_dir))
            assert record["status"] == "optimal"
            assert record["npv_usd"] == alone.npv_usd, point.point_id
            signed = {f"{s.site}/{s.phase}": s.signing_month for s in alone.decisions.signings}
            for key, month in signed.items():
                assert record[f"signing.{key}"] == month
    # the grid's heatmaps and decision map exist
    for name in ("results.csv", "summary.csv", "heatmap_npv.png", "heatmap_npv.csv", "decision_map.png"):
        assert (tmp_path / "out" / name).is_file(), name


def test_tiny_grid_rows_and_charts(tmp_path):
    """Fast version on tiny: rows equal solving alone; tables and charts are written."""
    spec = grid_spec(tmp_path, [0.7, 1.3], [100.0, 150.0])
    run_sweep(spec, tmp_path / "out", progress=False)
    records = ResultStore(tmp_path / "out").records()
    with expand_file(spec) as expansion:
        for point, record in zip(expansion.points, records, strict=True):
            alone = solve_alone(expansion.instance(point))
            assert record["npv_usd"] == alone.npv_usd
            assert record["mw_signed.alpha"] == sum(s.critical_it_mw for s in alone.decisions.signings)
    out = tmp_path / "out"
    for name in ("heatmap_npv.png", "heatmap_first_signing.alpha.png", "decision_map.csv",
                 "summary.csv"):
        assert (out / name).stat().st_size > 0, name
    lines = (out / "heatmap_npv.csv").read_text().splitlines()
    assert lines[0] == "btc \\ lease,100.0,150.0" and len(lines) == 3


def test_oat_tornado(tmp_path):
    spec = write_spec(tmp_path, {"design": "oat", "parameters": [
        {"name": "btc", "path": BTC, "factors": [0.7, 1.3]},
        {"name": "lease", "path": LEASE, "shifts": [-30.0, 10.0]},
    ]})
    run_sweep(spec, tmp_path / "out", progress=False)
    rows = (tmp_path / "out" / "tornado.csv").read_text().splitlines()
    assert len(rows) == 3 and (tmp_path / "out" / "tornado.png").is_file()
    records = {r["point_id"]: r for r in ResultStore(tmp_path / "out").records()}
    base_npv = solve_alone(load_instance(TINY)).npv_usd
    assert records["p0000"]["npv_usd"] == base_npv


@pytest.mark.slow
def test_dask_and_local_pool_give_identical_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = grid_spec(tmp_path, [0.7, 1.0, 1.3], [100.0, 150.0])
    run_sweep(spec, tmp_path / "pool", workers=2, progress=False, charts=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        run = run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address,
                        progress=False, charts=False)
    assert run.solved_now == 6
    pool = comparable(ResultStore(tmp_path / "pool").records())
    dask = comparable(ResultStore(tmp_path / "dask").records())
    assert len(pool) == 6 and pool == dask
    assert (tmp_path / "pool" / "results.csv").read_text().splitlines()[0] == \
        (tmp_path / "dask" / "results.csv").read_text().splitlines()[0]


@pytest.mark.slow
def test_sigkill_then_resume_finds_every_point_once(tmp_path):
    spec = grid_spec(tmp_path, [0.6, 0.8, 1.0, 1.2, 1.4, 1.6], [90.0, 110.0, 130.0, 150.0, 170.0])
    total = 30
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "capalloc.optimizer.cli", "sweep", str(spec), "-o", str(out), "-q",
         "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    parts = out / "parts"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if parts.is_dir() and len(list(parts.glob("p*.json"))) >= 4:
                break
            if process.poll() is not None:
                pytest.fail(f"sweep ended early: {process.stderr.read().decode()}")
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the pool's workers share its session
            os.killpg(process.pid, signal.SIGKILL)
    survived = sorted(p.stem for p in parts.glob("p*.json"))
    assert 4 <= len(survived) < total, "the sweep must be killed part-way"
    for file in parts.glob("p*.json"):
        json.loads(file.read_text())  # every part is whole
    # a write cut short by a crash: a temp file that resume must ignore
    (parts / ".p0029.json.tmp-12345").write_text('{"point_id": "p0029", "npv_u')

    resumed = run_sweep(spec, out, resume=True, progress=False, charts=False)
    assert resumed.done_before == len(survived)
    assert resumed.solved_now == total - len(survived)
    assert not list(parts.glob(".*tmp*"))

    run_sweep(spec, tmp_path / "clean", progress=False, charts=False)
    after = ResultStore(out).records()
    ids = [r["point_id"] for r in after]
    assert ids == sorted(set(ids)) and len(ids) == total
    assert comparable(after) == comparable(ResultStore(tmp_path / "clean").records())
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == total + 1


def test_resume_refuses_a_different_sweep(tmp_path):
    spec = grid_spec(tmp_path, [1.0], [150.0])
    run_sweep(spec, tmp_path / "out", progress=False, charts=False)
    with pytest.raises(SweepSpecError, match="already holds a sweep"):
        run_sweep(spec, tmp_path / "out", progress=False, charts=False)
    other = grid_spec(tmp_path, [1.1], [150.0], "other.yaml")
    with pytest.raises(SweepSpecError, match="different sweep"):
        run_sweep(other, tmp_path / "out", resume=True, progress=False, charts=False)
    again = run_sweep(spec, tmp_path / "out", resume=True, progress=False, charts=False)
    assert again.done_before == 1 and again.solved_now == 0


# ----------------------------------------------------------------------------- break-even


def test_breakeven_flips_between_its_bracket(tmp_path):
    result = find_breakeven(TINY, LEASE, 60.0, 150.0, "signed:alpha/hall1", tol=0.5)
    assert result.high - result.low <= 0.5
    assert result.low < result.value < result.high

    def signed_at(value: float) -> bool:
        raw = yaml.safe_load(TINY.read_text())
        raw["sites"][0]["ai_phases"][0]["lease_usd_per_kw_month"] = value
        plan = solve_alone(validate_instance_data(raw, "check", base_dir=TINY.parent))
        return any(s.phase == "hall1" for s in plan.decisions.signings)

    assert signed_at(result.low) is False
    assert signed_at(result.high) is True
    assert result.state_low == "not signed" and result.state_high.startswith("signed")


def test_breakeven_signed_by_and_errors():
    # BTC price rises -> mining pays -> the phase is signed later (or not) : decision differs
    result = find_breakeven(TINY, BTC, 90000.0, 140000.0, "signed_by:alpha/hall1:2027-06", tol=2000)
    assert result.high - result.low <= 2000
    assert result.state_low == "signed by 2027-06" and result.state_high == "not signed by 2027-06"
    with pytest.raises(BreakevenError, match="the same at LO"):
        find_breakeven(TINY, LEASE, 140.0, 150.0, "signed:alpha/hall1")
    with pytest.raises(BreakevenError, match="no AI phase"):
        find_breakeven(TINY, LEASE, 60.0, 150.0, "signed:alpha/nope")
    with pytest.raises(BreakevenError, match="does not hold a number"):
        find_breakeven(TINY, "sites[alpha].id", 1, 2, "npv_positive")


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def no_solve(monkeypatch):
    """Fail the test if anything reaches a solve."""
    from capalloc.optimizer.sweep import worker

    def forbidden(*args, **kwargs):
        raise AssertionError("a solve started")

    monkeypatch.setattr(worker.PointSolver, "solve", forbidden)


@pytest.mark.parametrize("parameter, words", [
    ({"name": "x", "path": "sites[georgia].uptime_pct", "factors": [1.1]},
     "parameters[x].path: sites has no element with id or name 'georgia'"),
    ({"name": "x", "path": "sites[alpha].ai_phases[*].capex_usd_per_mw", "factors": [1.1]},
     "unknown field 'capex_usd_per_mw'"),
    ({"name": "x", "path": "sites[alpha].ai_phases[hall1].conversion", "factors": [1.1]},
     "parameters[x].factors[0]: sites[alpha].ai_phases[hall1].conversion holds text"),
    ({"name": "x", "path": LEASE, "values": [150.0, "cheap"]},
     "parameters[x].values[1]: sites[alpha].ai_phases[hall1].lease_usd_per_kw_month holds a number"),
    ({"name": "x", "path": LEASE, "values": []}, "parameters[x].values: empty range"),
    ({"name": "x", "path": LEASE, "values": [150.0, -1.0]},
     "lease_usd_per_kw_month: -1 is outside the plausible range 0 to 10000 USD/kW-month"),
])
def test_bad_spec_exits_2_before_any_solve(tmp_path, no_solve, parameter, words):
    from capalloc.optimizer.cli import app

    spec = write_spec(tmp_path, {"design": "grid", "parameters": [parameter]})
    result = CliRunner().invoke(app, ["sweep", str(spec), "-o", str(tmp_path / "out"), "-q"])
    text = " ".join((result.output + (result.stderr or "")).split())
    assert result.exit_code == 2, text
    assert words in text
    assert not (tmp_path / "out").exists()


def test_cli_sweep_and_breakeven(tmp_path):
    from capalloc.optimizer.cli import app

    runner = CliRunner()
    spec = grid_spec(tmp_path, [1.0], [100.0, 150.0])
    result = runner.invoke(app, ["sweep", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "sweep summary" in result.output and "2 point(s) solved" in result.output
    result = runner.invoke(app, ["breakeven", str(TINY), "--param", LEASE, "--range", "140", "150",
                                 "--watch", "signed:alpha/hall1"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["breakeven", str(TINY), "--param", LEASE, "--range", "60", "150",
                                 "--watch", "signed:alpha/hall1", "--tol", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["high"] - report["low"] <= 2 and math.isfinite(report["breakeven"])


def test_example_specs_expand():
    for name in ("two_sites_grid.yaml", "cleanspark_tornado.yaml"):
        path = ROOT / "instances" / "sweeps" / name
        spec_base = yaml.safe_load(path.read_text())["base"]
        assert (path.parent / spec_base).resolve().is_file(), f"{name}: base instance missing"
        with expand_file(path) as expansion:
            expansion.validate_all()
            assert isinstance(expansion, Expansion) and expansion.points


def test_point_data_is_a_copy(tmp_path):
    with expand_file(grid_spec(tmp_path, [0.5, 2.0], [10.0])) as expansion:
        before = copy.deepcopy(expansion.base_data)
        for point in expansion.points:
            expansion.point_data(point)
        assert expansion.base_data == before


def test_csv_series_scaled_and_shifted(tmp_path):
    """A CSV series is scaled month by month; the base folder is left untouched."""
    raw = yaml.safe_load(TINY.read_text())
    months = [f"{2026 + (6 + t) // 12}-{(6 + t) % 12 + 1:02d}" for t in range(36)]
    lines = ["month,price"] + [f"{m},{40 + t}" for t, m in enumerate(months)]
    (tmp_path / "power.csv").write_text("\n".join(lines) + "\n")
    raw["sites"][0]["power_price_usd_per_mwh"] = {"csv": "power.csv", "column": "price"}
    (tmp_path / "inst.yaml").write_text(yaml.safe_dump(raw))
    spec = write_spec(tmp_path, {"base": "inst.yaml", "design": "grid", "parameters": [
        {"name": "p", "path": "sites[alpha].power_price_usd_per_mwh", "factors": [0.5, 2.0]},
        {"name": "s", "path": "sites[*].power_price_usd_per_mwh", "shifts": [1.0]},
    ]})
    with expand_file(spec) as expansion:
        expansion.validate_all()
        for point, factor in zip(expansion.points, (0.5, 2.0), strict=True):
            instance = expansion.instance(point)
            got = instance.sites[0].power_price_usd_per_mwh.values(instance.start, 36)
            assert got == [(40 + t) * factor + 1.0 for t in range(36)]
        run = run_sweep(spec, tmp_path / "out", workers=2, progress=False, charts=False)
    assert run.counts["optimal"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inst.yaml", "out", "power.csv", "spec.yaml"]


def test_a_failing_worker_aborts_the_sweep_naming_its_point() -> None:
    from concurrent.futures import Future

    from capalloc.optimizer.sweep.runner import SweepAborted, _record

    done: Future = Future()
    done.set_result({"point_id": "p0001"})
    assert _record(done, "p0001", "the worker") == {"point_id": "p0001"}
    failed: Future = Future()
    failed.set_exception(MemoryError("out of memory"))
    with pytest.raises(SweepAborted, match=r"point p0007: the worker failed \(MemoryError: out of memory\)"):
        _record(failed, "p0007", "the worker")
