"""Plan comparison, regression on golden plans, determinism (issue 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capalloc.models import validate_instance_data
from capalloc.models.common import month_ordinal
from capalloc.optimizer.checks.compare import compare_plans
from capalloc.optimizer.checks.testing import assert_plan_matches, plan_mismatches
from capalloc.optimizer.outputs.plan_io import write_plan_dir
from capalloc.optimizer.pipeline import solve_instance

ROOT = Path(__file__).resolve().parents[1]
PLAN_FILES = ("plan.json", "sites_monthly.csv", "cashflow_monthly.csv", "leases.csv")


def capalloc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capalloc.optimizer.cli", *args], capture_output=True,
                          text=True, cwd=ROOT)


def timing_instance(lease_usd_per_kw_month: float, canonical: bool = False) -> dict:
    """A retrofit that displaces profitable mining until the April 2028 halving.

    One MW at 20 J/TH earns 50,000 TH/s x 144 x 3.125 / 1e9 BTC x $90,000 x 30 days x 90 %
    = ~$54.7k a month before the halving against 1.05 x 720 h x 90 % x $25 = $17k of power and
    $2k of opex: ~$35.7k of margin, so the retrofit's 60 MW of displaced mining cost ~$2.1M a
    month until April 2028 (after it mining loses money). Delaying the lease costs its time
    value: large for a rich lease ($250/kW-month: sign at once), smaller for a leaner one
    ($200/kW-month: keep mining and sign later). Cash is ample: liquidity plays no part.
    """
    return {
        "name": f"timing_{int(lease_usd_per_kw_month)}",
        "start": "2026-07", "horizon_months": 48, "discount_rate_pct_per_year": 10.0,
        "canonical_plan": canonical,
        "sites": [{
            "id": "alpha",
            "energization": [{"from_month": "2026-07", "contracted_mw": 120.0}],
            "power_price_usd_per_mwh": 25.0, "mining_infrastructure_mw": 80.0,
            "uptime_pct": 90.0, "mining_pue": 1.05, "mining_opex_usd_per_mw_month": 2000.0,
            "ai_phases": [{
                "id": "hall1", "critical_it_mw": 20.0, "pue": 1.25,
                "capex_usd_per_mw_it": 10_000_000.0, "lead_time_months": 12,
                "lease_usd_per_kw_month": lease_usd_per_kw_month, "escalator_pct_per_year": 3.0,
                "term_months": 120, "opex_usd_per_mw_month": 10_000.0, "conversion": "retrofit",
                "displaced_mining_mw": 60.0,
            }],
        }],
        "fleet": [{"id": "s19xp", "installed_mw": 80.0, "efficiency_j_per_th": 20.0,
                   "sites_at_start": {"alpha": 80.0}}],
        "market": {"btc_price_usd": 90_000.0, "network_hashrate_ehs": 1000.0,
                   "fees_btc_per_block": 0.0},
        "finance": {"starting_cash_usd": 400_000_000.0, "minimum_cash_usd": 10_000_000.0},
        "solver": {"mip_rel_gap": 1e-7},
    }


def twin_instance(canonical: bool) -> dict:
    """Two identical greenfield phases at two identical sites, a cap of one per year: which
    site signs first is an alternative optimum."""
    site = {
        "energization": [{"from_month": "2026-07", "contracted_mw": 40.0}],
        "power_price_usd_per_mwh": 50.0,
        "ai_phases": [{
            "id": "hall", "critical_it_mw": 20.0, "pue": 1.25, "capex_usd_per_mw_it": 8_000_000.0,
            "lead_time_months": 6, "lease_usd_per_kw_month": 150.0, "term_months": 120,
            "conversion": "greenfield",
        }],
    }
    return {
        "name": "twins", "start": "2026-07", "horizon_months": 36,
        "discount_rate_pct_per_year": 10.0, "canonical_plan": canonical,
        "signing_cap_mw_per_year": 20.0,
        "sites": [{"id": "east", **site}, {"id": "west", **site}],
        "market": {"btc_price_usd": 90_000.0, "network_hashrate_ehs": 1000.0},
        "finance": {"starting_cash_usd": 500_000_000.0},
        "solver": {"mip_rel_gap": 1e-7},
    }


def solve(data: dict):
    return solve_instance(validate_instance_data(data))


@pytest.fixture(scope="module")
def lease_plans(tmp_path_factory):
    out = tmp_path_factory.mktemp("lease")
    dirs = {}
    for lease in (250.0, 200.0):
        outcome = solve(timing_instance(lease))
        dirs[lease] = write_plan_dir(outcome.result, out / f"lease_{int(lease)}", {})
    return dirs


def test_compare_two_solves_of_the_same_instance_reports_no_difference(tmp_path):
    first = write_plan_dir(solve(timing_instance(250.0)).result, tmp_path / "a", {})
    second = write_plan_dir(solve(timing_instance(250.0)).result, tmp_path / "b", {})
    result = capalloc("compare", str(first), str(second))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "match" in result.stdout


def test_compare_reports_a_signing_moved_by_a_lease_rate_change(lease_plans):
    a = json.loads((lease_plans[250.0] / "plan.json").read_text())
    b = json.loads((lease_plans[200.0] / "plan.json").read_text())
    month_a = a["decisions"]["signings"][0]["signing_month"]
    month_b = b["decisions"]["signings"][0]["signing_month"]
    # The economics in timing_instance's docstring: a rich lease signs at once, a lean one waits.
    assert month_a == "2026-07"
    assert month_ordinal(month_b) > month_ordinal(month_a)

    result = capalloc("compare", str(lease_plans[250.0]), str(lease_plans[200.0]), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["differs"] is True
    assert report["signings"] == [{
        "site": "alpha", "phase": "hall1", "change": "moved", "month_a": month_a, "month_b": month_b,
        "shift_months": month_ordinal(month_b) - month_ordinal(month_a),
    }]
    table = capalloc("compare", str(lease_plans[250.0]), str(lease_plans[200.0]))
    assert "moved" in table.stdout and month_b in table.stdout


def test_regression_policy_fails_when_the_optimum_moves(monkeypatch):
    """A formulation change that moves the optimum (here: a bug that starts rent one month
    late in the model only) must fail the regression check."""
    instance = validate_instance_data(timing_instance(250.0))
    golden = solve_instance(instance).result.plan

    import capalloc.optimizer.formulation.ai_phases as ai_phases

    honest = ai_phases.schedule_for

    def rent_one_month_late(inst, phase):
        return honest(inst, phase.model_copy(update={"lead_time_months": phase.lead_time_months + 1}))

    monkeypatch.setattr(ai_phases, "schedule_for", rent_one_month_late)
    moved = solve_instance(instance, audit=False).result.plan
    problems = plan_mismatches(moved, golden, rel_tol=1e-6, instance=instance)
    assert any(p.startswith("objective moved") for p in problems)
    with pytest.raises(AssertionError, match="objective moved"):
        assert_plan_matches(moved, golden, instance=instance)


def _swap_sites(plan):
    """The same plan with the two twin sites' signings exchanged: an alternative optimum."""
    swapped = plan.model_copy(deep=True)
    for signing in swapped.decisions.signings:
        signing.site = {"east": "west", "west": "east"}[signing.site]
    return swapped


def test_regression_policy_passes_an_alternative_optimum_and_pins_canonical_plans():
    instance = validate_instance_data(twin_instance(canonical=False))
    plan = solve_instance(instance).result.plan
    months = sorted(s.signing_month for s in plan.decisions.signings)
    # The cap of 20 MW a year lets one twin sign in 2026 and the other in January 2027.
    assert len(months) == 2 and months[0][:4] == "2026" and months[1] == "2027-01"
    golden = _swap_sites(plan)
    assert compare_plans(golden, plan).signings, "the swapped golden plan must differ in decisions"
    # Equal objective, and the swapped golden re-audits as feasible and equally valuable: pass.
    assert_plan_matches(plan, golden, instance=instance)

    canonical_instance = validate_instance_data(twin_instance(canonical=True))
    canonical_plan = solve_instance(canonical_instance).result.plan
    # The tie-break (earlier signings first, earlier-listed sites first) picks east first.
    first = min(canonical_plan.decisions.signings, key=lambda s: s.signing_month)
    assert first.site == "east"
    assert abs(canonical_plan.npv_usd - plan.npv_usd) <= 1e-6 * abs(plan.npv_usd)
    with pytest.raises(AssertionError, match="canonical decision changed"):
        assert_plan_matches(canonical_plan, _swap_sites(canonical_plan), instance=canonical_instance)
    assert_plan_matches(canonical_plan, canonical_plan, instance=canonical_instance)


def test_regress_cli_updates_then_passes(tmp_path):
    instances = tmp_path / "instances"
    instances.mkdir()
    (instances / "tiny.yaml").write_text((ROOT / "instances" / "tiny.yaml").read_text())
    golden = tmp_path / "golden"
    first = capalloc("regress", str(instances), "--golden", str(golden), "--update")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (golden / "tiny" / "plan.json").is_file()
    second = capalloc("regress", str(instances), "--golden", str(golden))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "1 passed, 0 failed" in second.stdout
    missing = capalloc("regress", str(instances), "--golden", str(tmp_path / "nothing"))
    assert missing.returncode == 2


def test_same_instance_gives_byte_identical_plan_files(tmp_path):
    for run in ("a", "b"):
        result = capalloc("solve", "instances/tiny.yaml", "-o", str(tmp_path / run), "--quiet")
        assert result.returncode == 0, result.stderr
    for name in PLAN_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_one_and_two_threads_give_the_same_plan(tmp_path):
    """HiGHS's MIP search is serial here (no parallel tree search), so 1 and 2 threads follow
    the same path; plan.json differs only in the recorded thread count."""
    for threads in ("1", "2"):
        result = capalloc("solve", "instances/tiny.yaml", "-o", str(tmp_path / threads), "--quiet",
                          "--threads", threads)
        assert result.returncode == 0, result.stderr
    for name in PLAN_FILES[1:]:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
    one = json.loads((tmp_path / "1" / "plan.json").read_text())
    two = json.loads((tmp_path / "2" / "plan.json").read_text())
    assert (one["solver"].pop("threads"), two["solver"].pop("threads")) == (1, 2)
    assert one == two
