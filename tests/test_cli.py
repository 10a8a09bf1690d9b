"""The `capalloc` command line: exit codes, messages naming the field, nothing written on
failure, a valid solve writing the four plan files, and byte-identical re-solves."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import make_instance, make_phase, month_days, month_label

PLAN_FILES = ("plan.json", "sites_monthly.csv", "cashflow_monthly.csv", "leases.csv")
START, T = "2027-01", 12


def capalloc_executable() -> str:
    beside = Path(sys.executable).parent / "capalloc"
    if beside.exists():
        return str(beside)
    found = shutil.which("capalloc")
    assert found, "the capalloc console script is not installed"
    return found


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return run_cli_many([list(args)], cwd=cwd)[0]


def run_cli_many(commands: list[list[str | Path]], cwd: Path) -> list[subprocess.CompletedProcess]:
    """Run several capalloc commands side by side (each pays the interpreter's start-up)."""
    running = [
        (command, subprocess.Popen([capalloc_executable(), *map(str, command)], cwd=cwd,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for command in commands
    ]
    results = []
    for command, process in running:
        stdout, stderr = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return results


def flat(text: str) -> str:
    """Messages as one line (the console may wrap long lines at spaces)."""
    return re.sub(r"\s+", " ", text)


def valid_data() -> dict[str, Any]:
    """A tiny valid instance: 5 MW of profitable miners and one retrofit AI phase, 12 months."""
    return make_instance(
        start=START, horizon=T,
        phases=[make_phase(critical_it_mw=2.0, lead_time_months=4, conversion="retrofit")],
        site={"mining_infrastructure_mw": 8.0,
              "energization": [{"from_month": START, "contracted_mw": 12.0}]},
        fleet=[{"id": "s19", "installed_mw": 5.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 5.0}}],
        finance={"starting_cash_usd": 10e6, "minimum_cash_usd": 1e6},
    )


def write_instance(folder: Path, data: dict[str, Any], name: str = "instance.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_prices_csv(path: Path, months: list[str], price_of) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["month", "usd"])
        for month in months:
            writer.writerow([month, price_of(month)])


def horizon_months() -> list[str]:
    return [month_label(START, t) for t in range(T)]


# ------------------------------------------------------------------ invalid input: exit 2


def _phase(data):
    return data["sites"][0]["ai_phases"][0]


def wrong_type(data):
    _phase(data)["critical_it_mw"] = "2.0"  # a string for a number


def negative_mw(data):
    data["sites"][0]["energization"][0]["contracted_mw"] = -12.0


def negative_fleet_mw(data):
    data["fleet"][0]["installed_mw"] = -5.0


def lead_time_zero(data):
    _phase(data)["lead_time_months"] = 0


def spend_profile_not_one(data):
    _phase(data)["spend_profile"] = [0.5, 0.3]


def unknown_site(data):
    data["fleet"][0]["sites_at_start"] = {"beta": 5.0}


def missing_csv(data):
    data["sites"][0]["power_price_usd_per_mwh"] = {"csv": "prices.csv", "column": "usd"}


def unknown_key(data):
    data["sites"][0]["colour"] = "red"


INVALID = [
    (wrong_type, ["sites[alpha].ai_phases[hall1].critical_it_mw"]),
    (negative_mw, ["sites[alpha].energization[0].contracted_mw"]),
    (negative_fleet_mw, ["fleet[s19].installed_mw"]),
    (lead_time_zero, ["sites[alpha].ai_phases[hall1].lead_time_months"]),
    (spend_profile_not_one, ["sites[alpha].ai_phases[hall1].spend_profile", "sum"]),
    (unknown_site, ["fleet[s19].sites_at_start.beta", "unknown site"]),
    (missing_csv, ["sites[alpha].power_price_usd_per_mwh", "prices.csv"]),
    (unknown_key, ["sites[alpha].colour"]),
]


@pytest.mark.parametrize(("mutate", "expected"), INVALID, ids=[m.__name__ for m, _ in INVALID])
def test_invalid_instance_exit_2_names_the_field(tmp_path, mutate, expected):
    data = valid_data()
    mutate(data)
    instance = write_instance(tmp_path / "in", data)
    out = tmp_path / "plans" / "p"
    results = run_cli_many([["validate", instance], ["solve", instance, "-o", out, "--quiet"]],
                           cwd=tmp_path)
    for result in results:
        assert result.returncode == 2, (result.args, result.stderr)
        message = flat(result.stderr)
        for fragment in expected:
            assert fragment in message, (result.args, message)
        assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "plans").exists()


def test_missing_csv_is_reported_once_without_a_spurious_type_error(tmp_path):
    """DESIGN: one readable message per problem. A series written as {csv, column} whose
    file is missing is one problem (the file); it is not also 'not a valid number'."""
    data = valid_data()
    missing_csv(data)
    instance = write_instance(tmp_path / "in", data)
    result = run_cli("validate", instance, cwd=tmp_path)
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, result.stderr
    assert "valid number" not in flat(result.stderr)


def test_csv_missing_a_horizon_month_exit_2(tmp_path):
    folder = tmp_path / "in"
    months = [m for m in horizon_months() if m != "2027-05"]
    write_prices_csv(folder / "prices.csv", months, lambda m: 40.0)
    data = valid_data()
    missing_csv(data)  # now the file exists but lacks May 2027
    instance = write_instance(folder, data)
    commands = [["validate", instance], ["solve", instance, "-o", tmp_path / "plans" / "p", "--quiet"]]
    for result in run_cli_many(commands, cwd=tmp_path):
        assert result.returncode == 2, result.stderr
        message = flat(result.stderr)
        assert "sites[alpha].power_price_usd_per_mwh" in message and "2027-05" in message, message
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "plans").exists()


# ------------------------------------------------------------------ infeasible: exit 3


def test_infeasible_floor_above_cash_exit_3(tmp_path):
    """$1M of cash, a $2M floor, and nothing that earns: the floor fails in the first month."""
    data = make_instance(start=START, horizon=6,
                         finance={"starting_cash_usd": 1e6, "minimum_cash_usd": 2e6})
    instance = write_instance(tmp_path / "in", data)
    result = run_cli("solve", instance, "-o", tmp_path / "plans" / "p", "--quiet", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    message = flat(result.stderr)
    assert "minimum cash" in message and "finance.minimum_cash_usd" in message, message
    assert "2027-01" in message  # the first month it cannot be held
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "plans").exists()


# ------------------------------------------------------------------ valid solves: exit 0


def test_valid_instance_validates(tmp_path):
    instance = write_instance(tmp_path / "in", valid_data())
    result = run_cli("validate", instance, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_validate_notes_a_phase_over_the_signing_cap_and_those_after_it(tmp_path):
    """Cap 10 MW per year; the site's phases are 5, 12 and 5 MW: the second can never be
    signed, nor the third, which follows it. That is a note (exit 0), not an error; the
    instance's first phase, under the cap, is not mentioned, and without a cap nothing is."""
    phases = [make_phase(id="hall1", critical_it_mw=5.0), make_phase(id="hall2", critical_it_mw=12.0),
              make_phase(id="hall3", critical_it_mw=5.0)]
    capped = write_instance(tmp_path / "capped", make_instance(phases=phases, signing_cap_mw_per_year=10.0))
    uncapped = write_instance(tmp_path / "uncapped", make_instance(phases=phases))
    noted, quiet = run_cli_many([["validate", capped], ["validate", uncapped]], cwd=tmp_path)
    assert noted.returncode == 0 and quiet.returncode == 0, noted.stderr + quiet.stderr
    message = flat(noted.stderr)
    assert "sites[alpha].ai_phases[hall2] has 12 MW of critical IT" in message
    assert "signing_cap_mw_per_year (10 MW): it can never be signed; nor can hall3 after it" in message
    assert "hall1" not in message
    assert "note" not in quiet.stderr


def test_valid_solve_writes_plan_files_and_is_byte_identical(tmp_path):
    instance = write_instance(tmp_path / "in", valid_data())
    outputs = [tmp_path / "plans" / name for name in ("first", "second")]
    results = run_cli_many([["solve", instance, "-o", out, "--quiet"] for out in outputs], cwd=tmp_path)
    for out, result in zip(outputs, results, strict=True):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        for file in PLAN_FILES:
            assert (out / file).is_file(), file
    for file in PLAN_FILES:
        assert (outputs[0] / file).read_bytes() == (outputs[1] / file).read_bytes(), file


def test_csv_series_is_read_relative_to_the_instance_file(tmp_path):
    """The instance lives in in/ with its CSV in in/data/; the command runs from elsewhere.
    The power price rises $1/MWh a month from $30: the plan's power bill must follow it.
    With 5 MW running at PUE 1.05 and 100 % uptime, month t costs 5 x 1.05 x 24 x days x p_t."""
    folder = tmp_path / "in"
    months = horizon_months()
    prices = {m: 30.0 + i for i, m in enumerate(months)}
    write_prices_csv(folder / "data" / "prices.csv", ["2026-12", *months, "2028-01"],
                     lambda m: prices.get(m, 999.0))
    data = valid_data()
    data["sites"][0]["power_price_usd_per_mwh"] = {"csv": "data/prices.csv", "column": "usd"}
    instance = write_instance(folder, data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "plans" / "csv"
    validated, solved = run_cli_many([["validate", instance], ["solve", instance, "-o", out, "--quiet"]],
                                     cwd=elsewhere)
    assert validated.returncode == 0, validated.stderr
    assert solved.returncode == 0, solved.stderr
    assert all((out / file).is_file() for file in PLAN_FILES)

    from capalloc.models import load_instance
    from capalloc.optimizer.pipeline import solve_instance

    outcome = solve_instance(load_instance(instance), audit=False)
    sites = outcome.result.sites_monthly
    days = month_days(START, T)
    running = [float(v) for v in sites["mining_running_mw"]]
    expected = [running[t] * 1.05 * 24 * days[t] * prices[months[t]] for t in range(T)]
    assert [float(v) for v in sites["mining_power_cost_usd"]] == pytest.approx(expected, abs=0.01)
    assert max(running) > 0  # the miners do run, so the CSV prices are used


def test_highs_options_are_added_to_the_tuned_defaults(tmp_path, monkeypatch):
    """A planner who sets a HiGHS tuning option keeps capalloc's tuning (it used to be
    replaced, which made cleanspark_2026 take 17 s instead of 2 s inside HiGHS); a default is
    undone only by naming it. (File options such as log_file are refused since issue 12.)"""
    import highspy
    from typer.testing import CliRunner

    from capalloc.models import validate_instance_data
    from capalloc.models.instance import DEFAULT_HIGHS_OPTIONS
    from capalloc.optimizer.cli import app
    from capalloc.optimizer.solving.solve import SolveSettings

    data = make_instance(phases=[make_phase()])
    data["solver"]["highs_options"] = {"mip_detect_symmetry": False, "mip_allow_restart": True}
    instance = validate_instance_data(data)
    options = SolveSettings.from_instance(instance).highs_option_values()
    assert options["mip_detect_symmetry"] is False
    assert options["mip_allow_restart"] is True
    untouched = set(DEFAULT_HIGHS_OPTIONS) - {"mip_allow_restart"}
    assert untouched and all(options[name] is DEFAULT_HIGHS_OPTIONS[name] for name in untouched)

    # Every option set on any HiGHS during a real solve, to see the added one reach HiGHS.
    seen: list[tuple[str, Any]] = []
    original = highspy.Highs.setOptionValue

    def recording(self, name, value):
        seen.append((name, value))
        return original(self, name, value)

    monkeypatch.setattr(highspy.Highs, "setOptionValue", recording)
    path = tmp_path / "inst.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["solve", str(path), "-o", str(tmp_path / "plan"), "-q"])
    assert result.exit_code == 0, result.output
    assert ("mip_detect_symmetry", False) in seen and ("mip_allow_restart", True) in seen
    assert all((name, DEFAULT_HIGHS_OPTIONS[name]) in seen for name in untouched)
