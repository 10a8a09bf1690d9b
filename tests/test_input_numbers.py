"""Issue 12, bad numbers and HiGHS options: every figure finite and in its field's plausible
range (exit 2 naming the field and the range), series held to it month by month, the CLI's
--time-limit/--mip-gap finite, sweep specs finite, and solver.highs_options an allow-list
checked without HiGHS.

The ranges asserted here are written out by hand from the issue's brief and DOMAIN.md (e.g.
BTC 0 to 1e8 USD, hashrate 1e-3 to 1e7 EH/s), not read back from models.ranges.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from capalloc.models import validate_instance_data
from capalloc.models.loader import InstanceError
from capalloc.optimizer.cli import app
from tests.conftest import INSTANCES

TINY = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
NAN, INF = float("nan"), float("inf")


def tiny() -> dict[str, Any]:
    return copy.deepcopy(TINY)


def put(data: dict, path: str, value: Any) -> dict:
    """Set data at a dotted path whose list positions are numbers: sites.0.ai_phases.0.pue."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = data
    for key in parents:
        node = node[key]
    node[last] = value
    return data


def run_solve(folder: Path, data: dict, *extra: str, name: str = "inst.yaml") -> tuple[int, str, Path]:
    """`capalloc solve` in-process on data written to folder; (exit code, all text, out dir)."""
    file = folder / name
    if name.endswith(".json"):
        file.write_text(json.dumps(data))
    else:
        file.write_text(yaml.safe_dump(data))
    out = folder / "out"
    result = CliRunner().invoke(app, ["solve", str(file), "-o", str(out), "-q", *extra])
    text = " ".join((result.output + (result.stderr or "")).split())
    return result.exit_code, text, out


def problems_of(data: dict) -> str:
    """The validation problems of data, as one line of text ('' when it is valid)."""
    try:
        validate_instance_data(data)
    except InstanceError as error:
        return " ".join(str(error).split())
    return ""


# ----------------------------------------------------------------------------- ranges


@pytest.mark.parametrize("path, value, where, range_text", [
    ("sites.0.power_price_usd_per_mwh", 1e300, "sites[alpha].power_price_usd_per_mwh", "0 to 10000 USD/MWh"),
    ("sites.0.power_price_usd_per_mwh", -5.0, "sites[alpha].power_price_usd_per_mwh", "0 to 10000 USD/MWh"),
    ("sites.0.energization.0.contracted_mw", 2e5, "sites[alpha].energization[0].contracted_mw",
     "0 to 100000 MW"),
    ("sites.0.mining_infrastructure_mw", 1e300, "sites[alpha].mining_infrastructure_mw", "0 to 100000 MW"),
    ("sites.0.mining_opex_usd_per_mw_month", 1e8, "sites[alpha].mining_opex_usd_per_mw_month",
     "0 to 1e7 USD/MW-month"),
    ("sites.0.ai_phases.0.critical_it_mw", 0.0, "sites[alpha].ai_phases[hall1].critical_it_mw",
     "above 0 to 100000 MW"),
    ("sites.0.ai_phases.0.capex_usd_per_mw_it", 1e12, "sites[alpha].ai_phases[hall1].capex_usd_per_mw_it",
     "0 to 1e9 USD/MW"),
    ("sites.0.ai_phases.0.lease_usd_per_kw_month", 1e300,
     "sites[alpha].ai_phases[hall1].lease_usd_per_kw_month", "0 to 10000 USD/kW-month"),
    ("sites.0.ai_phases.0.opex_usd_per_mw_month", 1e300,
     "sites[alpha].ai_phases[hall1].opex_usd_per_mw_month", "0 to 1e7 USD/MW-month"),
    ("fleet.0.installed_mw", 1e300, "fleet[s19xp].installed_mw", "0 to 100000 MW"),
    ("fleet.0.efficiency_j_per_th", 0.5, "fleet[s19xp].efficiency_j_per_th", "1 to 1000 J/TH"),
    ("fleet.0.efficiency_j_per_th", 1e300, "fleet[s19xp].efficiency_j_per_th", "1 to 1000 J/TH"),
    ("fleet.0.salvage_usd_per_mw", 1e300, "fleet[s19xp].salvage_usd_per_mw", "0 to 1e9 USD/MW"),
    ("fleet.0.move_cost_usd_per_mw", -1.0, "fleet[s19xp].move_cost_usd_per_mw", "0 to 1e9 USD/MW"),
    ("fleet.0.sites_at_start.alpha", 1e300, "fleet[s19xp].sites_at_start.alpha", "0 to 100000 MW"),
    ("market.btc_price_usd", 2e8, "btc_price_usd", "0 to 1e8 USD/BTC"),
    ("market.network_hashrate_ehs", 1e-4, "network_hashrate_ehs", "0.001 to 1e7 EH/s"),
    ("market.network_hashrate_ehs", 1e300, "network_hashrate_ehs", "0.001 to 1e7 EH/s"),
    ("market.fees_btc_per_block", 1000.0, "fees_btc_per_block", "0 to 50 BTC/block"),
    ("market.initial_subsidy_btc_per_block", 100.0, "market.initial_subsidy_btc_per_block",
     "0 to 50 BTC/block"),
    ("market.blocks_per_day", 0.0, "market.blocks_per_day", "1 to 10000 blocks/day"),
    ("finance.starting_cash_usd", 1e300, "finance.starting_cash_usd", "0 to 1e13 USD"),
    ("finance.minimum_cash_usd", 2e13, "finance.minimum_cash_usd", "0 to 1e13 USD"),
    ("finance.btc_held_at_start_btc", 3e7, "finance.btc_held_at_start_btc", "0 to 2.1e7 BTC"),
    ("signing_cap_mw_per_year", 1e300, "signing_cap_mw_per_year", "0 to 100000 MW"),
    ("solver", {"time_limit_seconds": 1e300}, "solver.time_limit_seconds", "above 0 to 1e7 s"),
    ("market.btc_price_usd", {"start_value": 90000.0, "growth_pct_per_year": 1e300},
     "btc_price_usd.growth_pct_per_year", "-99 to 1000 %/year"),
    ("market.btc_price_usd", {"start_value": 90000.0, "growth_pct_per_year": -99.5},
     "btc_price_usd.growth_pct_per_year", "-99 to 1000 %/year"),
])
def test_a_figure_out_of_its_range_exits_2_naming_field_and_range(tmp_path, path, value, where, range_text):
    code, text, out = run_solve(tmp_path, put(tiny(), path, value))
    assert code == 2, text
    assert f"{where}:" in text and f"plausible range {range_text}" in text
    assert "Traceback" not in text and not out.exists()


@pytest.mark.parametrize("path", [
    "sites.0.power_price_usd_per_mwh", "sites.0.energization.0.contracted_mw",
    "sites.0.ai_phases.0.capex_usd_per_mw_it", "sites.0.ai_phases.0.lease_usd_per_kw_month",
    "sites.0.ai_phases.0.pue", "sites.0.ai_phases.0.spend_profile", "fleet.0.efficiency_j_per_th",
    "fleet.0.salvage_usd_per_mw", "market.btc_price_usd", "market.network_hashrate_ehs",
    "market.fees_btc_per_block", "finance.starting_cash_usd", "finance.project_debt.rate_pct_per_year",
    "discount_rate_pct_per_year",
])
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_nan_and_infinity_are_refused_everywhere(path, bad):
    value: Any = [0.5, bad] if path.endswith("spend_profile") else bad
    text = problems_of(put(tiny(), path, value))
    assert "finite number" in text, text
    assert path.split(".")[-1] in text


def test_nan_in_a_growth_series_and_in_highs_options_is_refused():
    data = put(tiny(), "market.btc_price_usd", {"start_value": NAN, "growth_pct_per_year": 5.0})
    assert "btc_price_usd.start_value: Input should be a finite number" in problems_of(data)
    data = put(tiny(), "solver", {"highs_options": {"mip_heuristic_effort": NAN}})
    assert "solver.highs_options.mip_heuristic_effort" in problems_of(data)


@pytest.mark.parametrize("value, code_today", [
    (NAN, 5),   # the audit recomputed NPV nan: "internal error ... please report"
    (1e300, 4),  # HiGHS stopped without a plan: "raise --time-limit"
])
def test_btc_price_that_ended_in_exit_5_or_4_now_exits_2(tmp_path, value, code_today):
    code, text, out = run_solve(tmp_path, put(tiny(), "market.btc_price_usd", value))
    assert code == 2 != code_today, text
    assert "btc_price_usd:" in text and "internal error" not in text and "no plan" not in text
    assert not out.exists()


def test_growth_rate_1e300_exits_2_instead_of_overflow_error(tmp_path):
    data = put(tiny(), "market.btc_price_usd", {"start_value": 90000.0, "growth_pct_per_year": 1e300})
    code, text, out = run_solve(tmp_path, data)
    assert code == 2, text
    assert "OverflowError" not in text and "Traceback" not in text and not out.exists()


def test_nan_in_a_json_instance_is_refused(tmp_path):
    # Python's json module reads NaN and Infinity tokens; they must not pass either.
    code, text, out = run_solve(tmp_path, put(tiny(), "finance.starting_cash_usd", INF), name="inst.json")
    assert code == 2 and "finance.starting_cash_usd" in text and not out.exists(), text


def test_range_ends_and_domain_figures_are_accepted():
    data = tiny()
    put(data, "market.btc_price_usd", 1e8)  # hashprice 1e8 x 144 x 53.125 / 1e6 = 7.65e5 $/PH/day
    put(data, "market.fees_btc_per_block", 50.0)
    put(data, "finance.starting_cash_usd", 1e13)
    put(data, "fleet.0.efficiency_j_per_th", 1.0)
    put(data, "sites.0.ai_phases.0.capex_usd_per_mw_it", 20e6)  # DOMAIN's stress capex
    put(data, "sites.0.ai_phases.0.critical_it_mw", 1e-6)  # above 0 is enough
    put(data, "sites.0.power_price_usd_per_mwh", 0.0)
    assert problems_of(data) == ""
    put(data, "fleet.0.efficiency_j_per_th", 1000.0)
    put(data, "market.fees_btc_per_block", 0.03)
    put(data, "market.network_hashrate_ehs", 1e-3)  # hashprice 1e5 x 144 x 3.155 / 1 = 4.5e7
    put(data, "market.btc_price_usd", {"start_value": 1e5, "growth_pct_per_year": -99.0})
    assert problems_of(data) == ""
    for name in ("cleanspark_2026.yaml", "two_sites.yaml"):
        validate_instance_data(yaml.safe_load((INSTANCES / name).read_text()), base_dir=INSTANCES)


def test_a_growth_series_is_held_to_its_range_month_by_month():
    # 90,000 x 11^(t/12) passes 1e8 first at t = 36: 11^(35/12) = 1090 gives 9.8e7, 11^3 = 1331
    # gives 1.2e8. Month 36 from 2026-07 is 2029-07.
    data = put(tiny(), "horizon_months", 48)
    put(data, "market.btc_price_usd", {"start_value": 90000.0, "growth_pct_per_year": 1000.0})
    text = problems_of(data)
    assert "btc_price_usd: 2029-07: 1.19" in text and "plausible range 0 to 1e8 USD/BTC" in text, text
    put(data, "horizon_months", 36)  # ends 2029-06: every month in range
    assert problems_of(data) == ""
    # 500 x 0.01^(t/12) falls below 1e-3 EH/s first at t = 35 (7.3e-4; t = 34 gives 1.08e-3):
    # month 2029-06.
    data = put(tiny(), "market.network_hashrate_ehs", {"start_value": 500.0, "growth_pct_per_year": -99.0})
    assert "network_hashrate_ehs: 2029-06: 0.000" in problems_of(data)


def test_market_figures_whose_hashprice_broke_highs_exit_2(tmp_path):
    # Each in its range, together 1e8 x 144 x (3.125 + 50) / (0.001 EH/s x 1000 PH/EH)
    # = 7.65e11 USD/PH/day: HiGHS stopped with an error and capalloc said "raise --time-limit".
    # tiny writes its market in shorthand, so the path is "market", as written.
    data = put(tiny(), "market.btc_price_usd", 1e8)
    put(data, "market.network_hashrate_ehs", 1e-3)
    put(data, "market.fees_btc_per_block", 50.0)
    code, text, out = run_solve(tmp_path, data)
    assert code == 2, text
    assert "market: 2026-07: hashprice" in text
    assert "7.65e11 is outside the plausible range 0 to 1e9 USD/PH/day" in text and not out.exists()


def test_the_hashprice_check_follows_the_subsidy_schedule():
    # 2e6 x 144 x 3.125 / 1 = 9e8 USD/PH/day passes; a subsidy of 6.25 from 2028-01 doubles it
    # to 1.8e9 from that month on.
    data = put(tiny(), "market.btc_price_usd", 2e6)
    put(data, "market.network_hashrate_ehs", 1e-3)
    put(data, "market.fees_btc_per_block", 0.0)
    put(data, "market.halvings", [{"month": "2028-04", "subsidy_btc_per_block": 1.5625}])
    assert problems_of(data) == ""
    put(data, "market.halvings", [{"month": "2028-01", "subsidy_btc_per_block": 6.25}])
    assert "market: 2028-01: hashprice" in problems_of(data)
    assert "1.8e9 is outside" in problems_of(data)


def write_csv(folder: Path, rows: dict[str, str]) -> None:
    lines = ["month,btc"] + [f"{month},{value}" for month, value in rows.items()]
    (folder / "prices.csv").write_text("\n".join(lines) + "\n")


def horizon_months(start: str = "2026-07", count: int = 36) -> list[str]:
    year, month = (int(x) for x in start.split("-"))
    out = []
    for t in range(count):
        ordinal = year * 12 + month - 1 + t
        out.append(f"{ordinal // 12:04d}-{ordinal % 12 + 1:02d}")
    return out


@pytest.mark.parametrize("bad", ["2e8", "1e300", "-1"])
def test_a_csv_series_is_held_to_its_range_naming_the_month(tmp_path, bad):
    rows = {month: "90000" for month in horizon_months()}
    rows["2027-03"] = bad
    write_csv(tmp_path, rows)
    data = put(tiny(), "market.btc_price_usd", {"csv": "prices.csv", "column": "btc"})
    code, text, out = run_solve(tmp_path, data)
    assert code == 2, text
    assert "btc_price_usd: 2027-03:" in text and "plausible range 0 to 1e8 USD/BTC" in text
    assert not out.exists()


def test_csv_rows_outside_the_horizon_are_not_range_checked(tmp_path):
    rows = {month: "90000" for month in horizon_months()}
    rows["2040-01"] = "1e300"  # never used: the horizon ends 2029-06
    write_csv(tmp_path, rows)
    data = put(tiny(), "market.btc_price_usd", {"csv": "prices.csv", "column": "btc"})
    (tmp_path / "inst.yaml").write_text(yaml.safe_dump(data))
    from capalloc.models import load_instance

    load_instance(tmp_path / "inst.yaml")


def test_whole_number_fields_are_bounded():
    text = problems_of(put(tiny(), "sites.0.ai_phases.0.prepayment_months", 10**30))
    assert "ai_phases[hall1].prepayment_months: Input should be less than or equal to 600" in text
    text = problems_of(put(tiny(), "solver", {"random_seed": 2**31}))
    assert "solver.random_seed: Input should be less than or equal to 2147483647" in text


def test_the_ranges_are_in_the_schema_and_the_descriptions():
    from capalloc.models.instance import Instance

    defs = Instance.model_json_schema()["$defs"]
    price = defs["MarketScenario"]["properties"]["btc_price_usd"]
    assert (price["minimum"], price["maximum"]) == (0, 1e8)
    assert price["description"].endswith("Plausible range: 0 to 1e8 USD/BTC.")
    hashrate = defs["MarketScenario"]["properties"]["network_hashrate_ehs"]
    assert (hashrate["minimum"], hashrate["maximum"]) == (1e-3, 1e7)
    it = defs["AIPhase"]["properties"]["critical_it_mw"]
    assert (it["exclusiveMinimum"], it["maximum"]) == (0, 1e5)
    placed = defs["FleetGeneration"]["properties"]["sites_at_start"]
    assert placed["additionalProperties"]["maximum"] == 1e5
    assert placed["description"].endswith("Plausible range: 0 to 100000 MW.")
    growth = defs["GrowthSeries"]["properties"]["growth_pct_per_year"]
    assert (growth["minimum"], growth["maximum"]) == (-99, 1000)
    assert "Plausible range" in defs["Finance"]["properties"]["starting_cash_usd"]["description"]


# ----------------------------------------------------------------------------- CLI options


@pytest.mark.parametrize("option", ["--time-limit", "--mip-gap"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_cli_time_limit_and_gap_must_be_finite(tmp_path, option, value):
    # Before: --time-limit nan and inf were handed to HiGHS (tiny solved, exit 0, plan written).
    code, text, out = run_solve(tmp_path, tiny(), f"{option}={value}")
    assert code == 2, text
    assert text.startswith(f"{option}: must be") and not out.exists()


@pytest.mark.parametrize("option, value", [
    ("--time-limit", "nan"), ("--time-limit", "inf"), ("--mip-gap", "nan"), ("--mip-gap", "inf"),
])
def test_breakeven_time_limit_and_gap_must_be_finite(monkeypatch, option, value):
    from capalloc.optimizer.sweep import worker

    def forbidden(*args, **kwargs):
        raise AssertionError("a solve started")

    monkeypatch.setattr(worker.PointSolver, "solve", forbidden)
    result = CliRunner().invoke(app, [
        "breakeven", str(INSTANCES / "tiny.yaml"), "--param",
        "sites[alpha].ai_phases[hall1].lease_usd_per_kw_month", "--range", "60", "150",
        "--watch", "signed:alpha/hall1", option, value])
    text = " ".join((result.output + (result.stderr or "")).split())
    assert result.exit_code == 2, text
    assert f"{option}: must be" in text


# ----------------------------------------------------------------------------- sweep specs


def run_sweep(folder: Path, spec: dict) -> tuple[int, str, Path]:
    (folder / "tiny.yaml").write_text(yaml.safe_dump(tiny()))
    (folder / "spec.yaml").write_text(yaml.safe_dump({"base": "tiny.yaml", **spec}))
    out = folder / "out"
    result = CliRunner().invoke(app, ["sweep", str(folder / "spec.yaml"), "-o", str(out), "-q"])
    return result.exit_code, " ".join((result.output + (result.stderr or "")).split()), out


BTC = "market.scenarios[base].btc_price_usd"


@pytest.mark.parametrize("spec, words", [
    ({"design": "grid", "parameters": [{"name": "x", "path": BTC, "values": [NAN]}]},
     "parameters[x].values[0]: Input should be a finite number"),
    ({"design": "grid", "parameters": [{"name": "x", "path": BTC, "factors": [INF]}]},
     "parameters[x].factors[0]: Input should be a finite number"),
    ({"design": "grid", "parameters": [{"name": "x", "path": BTC, "shifts": [-INF]}]},
     "parameters[x].shifts[0]: Input should be a finite number"),
    ({"design": "grid", "parameters": [{"name": "x", "path": BTC, "factors": [1e300]}]},
     "e304 is outside the plausible range 0 to 1e8 USD/BTC"),  # 90,000 x 1e300
    ({"design": "lhs", "samples": 3, "parameters": [
        {"name": "x", "path": BTC, "distribution": {"kind": "normal", "mean": 9e4, "std": INF}}]},
     "parameters[x].distribution.std: Input should be a finite number"),
    ({"design": "lhs", "samples": 3, "parameters": [
        {"name": "x", "path": BTC, "distribution": {"kind": "uniform", "low": NAN, "high": 1.0}}]},
     "parameters[x].distribution.low: Input should be a finite number"),
    ({"design": "grid", "parameters": [{"name": "x", "path": BTC, "factors": [1.0]}],
      "solver": {"time_limit_seconds": INF}}, "solver.time_limit_seconds: Input should be a finite number"),
    # Drawn before max_points was checked: a MemoryError traceback.
    ({"design": "lhs", "samples": 10**12, "parameters": [
        {"name": "x", "path": BTC, "distribution": {"kind": "uniform", "low": 1.0, "high": 2.0}}]},
     "samples (1000000000000) exceeds max_points (20000)"),
])
def test_sweep_specs_refuse_non_finite_and_absurd_numbers(tmp_path, spec, words):
    code, text, out = run_sweep(tmp_path, spec)
    assert code == 2, text
    assert words in text and "Traceback" not in text and not out.exists()


# ----------------------------------------------------------------------------- highs_options


FILE_OPTIONS = [
    ("log_file", "highs.log"), ("solution_file", "sol.txt"), ("write_solution_to_file", True),
    ("write_model_file", "model.mps"), ("write_model_to_file", True),
    ("mip_improving_solution_file", "improving.sol"), ("write_iis_model_file", "iis.lp"),
    ("read_solution_file", "/etc/passwd"), ("read_basis_file", "/etc/passwd"),
    ("write_presolved_model_file", "presolved.mps"),
]


@pytest.mark.parametrize("name, value", FILE_OPTIONS)
def test_highs_file_options_are_refused_and_nothing_is_written(tmp_path, name, value):
    target = tmp_path / str(value) if isinstance(value, str) and not value.startswith("/") else None
    option_value = str(target) if target else value
    code, text, out = run_solve(tmp_path, put(tiny(), "solver", {"highs_options": {name: option_value}}))
    assert code == 2, text
    assert f"solver.highs_options.{name}: is a HiGHS file option" in text
    assert not out.exists() and (target is None or not target.exists())


def test_validate_with_a_log_file_option_creates_no_file(tmp_path):
    log = tmp_path / "leak.log"
    (tmp_path / "inst.yaml").write_text(yaml.safe_dump(put(tiny(), "solver", {"highs_options": {
        "log_file": str(log)}})))
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "inst.yaml")])
    assert result.exit_code == 2 and not log.exists()


@pytest.mark.parametrize("name, value, words", [
    ("mip_heuristic_effort", 2.0, "2.0 is not allowed (hint: write a number from 0 to 1)"),
    ("mip_heuristic_effort", "high", "'high' is not allowed (hint: write a number from 0 to 1)"),
    ("presolve", "maybe", "(hint: write off | choose | on)"),
    ("mip_allow_restart", 1, "(hint: write true or false)"),
    ("simplex_strategy", 2.5, "(hint: write a whole number from 0 to 4)"),
    ("mip_feasibility_tolerance", 0.5, "(hint: write a number from 1e-10 to 0.0001)"),
    ("time_limit", 10.0, "is set by capalloc itself (hint: use solver.time_limit_seconds instead)"),
    ("mip_rel_gap", 0.01, "use solver.mip_rel_gap instead"),
    ("output_flag", True, "is not a HiGHS tuning option capalloc allows"),
    ("no_such_option", 1, "is not a HiGHS tuning option capalloc allows"),
])
def test_highs_options_off_the_allow_list_are_refused(name, value, words):
    text = problems_of(put(tiny(), "solver", {"highs_options": {name: value}}))
    assert f"solver.highs_options.{name}: " in text and words in text, text


def test_validation_needs_no_highs(monkeypatch):
    """Building a highspy.Highs() to check option names printed HiGHS's banner during
    `capalloc validate`; the allow-list alone decides now."""
    import highspy

    def forbidden(*args, **kwargs):
        raise AssertionError("validation built a HiGHS")

    monkeypatch.setattr(highspy, "Highs", forbidden)
    data = put(tiny(), "solver", {"highs_options": {"mip_detect_symmetry": False, "presolve": "on"}})
    assert problems_of(data) == ""
    assert "solver.highs_options.log_file" in problems_of(put(data, "solver.highs_options.log_file", "x"))


def test_validate_prints_only_its_own_line(tmp_path):
    (tmp_path / "inst.yaml").write_text(yaml.safe_dump(put(tiny(), "solver", {"highs_options": {
        "mip_detect_symmetry": False}})))
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "inst.yaml")])
    assert result.exit_code == 0
    assert result.stdout.startswith("valid ") and "HiGHS" not in result.stdout


def test_every_allowed_option_is_accepted_by_highs_at_both_ends():
    """The allow-list against HiGHS itself: each name exists, and its type and every value the
    list admits (both ends of a range, each choice) are values HiGHS takes."""
    import highspy

    from capalloc.models.highs_options import ALLOWED_HIGHS_OPTIONS, normalized_options

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    for name, option in ALLOWED_HIGHS_OPTIONS.items():
        if option.kind is bool:
            values: list[Any] = [True, False]
        elif option.kind is str:
            values = list(option.choices)
        else:
            values = [option.kind(option.low), option.kind(option.high)]
        for value in values:
            assert option.accepts(value)
            value = normalized_options({name: value})[name]
            assert highs.setOptionValue(name, value) == highspy.HighsStatus.kOk, (name, value)
            status, got = highs.getOptionValue(name)
            assert status == highspy.HighsStatus.kOk
            assert got == value or (isinstance(value, float) and math.isclose(got, value)), (name, got)


def test_whole_numbers_for_number_options_reach_highs_as_floats():
    data = put(tiny(), "solver", {"highs_options": {"mip_heuristic_effort": 1}})
    instance = validate_instance_data(data)
    value = instance.solver.highs_options["mip_heuristic_effort"]
    assert value == 1.0 and isinstance(value, float)


def test_nothing_written_next_to_the_instance_on_refusal(tmp_path):
    code, _, _ = run_solve(tmp_path, put(tiny(), "solver", {"highs_options": {"log_file": "x.log"}}))
    assert code == 2 and sorted(os.listdir(tmp_path)) == ["inst.yaml"]
