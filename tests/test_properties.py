"""Property tests: on random small valid instances the independent audit confirms every plan
and its NPV, and catches a plan nudged out of bounds (issue 3)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from capalloc.models import validate_instance_data
from capalloc.models.common import month_ordinal, ordinal_to_month
from capalloc.optimizer.checks.audit import audit_plan
from capalloc.optimizer.pipeline import solve_instance
from capalloc.optimizer.solving.solve import InfeasibleError

MONTHS = [ordinal_to_month(month_ordinal("2026-01") + i) for i in range(30)]


@st.composite
def phases(draw, site_id: str, mining_mw: float, horizon: int) -> list[dict]:
    out = []
    displaced_left = mining_mw
    for k in range(draw(st.integers(0, 2))):
        lead = draw(st.integers(1, 8))
        it_mw = draw(st.sampled_from([5.0, 10.0, 20.0]))
        pue = draw(st.sampled_from([1.1, 1.25]))
        retrofit = draw(st.booleans()) and it_mw * pue <= displaced_left
        phase = {
            "id": f"{site_id}_p{k}", "critical_it_mw": it_mw, "pue": pue,
            "capex_usd_per_mw_it": draw(st.sampled_from([6e6, 9e6, 12e6])),
            "lead_time_months": lead,
            "lease_usd_per_kw_month": draw(st.sampled_from([90.0, 130.0, 160.0])),
            "escalator_pct_per_year": draw(st.sampled_from([0.0, 2.5])),
            "term_months": draw(st.integers(6, 60)),
            "opex_usd_per_mw_month": draw(st.sampled_from([0.0, 15_000.0])),
            "prepayment_months": draw(st.integers(0, 2)),
            "conversion": "retrofit" if retrofit else "greenfield",
        }
        if draw(st.booleans()):
            phase["earliest_signing_month"] = MONTHS[draw(st.integers(0, horizon // 2))]
        if draw(st.booleans()) and lead > 1:
            shares = draw(st.lists(st.integers(1, 4), min_size=1, max_size=lead))
            phase["spend_profile"] = [s / sum(shares) for s in shares]
            phase["spend_profile"][-1] = 1.0 - sum(phase["spend_profile"][:-1])
        if retrofit:
            displaced_left -= it_mw * pue
        out.append(phase)
    return out


@st.composite
def instances(draw) -> dict:
    horizon = draw(st.integers(12, 30))
    start = "2026-01"
    sites, placements = [], {}
    for i in range(draw(st.integers(1, 2))):
        site_id = f"s{i}"
        mining_mw = draw(st.sampled_from([0.0, 20.0, 40.0]))
        steps = [{"from_month": MONTHS[draw(st.integers(0, 3))],
                  "contracted_mw": draw(st.sampled_from([30.0, 60.0]))}]
        if draw(st.booleans()):
            later = month_ordinal(steps[0]["from_month"]) + draw(st.integers(1, horizon))
            steps.append({"from_month": ordinal_to_month(later), "contracted_mw": 90.0})
        sites.append({
            "id": site_id, "energization": steps,
            "power_price_usd_per_mwh": draw(st.sampled_from([
                30.0, 60.0, {"start_value": 45.0, "growth_pct_per_year": 5.0}])),
            "mining_infrastructure_mw": mining_mw,
            "uptime_pct": draw(st.sampled_from([85.0, 95.0])),
            "mining_pue": draw(st.sampled_from([1.0, 1.08])),
            "mining_opex_usd_per_mw_month": draw(st.sampled_from([0.0, 3000.0])),
            "ai_phases": draw(phases(site_id, mining_mw, horizon)),
        })
        placements[site_id] = mining_mw
    fleet = []
    if any(placements.values()):
        fleet.append({
            "id": "g0", "installed_mw": sum(placements.values()) + draw(st.sampled_from([0.0, 10.0])),
            "efficiency_j_per_th": draw(st.sampled_from([15.0, 22.0])),
            "sites_at_start": {s: mw for s, mw in placements.items() if mw > 0},
            "move_cost_usd_per_mw": draw(st.sampled_from([0.0, 50_000.0])),
            "salvage_usd_per_mw": draw(st.sampled_from([0.0, 100_000.0])),
        })
    cash = draw(st.sampled_from([50e6, 200e6, 500e6]))
    finance: dict = {
        "starting_cash_usd": cash, "minimum_cash_usd": draw(st.sampled_from([0.0, 0.1 * cash])),
        "btc_held_at_start_btc": draw(st.sampled_from([0.0, 100.0])),
        "btc_treasury_sellable": draw(st.booleans()),
        "cash_interest_pct_per_year": draw(st.sampled_from([0.0, 3.0])),
    }
    if draw(st.booleans()):
        finance["revolver"] = {"limit_usd": 50e6, "rate_pct_per_year": 9.0,
                               "undrawn_fee_pct_per_year": draw(st.sampled_from([0.0, 0.5]))}
    if draw(st.booleans()):
        finance["project_debt"] = {"loan_to_cost_pct": 70.0, "rate_pct_per_year": 7.5,
                                   "amortization_months": draw(st.integers(6, 60))}
    if draw(st.booleans()):
        finance["existing_debts"] = [{
            "id": "notes", "principal_usd": 0.2 * cash, "coupon_pct_per_year": 2.0,
            "maturity_month": MONTHS[draw(st.integers(0, 29))]}]
    data = {
        "name": "random", "start": start, "horizon_months": horizon,
        "discount_rate_pct_per_year": draw(st.sampled_from([0.0, 8.0, 12.0])),
        "sites": sites, "fleet": fleet, "finance": finance,
        "market": {
            "btc_price_usd": draw(st.sampled_from([60_000.0, {"start_value": 90_000.0,
                                                              "growth_pct_per_year": 20.0}])),
            "network_hashrate_ehs": draw(st.sampled_from([900.0, {"start_value": 1000.0,
                                                                 "growth_pct_per_year": 15.0}])),
            "fees_btc_per_block": draw(st.sampled_from([0.0, 0.05])),
            "halvings": [{"month": MONTHS[draw(st.integers(3, 20))], "subsidy_btc_per_block": 1.5625}],
        },
        "terminal": {"btc_haircut_pct": draw(st.sampled_from([0.0, 10.0])),
                     "mining_months": draw(st.sampled_from([0, 6]))},
        "solver": {"mip_rel_gap": 1e-6, "time_limit_seconds": 60.0},
    }
    if draw(st.booleans()):
        data["signing_cap_mw_per_year"] = 20.0
    return data


def solved(data: dict):
    instance = validate_instance_data(data)
    try:
        outcome = solve_instance(instance, audit=False)
    except InfeasibleError:
        assume(False)
    return instance, outcome.result.plan


def check_audit_confirms(data: dict) -> None:
    instance, plan = solved(data)
    report = audit_plan(instance, plan)
    assert report.violations == []
    assert abs(report.npv_usd - plan.npv_usd) <= 1e-6 * max(1.0, abs(plan.npv_usd))


PROPERTY = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@PROPERTY
@given(instances())
def test_audit_confirms_random_plans(data):
    check_audit_confirms(data)


@pytest.mark.slow
@settings(PROPERTY, max_examples=200)
@given(instances())
def test_audit_confirms_200_random_plans(data):
    check_audit_confirms(data)


@PROPERTY
@given(instances(), st.data())
def test_audit_catches_a_signing_earlier_than_the_lead_time_allows(data, pick):
    instance, plan = solved(data)
    assume(plan.decisions.signings)
    broken = plan.model_copy(deep=True)
    signing = pick.draw(st.sampled_from(broken.decisions.signings))
    # Signed a month later with the same rent start: rent would start one month before the
    # lead time allows.
    signing.signing_month = ordinal_to_month(month_ordinal(signing.signing_month) + 1)
    rules = {(v.rule, v.site, v.item) for v in audit_plan(instance, broken).violations}
    assert ("rent_start", signing.site, signing.phase) in rules


@PROPERTY
@given(instances(), st.data())
def test_audit_catches_cash_below_the_floor(data, pick):
    instance, plan = solved(data)
    broken = plan.model_copy(deep=True)
    finance = broken.decisions.finance[0]
    t = pick.draw(st.integers(0, len(broken.months) - 1))
    # Paying out $1M more than the cash above the floor at the end of month t leaves cash
    # $1M under the floor in month t (and every month after it).
    report = audit_plan(instance, plan)
    cash = report.monthly.loc[report.monthly["month"] == broken.months[t], "cash_end_usd"].iloc[0]
    finance.distributions_usd[t] += cash - instance.finance.minimum_cash_usd + 1e6
    violations = [v for v in audit_plan(instance, broken).violations if v.rule == "liquidity_floor"]
    assert violations and violations[0].month == broken.months[t]
    assert violations[0].amount == pytest.approx(1e6, rel=1e-6)
