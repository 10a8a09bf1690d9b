"""`capalloc explain`: shadow prices checked against finite differences (re-solving the
changed instance), thresholds against `capalloc breakeven`, and bad plan directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capalloc.models import validate_instance_data
from capalloc.optimizer.analysis.report import explain_plan
from capalloc.optimizer.cli import app
from capalloc.optimizer.outputs.plan_io import PlanDir
from capalloc.optimizer.sweep.breakeven import BreakevenError, find_breakeven
from tests.conftest import INSTANCES
from tests.helpers import make_instance, make_phase, solve_dict

REL = 1e-6


def lp_like(*, mw_2027: float = 50.0, mw_2028: float = 50.0, floor: float = 10e6) -> dict:
    """No AI phase: an LP. 60 MW of S21s at 17.5 J/TH earn ~$69k per MW-month against ~$30k
    of power, so the site's 50 MW (47.6 MW of ASICs at PUE 1.05) bind every month; a
    $1,000/MW-month fixed charge is paid on the energized MW; a $40M note repaid in June 2028
    makes cash tight before it."""
    return make_instance(
        site={"energization": [{"from_month": "2027-01", "contracted_mw": mw_2027},
                               {"from_month": "2028-01", "contracted_mw": mw_2028}],
              "mining_infrastructure_mw": 60.0, "fixed_power_charge_usd_per_mw_month": 1000.0},
        fleet=[{"id": "s21", "installed_mw": 60.0, "efficiency_j_per_th": 17.5,
                "sites_at_start": {"alpha": 60.0}}],
        finance={"starting_cash_usd": 30e6, "minimum_cash_usd": floor,
                 "existing_debts": [{"id": "note", "principal_usd": 40e6, "coupon_pct_per_year": 0.0,
                                     "maturity_month": "2028-06"}]},
    )


def retrofit(lease: float = 40.0) -> dict:
    """A retrofit phase that displaces 12 MW of the 47 MW of profitable mining from its
    signing month: before the July 2027 halving that mining is worth more than an earlier
    start of a $40/kW-month lease, so the plan waits for the halving; a higher lease rate
    makes an earlier signing pay."""
    return make_instance(
        site={"energization": [{"from_month": "2027-01", "contracted_mw": 50.0}],
              "mining_infrastructure_mw": 47.0},
        phases=[make_phase(lease_usd_per_kw_month=lease, conversion="retrofit")],
        fleet=[{"id": "s21", "installed_mw": 47.0, "efficiency_j_per_th": 17.5,
                "sites_at_start": {"alpha": 47.0}}],
        market={"halvings": [{"month": "2027-07", "subsidy_btc_per_block": 1.5625}]},
        finance={"starting_cash_usd": 30e6, "minimum_cash_usd": 5e6},
    )


def npv(data: dict) -> float:
    return solve_dict(data).result.plan.npv_usd


def explained(data: dict, *, resolves: bool = False) -> dict:
    outcome = solve_dict(data)
    opened = PlanDir(Path("."), outcome.result.plan, validate_instance_data(data))
    return explain_plan(opened, resolves=resolves)


@pytest.fixture(scope="module")
def lp_explained() -> dict:
    return explained(lp_like())


def test_power_value_equals_the_npv_change_of_one_more_mw(lp_explained):
    base = npv(lp_like())
    values = {(row["site"], row["year"]): row for row in lp_explained["contracted_power"]}
    for year, changed in ((2027, lp_like(mw_2027=51.0)), (2028, lp_like(mw_2028=51.0))):
        row = values[("alpha", year)]
        finite_difference = npv(changed) - base  # +1 MW energized for that calendar year
        assert row["value_usd_per_mw"] == pytest.approx(finite_difference, rel=REL)
        # Signs: the power is binding and worth having; its fixed charge is a cost.
        assert row["value_usd_per_mw"] > 0 and row["binding_months"] == 12
        assert row["capacity_usd_per_mw"] > row["value_usd_per_mw"]
        assert row["fixed_charge_usd_per_mw"] < 0


def test_liquidity_value_equals_the_npv_change_of_a_lower_floor(lp_explained):
    base = npv(lp_like())
    total = lp_explained["liquidity"]["total_usd_per_usd"]
    months = lp_explained["liquidity"]["months"]
    assert total > 0 and all(m["value_usd_per_usd"] > 0 for m in months)  # a lower floor never hurts
    for lowered in (1e6, 5e6):  # the floor is the same every month: its value is the sum
        assert (npv(lp_like(floor=10e6 - lowered)) - base) / lowered == pytest.approx(total, rel=REL)
    # A higher floor costs the same per dollar while the basis holds.
    assert (base - npv(lp_like(floor=10e6 + 1e6))) / 1e6 == pytest.approx(total, rel=REL)


def test_held_lp_reproduces_the_plan(lp_explained):
    assert lp_explained["held_lp_npv_usd"] == pytest.approx(lp_explained["plan_npv_usd"], rel=1e-9)


def two_scenarios(**changes) -> dict:
    """lp_like under two equally likely BTC prices ($90k and $60k: mining pays in both), with
    enough starting cash for the note in the low one."""
    data = lp_like(**changes)
    data["finance"]["starting_cash_usd"] = 50e6
    del data["market"]["btc_price_usd"], data["market"]["network_hashrate_ehs"]
    del data["market"]["fees_btc_per_block"]
    data["market"]["scenarios"] = [
        {"name": name, "probability": 0.5, "btc_price_usd": price, "network_hashrate_ehs": 1000.0,
         "fees_btc_per_block": 0.0} for name, price in (("high", 90_000.0), ("low", 60_000.0))]
    return data


def test_power_and_liquidity_values_weigh_the_scenarios():
    data = explained(two_scenarios())
    base = npv(two_scenarios())  # the expected NPV
    power = {row["year"]: row["value_usd_per_mw"] for row in data["contracted_power"]}
    assert power[2028] > 0
    assert power[2028] == pytest.approx(npv(two_scenarios(mw_2028=51.0)) - base, rel=REL)
    total = data["liquidity"]["total_usd_per_usd"]
    assert total > 0
    assert (npv(two_scenarios(floor=9e6)) - base) / 1e6 == pytest.approx(total, rel=REL)
    assert {m["scenario"] for m in data["liquidity"]["months"]} <= {"high", "low"}


@pytest.fixture(scope="module")
def retrofit_explained() -> dict:
    return explained(retrofit(), resolves=True)


def test_lease_threshold_agrees_with_breakeven(retrofit_explained, tmp_path):
    phase = retrofit_explained["phases"][0]
    assert phase["status"] == "late" and phase["signed_month"] == "2027-07"
    threshold = phase["lease_threshold_usd_per_kw_month"]
    assert threshold["method"] == "reduced cost" and threshold["value"] > 40.0
    path = tmp_path / "retrofit.json"
    path.write_text(json.dumps(retrofit()))
    found = find_breakeven(path, "sites[alpha].ai_phases[hall1].lease_usd_per_kw_month", 40.0, 400.0,
                           f"signed_by:alpha/hall1:{phase['earlier_month']}", mip_gap=0.0, tol=1e-3)
    assert found.state_low.startswith("not signed by") and found.state_high.startswith("signed by")
    assert found.low - 1e-9 <= threshold["value"] <= found.high + 1e-9
    # Just below and above the threshold, whole MIP solves agree on which side it is.
    below = solve_dict(retrofit(threshold["value"] * (1 - 1e-4))).result.plan.decisions.signings[0]
    above = solve_dict(retrofit(threshold["value"] * (1 + 1e-4))).result.plan.decisions.signings[0]
    assert below.signing_month == "2027-07" and above.signing_month < "2027-07"


def test_capex_cannot_make_the_retrofit_earlier(retrofit_explained, tmp_path):
    """The earlier signing costs mining, not capex: no capex makes it pay, and breakeven
    finds the decision the same from $1 to $2M per MW."""
    phase = retrofit_explained["phases"][0]
    assert phase["capex_threshold_usd_per_mw_it"]["value"] is None
    path = tmp_path / "retrofit.json"
    path.write_text(json.dumps(retrofit()))
    with pytest.raises(BreakevenError, match="is the same at LO"):
        find_breakeven(path, "sites[alpha].ai_phases[hall1].capex_usd_per_mw_it", 1.0, 2e6,
                       f"signed_by:alpha/hall1:{phase['earlier_month']}", mip_gap=0.0)


def test_never_signing_equals_the_instance_without_the_phase(retrofit_explained):
    phase = retrofit_explained["phases"][0]
    without = retrofit()
    without["sites"][0]["ai_phases"] = []
    assert phase["never"]["npv_usd"] == pytest.approx(npv(without), rel=REL)
    assert phase["never"]["signings"] == []
    # Signing now (January 2027) is allowed but worth less than waiting for the halving.
    assert phase["sign_now"]["month"] == "2027-01"
    assert phase["sign_now"]["npv_usd"] < retrofit_explained["plan_npv_usd"]
    assert "alpha/hall1 2027-01" in phase["sign_now"]["signings"]


@pytest.fixture(scope="module")
def tiny_plan(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plans") / "tiny"
    result = CliRunner().invoke(app, ["solve", str(INSTANCES / "tiny.yaml"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def test_explain_writes_explain_json_and_a_new_solve_replaces_the_folder(tiny_plan):
    result = CliRunner().invoke(app, ["explain", str(tiny_plan)])
    assert result.exit_code == 0, result.output
    data = json.loads((tiny_plan / "explain.json").read_text())
    assert data["plan_npv_usd"] == json.loads((tiny_plan / "plan.json").read_text())["npv_usd"]
    assert not [p for p in tiny_plan.iterdir() if p.name.startswith(".staging-")]
    first = (tiny_plan / "explain.json").read_bytes()
    assert CliRunner().invoke(app, ["explain", str(tiny_plan)]).exit_code == 0
    assert (tiny_plan / "explain.json").read_bytes() == first  # same plan, same bytes
    # explain.json is capalloc's own file: solving into the folder again is allowed and
    # removes it (it explained the old plan).
    again = CliRunner().invoke(app, ["solve", str(INSTANCES / "tiny.yaml"), "-o", str(tiny_plan), "-q"])
    assert again.exit_code == 0, again.output
    assert not (tiny_plan / "explain.json").exists()


def _refused(path: Path, *expected: str) -> None:
    result = CliRunner().invoke(app, ["explain", str(path)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert "Traceback" not in said
    for text in expected:
        assert text in said


def test_bad_plan_directories_exit_2_and_write_nothing(tiny_plan, tmp_path):
    _refused(tmp_path / "nowhere", "no such plan directory")
    assert not (tmp_path / "nowhere").exists()
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / ".capalloc").write_text(json.dumps({"kind": "sweep", "format": 1}))
    _refused(sweep, "is a sweep folder")
    old = tmp_path / "old"
    old.mkdir()
    for item in tiny_plan.iterdir():
        if item.is_file():
            (old / item.name).write_bytes(item.read_bytes())
    plan = json.loads((old / "plan.json").read_text())
    plan["provenance"]["capalloc_version"] = "0.0.1"
    (old / "plan.json").write_text(json.dumps(plan))
    _refused(old, "capalloc 0.0.1", "re-solve")
    assert not (old / "explain.json").exists() and not (sweep / "explain.json").exists()
    # A plan folder someone added files to is not capalloc's to write in: refused before any work.
    shared = tmp_path / "shared"
    shared.mkdir()
    for item in tiny_plan.iterdir():
        if item.is_file():
            (shared / item.name).write_bytes(item.read_bytes())
    (shared / "notes.txt").write_text("mine")
    _refused(shared, "notes.txt")
    assert not (shared / "explain.json").exists()


def two_phases() -> dict:
    """Two greenfield phases at one site, worth signing early but not by much per month."""
    return make_instance(
        site={"energization": [{"from_month": "2027-01", "contracted_mw": 50.0}]},
        phases=[make_phase(id="hall1"), make_phase(id="hall2", lease_usd_per_kw_month=120.0)],
        finance={"starting_cash_usd": 30e6, "minimum_cash_usd": 5e6},
    )


@pytest.fixture(scope="module")
def alternatives_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("alt")
    path = folder / "two_phases.json"
    path.write_text(json.dumps(two_phases()))
    out = folder / "out"
    result = CliRunner().invoke(app, ["alternatives", str(path), "--within", "2%", "-n", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_alternatives_are_within_the_slack_by_the_audit_and_pairwise_different(alternatives_dir):
    from capalloc.optimizer.checks.audit import audit_plan
    from capalloc.optimizer.outputs.plan_io import open_plan_dir

    table = json.loads((alternatives_dir / "alternatives.json").read_text())
    names = [row["name"] for row in table["plans"]]
    assert names[0] == "optimum" and len(names) == 4  # three alternatives exist within 2 %
    audited, signings = {}, {}
    for name in names:
        opened = open_plan_dir(alternatives_dir / name)
        report = audit_plan(opened.instance, opened.plan)  # recomputed from the files, independently
        assert not report.violations
        audited[name] = report.npv_usd
        signings[name] = sorted((s.site, s.phase, s.signing_month) for s in opened.plan.decisions.signings)
    best = audited["optimum"]
    assert best == pytest.approx(npv(two_phases()), rel=1e-9)
    for name in names[1:]:
        assert audited[name] >= best - 0.02 * abs(best) - 1e-6 * abs(best)
        assert audited[name] <= best * (1 + 1e-9)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    assert all(signings[a] != signings[b] for a, b in pairs)
    rows = {row["name"]: row for row in table["plans"]}
    for name in names:
        assert rows[name]["npv_usd"] == pytest.approx(audited[name], abs=0.01)


def test_alternatives_rerun_replaces_its_own_plans(alternatives_dir):
    """Run again with fewer alternatives: capalloc's own extra plan folders go, nothing else."""
    instance = alternatives_dir.parent / "two_phases.json"
    result = CliRunner().invoke(app, ["alternatives", str(instance), "--within", "2%", "-n", "1",
                                      "-o", str(alternatives_dir)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in alternatives_dir.iterdir()) == [
        ".capalloc", "alternative-1", "alternatives.csv", "alternatives.json", "optimum"]
    assert [row["name"] for row in json.loads((alternatives_dir / "alternatives.json").read_text())["plans"]
            ] == ["optimum", "alternative-1"]


def test_alternatives_refuse_a_folder_they_did_not_write(tmp_path):
    path = tmp_path / "two_phases.json"
    path.write_text(json.dumps(two_phases()))
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["alternatives", str(path), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "notes.txt" in " ".join(result.output.split())
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    for bad in ("0", "150%", "abc"):
        result = CliRunner().invoke(app, ["alternatives", str(path), "--within", bad,
                                          "-o", str(tmp_path / "x")])
        assert result.exit_code == 2 and "--within" in result.output
    assert not (tmp_path / "x").exists()


def capped(cap_mw: float = 10.0, hall2_earliest: str | None = None) -> dict:
    """Two 10 MW phases worth signing at once, but only 10 MW may be signed per year."""
    hall2 = make_phase(id="hall2")
    if hall2_earliest:
        hall2["earliest_signing_month"] = hall2_earliest
    return make_instance(phases=[make_phase(id="hall1"), hall2], signing_cap_mw_per_year=cap_mw,
                         finance={"starting_cash_usd": 30e6, "minimum_cash_usd": 5e6})


def test_signing_capacity_value_equals_the_gain_of_the_blocked_signing():
    data = explained(capped())
    phases = {row["phase"]: row for row in data["phases"]}
    assert phases["hall1"]["signed_month"] == "2027-01" and phases["hall2"]["signed_month"] == "2028-01"
    assert "needs signing capacity in 2027" in phases["hall2"]["note"]
    years = {row["year"]: row for row in data["signing_capacity"]}
    assert years[2027]["signed_mw"] == 10.0 and years[2028]["value_usd_per_mw"] == 0.0
    # Independently: with room for both in 2027 and hall2 allowed from December 2027 only,
    # the optimum signs hall2 then (earlier is worth more), everything else as the plan.
    gain = npv(capped(cap_mw=20.0, hall2_earliest="2027-12")) - data["plan_npv_usd"]
    assert gain > 0
    assert years[2027]["value_usd_per_mw"] == pytest.approx(gain / 10.0, rel=REL)
