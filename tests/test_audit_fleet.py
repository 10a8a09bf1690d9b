"""The independent audit of issue 13's rules: it confirms a plan that buys, sells, curtails
and builds halls, recomputes the new cash lines, and reports hand-broken plans with the
right rule (delivery = order shifted by the lead, owned >= placed, sales within what is
owned, curtailed <= share x running, halls online after their lead, whole lots, windows)."""

from __future__ import annotations

import pytest

from capalloc.models import validate_instance_data
from capalloc.optimizer.checks.audit import audit_plan
from capalloc.optimizer.pipeline import solve_instance
from tests.helpers import make_instance

START = "2027-01"
T = 12


@pytest.fixture(scope="module")
def solved():
    data = make_instance(
        start=START, horizon=T,
        site={"mining_infrastructure_mw": 6.0, "fixed_power_charge_usd_per_mw_month": 500.0,
              "energization": [{"from_month": START, "contracted_mw": 20.0}],
              "curtailment": {"credit_usd_per_mwh": 200.0, "max_share_pct_by_calendar_month": {7: 10, 8: 15}},
              "mining_halls": {"capex_usd_per_mw": 100_000.0, "build_lead_months": 2, "max_mw": 6.0}},
        fleet=[{"id": "old", "installed_mw": 6.0, "efficiency_j_per_th": 25.0,
                "sites_at_start": {"alpha": 6.0}, "resale_usd_per_th": 2.0},
               {"id": "new", "installed_mw": 0.0, "efficiency_j_per_th": 10.0, "resale_usd_per_th": 8.0,
                "purchase": {"price_usd_per_th": 10.0, "delivery_lead_months": 2, "deposit_pct": 25.0,
                             "lot_mw": 2.0, "max_mw_per_month": 4.0}}],
        market={"marginal_fleet": {"efficiency_j_per_th": 25.0, "power_price_usd_per_mwh": 60.0}},
    )
    instance = validate_instance_data(data)
    outcome = solve_instance(instance)
    return instance, outcome


def rules(instance, plan) -> set[str]:
    return {v.rule for v in audit_plan(instance, plan).violations}


def test_the_audit_confirms_a_plan_using_every_new_capability(solved):
    instance, outcome = solved
    plan = outcome.result.plan
    assert plan.audit.passed, plan.audit.messages
    # The plan does use them: it orders, curtails in July/August and pays the fixed charge.
    assert sum(sum(f.ordered_mw) for f in plan.decisions.fleet) > 0
    assert sum(sum(m.curtailed_mw) for m in plan.decisions.mining) > 0
    report = audit_plan(instance, plan)
    lines = report.monthly
    cash = outcome.result.cashflow_monthly
    for column in ("curtailment_credits_usd", "fixed_power_charges_usd", "fleet_purchase_deposits_usd",
                   "fleet_purchase_balances_usd", "fleet_resale_usd", "mining_hall_capex_usd",
                   "mining_power_usd", "btc_mined_btc"):
        assert list(lines[column]) == pytest.approx(list(cash[column]), abs=0.02), column


def _broken(plan, change):
    copy = plan.model_copy(deep=True)
    change(copy)
    return copy


def _new(plan):
    return next(f for f in plan.decisions.fleet if f.generation == "new")


def test_delivery_must_be_the_order_shifted_by_the_lead(solved):
    instance, outcome = solved
    plan = outcome.result.plan
    first = next(t for t, mw in enumerate(_new(plan).ordered_mw) if mw > 0)

    def change(p):
        f = _new(p)
        f.delivered_mw[first + 2], f.delivered_mw[first + 3] = 0.0, f.delivered_mw[first + 2]
    assert "fleet_delivered" in rules(instance, _broken(plan, change))


def test_an_order_delivered_after_the_horizon(solved):
    instance, outcome = solved

    def change(p):
        _new(p).ordered_mw[T - 1] = 2.0
    assert "order_window" in rules(instance, _broken(outcome.result.plan, change))


def test_orders_in_whole_lots_within_the_supply_limit(solved):
    instance, outcome = solved

    def lots(p):
        _new(p).ordered_mw[0] = 3.0

    def supply(p):
        _new(p).ordered_mw[0] = 6.0
    assert "order_lots" in rules(instance, _broken(outcome.result.plan, lots))
    assert "order_supply" in rules(instance, _broken(outcome.result.plan, supply))


def test_a_sale_beyond_what_is_owned(solved):
    instance, outcome = solved

    def change(p):
        next(f for f in p.decisions.fleet if f.generation == "old").sold_mw[0] = 7.0
    assert "sale_within_owned" in rules(instance, _broken(outcome.result.plan, change))


def test_placed_beyond_what_is_owned(solved):
    instance, outcome = solved

    def change(p):
        for m in p.decisions.mining:
            if m.generation == "new":
                m.placed_mw[0] = 1.0  # nothing delivered yet in month 0
    assert "fleet_size" in rules(instance, _broken(outcome.result.plan, change))


def test_curtailed_beyond_the_months_share(solved):
    instance, outcome = solved

    def change(p):
        m = next(m for m in p.decisions.mining if m.curtailed_mw and m.running_mw[6] > 0)
        m.curtailed_mw[6] = 0.5 * m.running_mw[6]  # July allows 10 %
    assert "curtailed_within_share" in rules(instance, _broken(outcome.result.plan, change))


def test_halls_online_before_their_lead(solved):
    instance, outcome = solved

    def change(p):
        h = p.decisions.halls[0]
        h.built_mw[0] += 1.0
        h.online_mw[1] += 1.0  # built in month 0, lead 2: online from month 2
    found = rules(instance, _broken(outcome.result.plan, change))
    assert "hall_online" in found
