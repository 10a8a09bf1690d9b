"""`capalloc evaluate`: a plan's decisions fixed under another instance, operations
re-optimized; the NPV, or the shortfall by month and the cures (least extra starting cash,
highest floor held). A hand-sized slip first, then the issue's CleanSpark acceptance."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from capalloc.models import load_instance, validate_instance_data
from capalloc.models.loader import read_instance_data
from capalloc.models.plan import Plan
from capalloc.optimizer.analysis.evaluate import EvaluateError, evaluate, plan_commitments
from capalloc.optimizer.checks.testing import solve_for_test
from capalloc.optimizer.cli import app

ROOT = Path(__file__).resolve().parents[1]

# One greenfield phase: 20 MW of IT at $150/kW-month is $3M of rent a month; its $90M of capex
# (4.5 $M/MW x 20 MW) is paid at the end of the signing month (spend profile [1.0]). Cash
# earns nothing, nothing is mined, a $7M bullet falls due at the end of 2026-03 (t = 2).
# Signed in 2026-01 (t = 0) with $100M of starting cash, month-end cash before any
# distribution is 10, 10, then
#   lead 2 (rent from t = 2):  10 + 3 - 7 = 6 >= 5, the floor holds;
#   lead 3 (rent from t = 3):  10 - 7 = 3 in 2026-03, $2M short of the $5M floor; 2026-04 is
#   3 + 3 = 6 and every later month adds 3, so 2026-03 is the only short month.
# Cures by hand: $2M more starting cash lifts every month by 2 (3 + 2 = 5); the lowest
# month-end cash of any plan is at most 3 (distributions only lower it), so 3 is the highest
# floor that can be held.
HAND = {
    "name": "slip_by_hand", "start": "2026-01", "horizon_months": 12, "discount_rate_pct_per_year": 10.0,
    "sites": [{"id": "a", "energization": [{"from_month": "2026-01", "contracted_mw": 30.0}],
               "power_price_usd_per_mwh": 50.0, "mining_infrastructure_mw": 0.0,
               "ai_phases": [{"id": "p1", "critical_it_mw": 20.0, "pue": 1.25,
                              "capex_usd_per_mw_it": 4.5e6, "spend_profile": [1.0],
                              "lead_time_months": 2, "lease_usd_per_kw_month": 150.0,
                              "escalator_pct_per_year": 0.0, "term_months": 120,
                              "opex_usd_per_mw_month": 0.0, "conversion": "greenfield"}]}],
    "market": {"btc_price_usd": 90000.0, "network_hashrate_ehs": 1000.0, "fees_btc_per_block": 0.03},
    "finance": {"starting_cash_usd": 100e6, "minimum_cash_usd": 5e6,
                "existing_debts": [{"id": "bullet", "principal_usd": 7e6, "coupon_pct_per_year": 0.0,
                                    "maturity_month": "2026-03"}]},
    "commitments": {"signings": [{"site": "a", "phase": "p1", "in_month": "2026-01"}]},
}


def hand(lead: int = 2, **finance) -> dict:
    data = copy.deepcopy(HAND)
    data["sites"][0]["ai_phases"][0]["lead_time_months"] = lead
    data["finance"].update(finance)
    return data


@pytest.fixture(scope="module")
def hand_plan() -> Plan:
    plan = solve_for_test(validate_instance_data(hand()))
    assert [s.signing_month for s in plan.decisions.signings] == ["2026-01"]
    return plan


def test_a_one_month_slip_is_short_in_the_month_and_by_the_amount_derived_by_hand(hand_plan):
    base = validate_instance_data(hand())
    evaluation = evaluate(hand_plan, base, validate_instance_data(hand(lead=3)))
    assert not evaluation.feasible
    assert [(s.month, s.usd) for s in evaluation.shortfalls] == [("2026-03", pytest.approx(2e6, abs=1.0))]
    assert evaluation.extra_starting_cash_usd == pytest.approx(2e6, abs=1.0)
    assert evaluation.highest_floor_usd == pytest.approx(3e6, abs=1.0)


def test_the_cures_are_exact_a_thousand_dollars_less_is_still_short(hand_plan):
    # $1,000 is 1e-3 in the model's $M, well above HiGHS's feasibility tolerances.
    base = validate_instance_data(hand())
    for finance, holds in [({"starting_cash_usd": 102e6}, True), ({"starting_cash_usd": 102e6 - 1e3}, False),
                           ({"minimum_cash_usd": 3e6}, True), ({"minimum_cash_usd": 3e6 + 1e3}, False)]:
        evaluation = evaluate(hand_plan, base, validate_instance_data(hand(lead=3, **finance)))
        assert evaluation.feasible is holds, finance


def test_evaluating_a_plan_under_its_own_instance_gives_back_its_npv(hand_plan):
    base = validate_instance_data(hand())
    evaluation = evaluate(hand_plan, base, base)
    assert evaluation.feasible
    assert evaluation.npv_usd == pytest.approx(hand_plan.npv_usd, abs=1.0)
    assert evaluation.result.plan.audit.passed


def test_an_instance_with_other_ids_is_refused_naming_what_differs(hand_plan):
    other = hand(lead=3)
    other["sites"][0]["ai_phases"][0]["id"] = "q1"
    other["commitments"] = None
    with pytest.raises(EvaluateError) as caught:
        evaluate(hand_plan, validate_instance_data(hand()), validate_instance_data(other))
    lines = [str(p) for p in caught.value.problems]
    assert any(line.startswith("sites[a].ai_phases:") and "missing p1" in line for line in lines), lines


def test_a_decision_the_other_instance_cannot_make_is_refused(hand_plan):
    # The plan signs p1 in 2026-01; the other instance opens its signing in 2026-02.
    other = hand()
    other["commitments"] = None
    other["sites"][0]["ai_phases"][0]["earliest_signing_month"] = "2026-02"
    with pytest.raises(EvaluateError) as caught:
        evaluate(hand_plan, validate_instance_data(hand()), validate_instance_data(other))
    assert "commitments.signings[0].in_month" in str(caught.value)


def test_the_cli_writes_the_evaluation_and_exits_3_when_the_floor_breaks(tmp_path):
    runner = CliRunner()
    base, slip = tmp_path / "base.yaml", tmp_path / "slip.yaml"
    base.write_text(yaml.safe_dump(hand()))
    slip.write_text(yaml.safe_dump(hand(lead=3)))
    assert runner.invoke(app, ["solve", str(base), "-o", str(tmp_path / "plan"), "-q"]).exit_code == 0
    result = runner.invoke(app, ["evaluate", str(tmp_path / "plan"), "--instance", str(slip),
                                 "-o", str(tmp_path / "ev")])
    assert result.exit_code == 3, result.output
    assert "2026-03: short by $2,000,000" in result.output
    written = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert written["feasible"] is False and written["shortfalls"][0]["month"] == "2026-03"
    again = runner.invoke(app, ["evaluate", str(tmp_path / "plan"), "--instance", str(base),
                                "-o", str(tmp_path / "ev2")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "ev2" / "plan.json").is_file()
    assert json.loads((tmp_path / "ev2" / "evaluation.json").read_text())["feasible"] is True
    missing = runner.invoke(app, ["evaluate", str(tmp_path / "nowhere"), "--instance", str(slip)])
    assert missing.exit_code == 2
    renamed = hand(lead=3)
    renamed["sites"][0]["id"] = "b"
    renamed["commitments"] = None
    (tmp_path / "renamed.yaml").write_text(yaml.safe_dump(renamed))
    other = runner.invoke(app, ["evaluate", str(tmp_path / "plan"), "--instance",
                                str(tmp_path / "renamed.yaml"), "-o", str(tmp_path / "ev3")])
    assert other.exit_code == 2 and "sites: differs from the plan's instance (missing a" in other.output
    assert not (tmp_path / "ev3").exists()


# ------------------------------------------------------------------ issue 15's acceptance

FIXED_FLEET = ROOT / "instances" / "cleanspark_2026_fixed_fleet.yaml"


def slipped(months: int = 1, **finance):
    """The fixed-fleet example with every build's lead time longer by ``months``."""
    data = read_instance_data(FIXED_FLEET)
    seen = set()
    for site in data["sites"]:
        for phase in site.get("ai_phases", []):
            if id(phase) not in seen:  # YAML anchors may share a mapping
                seen.add(id(phase))
                phase["lead_time_months"] += months
    data["finance"].update(finance)
    return validate_instance_data(data, base_dir=FIXED_FLEET.parent)


@pytest.fixture(scope="module")
def cleanspark_plan() -> Plan:
    """The example's optimal plan as recorded in its golden plan (tests/golden)."""
    return Plan.model_validate_json((ROOT / "tests/golden/cleanspark_2026_fixed_fleet/plan.json").read_text())


def test_cleanspark_slipped_a_month_cannot_hold_200m_and_holds_150m(cleanspark_plan):
    base = load_instance(FIXED_FLEET)
    assert base.finance.minimum_cash_usd == 200e6 and base.finance.cash_interest_pct_per_year == 0.0
    evaluation = evaluate(cleanspark_plan, base, slipped(1))
    assert not evaluation.feasible and evaluation.shortfalls
    assert all(s.month in cleanspark_plan.months and s.usd > 0 for s in evaluation.shortfalls)
    # Cash earns nothing, so $x more starting cash lifts every month-end by exactly x: the least
    # extra cash and the highest floor held must add up to the floor.
    assert evaluation.extra_starting_cash_usd + evaluation.highest_floor_usd == pytest.approx(200e6, abs=2.0)
    assert 150e6 <= evaluation.highest_floor_usd < 200e6
    assert evaluate(cleanspark_plan, base, slipped(1, minimum_cash_usd=150e6)).feasible


@pytest.mark.slow
def test_cleanspark_slipped_holds_exactly_the_highest_floor_found(cleanspark_plan):
    base = load_instance(FIXED_FLEET)
    floor = evaluate(cleanspark_plan, base, slipped(1)).highest_floor_usd
    assert evaluate(cleanspark_plan, base, slipped(1, minimum_cash_usd=floor - 1.0)).feasible
    assert not evaluate(cleanspark_plan, base, slipped(1, minimum_cash_usd=floor + 1e6)).feasible


def test_cleanspark_plan_as_commitments_lists_every_signing_and_fixes_the_rest(cleanspark_plan):
    c = plan_commitments(cleanspark_plan)
    assert c.unlisted == "none"
    assert sorted((s.site, s.phase, s.in_month) for s in c.signings) == sorted(
        (s.site, s.phase, s.signing_month) for s in cleanspark_plan.decisions.signings)


def test_solving_infeasible_commitments_exits_3_naming_the_month_the_amount_and_the_commitments(tmp_path):
    # The hand instance with a 3-month lead, p1 committed to 2026-01: 2026-03 is $2M short
    # (derivation above); unpinned, signing later holds the floor.
    file = tmp_path / "slip.yaml"
    file.write_text(yaml.safe_dump(hand(lead=3)))
    result = CliRunner().invoke(app, ["solve", str(file), "-o", str(tmp_path / "plan"), "-q"])
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "cannot be held at the end of 2026-03" in text and "$2,000,000 in 2026-03" in text
    assert "the commitments cause it" in text
    assert not (tmp_path / "plan").exists()


def test_a_plan_evaluated_under_its_own_instance_keeps_its_npv_with_every_kind_of_decision():
    """cleanspark_2026's golden plan (signings, an ASIC order in lots, sales, halls, and
    whatever financing it issues): fixed as commitments, operations re-optimized under the
    same instance, the NPV cannot fall below the plan's (its own operations are still
    available, up to the rounding of its decisions) nor rise above the solve's bound on every
    plan of the instance; the audit must pass."""
    plan = Plan.model_validate_json((ROOT / "tests/golden/cleanspark_2026/plan.json").read_text())
    instance = load_instance(ROOT / "instances" / "cleanspark_2026.yaml")
    c = plan_commitments(plan)
    assert c.signings and c.fleet_orders and c.fleet_sales and c.hall_builds
    evaluation = evaluate(plan, instance, instance)
    assert evaluation.feasible and evaluation.result.plan.audit.passed
    assert plan.npv_usd - 1e3 <= evaluation.npv_usd <= plan.solver.dual_bound_usd + 1e3
