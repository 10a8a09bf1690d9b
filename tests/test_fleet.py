"""Issue 13, the fleet as an investment: purchases (lead, deposit and balance, lots, supply),
sales at a resale price, terminal value at the last resale price, and mining halls.

One site, constant market: $90,000/BTC, 1,000 EH/s, subsidy 3.125, no fees, uptime 100 %,
so BTC per TH/s-day = 144 x 3.125 / 1e9 = 4.5e-7 and hashprice = $0.0405/TH/s-day
($40.5/PH/day). Expected values are derived by hand in the comments.
"""

from __future__ import annotations

import pytest

from tests.helpers import (
    best_distribution_npv,
    discount_factors,
    make_instance,
    month_days,
    month_label,
    solve_dict,
)

START = "2027-01"
HASHPRICE_PER_TH_DAY = 90_000.0 * 144 * 3.125 / 1e9  # $0.0405
NEW_FLOW_COLUMNS = [
    "btc_sales_usd", "mining_power_usd", "mining_opex_usd", "fleet_moves_usd", "curtailment_credits_usd",
    "fixed_power_charges_usd", "fleet_purchase_deposits_usd", "fleet_purchase_balances_usd",
    "fleet_resale_usd", "mining_hall_capex_usd", "ai_rent_usd", "ai_prepayments_usd", "ai_opex_usd",
    "ai_capex_usd", "project_debt_draws_usd", "project_debt_interest_usd", "project_debt_principal_usd",
    "existing_debt_coupons_usd", "existing_debt_repayments_usd", "revolver_draws_usd",
    "revolver_interest_usd", "revolver_fees_usd", "cash_interest_usd", "distributions_usd",
]


def check_cash_identity(cashflow) -> None:
    """cash_end = cash_start + every flow line (the new lines of issue 13 included)."""
    for _, row in cashflow.iterrows():
        total = row["cash_start_usd"] + sum(row[c] for c in NEW_FLOW_COLUMNS)
        assert row["cash_end_usd"] == pytest.approx(total, abs=1.0), row["month"]


def margin_per_mw_month(days: int, efficiency: float, power: float, pue: float = 1.05,
                        subsidy: float = 3.125) -> float:
    """Revenue - power of 1 MW running a whole month at uptime 100 %, USD (no opex)."""
    revenue = 1e6 / efficiency * (90_000.0 * 144 * subsidy / 1e9) * days
    return revenue - pue * 24 * days * power


def solve_audited(data):
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.pipeline import solve_instance

    outcome = solve_instance(validate_instance_data(data))
    assert outcome.result.plan.audit.passed, outcome.result.plan.audit.messages
    return outcome


def fleet_of(plan, generation: str):
    return next(f for f in plan.decisions.fleet if f.generation == generation)


def s23_on_order(**purchase) -> dict:
    """10 MW of halls on 12 MW of power and no fleet; S23s (10 J/TH) at $2/TH, delivered two
    months after their order, at most 4 MW a month, with the purchase terms ``purchase``."""
    terms = {"price_usd_per_th": 2.0, "delivery_lead_months": 2, "max_mw_per_month": 4.0, **purchase}
    return make_instance(
        start=START, horizon=8,
        site={"mining_infrastructure_mw": 10.0,
              "energization": [{"from_month": START, "contracted_mw": 12.0}]},
        fleet=[{"id": "s23", "installed_mw": 0.0, "efficiency_j_per_th": 10.0, "purchase": terms}],
    )


def test_purchase_is_delivered_lead_months_after_its_order_and_paid_as_deposit_and_balance():
    """A 10 J/TH generation (100,000 TH/s per MW) at $2/TH = $200,000 per MW, lead 2 months,
    30 % deposit, at most 4 MW a month, on a site with 10 MW of halls and nothing owned.

    One MW earns 100,000 x 0.0405 = $4,050 a day against 1.05 x 24 x $40 = $1,008 of power:
    ~$91k a month. An order in month u runs from u + 2 to month 7: (6 - u) months, which
    covers $200k for u <= 3 (3 months, ~$273k) and not for u = 4 (2 months, ~$182k; the
    terminal value counts nothing: no resale, no salvage). So the plan orders the supply
    limit in months 0 and 1 (4 + 4 MW) and the last 2 MW the halls hold in month 2, and
    nothing later. Deposits 30 % x 4 x $200k = $240k at months 0 and 1, $120k at month 2;
    balances 70 % at months 2, 3 (4 MW: $560k each) and 4 (2 MW: $280k).
    """
    data = s23_on_order(deposit_pct=30.0)
    outcome = solve_audited(data)
    plan = outcome.result.plan
    s23 = fleet_of(plan, "s23")
    assert s23.ordered_mw == pytest.approx([4, 4, 2, 0, 0, 0, 0, 0], abs=1e-6)
    assert s23.delivered_mw == pytest.approx([0, 0, 4, 4, 2, 0, 0, 0], abs=1e-6)
    assert s23.owned_mw == pytest.approx([0, 0, 4, 8, 10, 10, 10, 10], abs=1e-6)
    assert plan.decisions.mining[0].running_mw == pytest.approx([0, 0, 4, 8, 10, 10, 10, 10], abs=1e-6)
    cash = outcome.result.cashflow_monthly
    assert list(cash["fleet_purchase_deposits_usd"]) == pytest.approx(
        [-240_000, -240_000, -120_000, 0, 0, 0, 0, 0], abs=0.01)
    assert list(cash["fleet_purchase_balances_usd"]) == pytest.approx(
        [0, 0, -560_000, -560_000, -280_000, 0, 0, 0], abs=0.01)
    assert plan.kpis[0].fleet_purchases_usd == pytest.approx(2_000_000.0, abs=0.01)
    check_cash_identity(cash)
    fleet_table = outcome.result.fleet_monthly
    assert list(fleet_table["generation_delivered_mw"]) == pytest.approx([0, 0, 4, 4, 2, 0, 0, 0], abs=1e-6)


def test_lots_and_supply_limit_are_whole_lots():
    """Lots of 3 MW, at most 4 MW a month (one lot), 10 MW of halls: the plan of the test
    above becomes whole lots, 3 MW in each of months 0, 1, 2 (9 MW; a fourth lot in month 3
    runs 3 months, still worth it at ~$273k > $200k but exceeds the 10 MW of halls)."""
    data = s23_on_order(lot_mw=3.0)
    plan = solve_audited(data).result.plan
    assert fleet_of(plan, "s23").ordered_mw == pytest.approx([3, 3, 3, 0, 0, 0, 0, 0], abs=1e-6)


@pytest.mark.parametrize("price_factor", [0.99, 1.01])
def test_a_better_generation_is_bought_iff_the_margin_difference_covers_its_price(price_factor):
    """1 MW of halls holds either the owned 25 J/TH miners or a new 10 J/TH MW (lead 1,
    paid in full at the order). Ordering in month 0 gives the new generation months 1..T-1
    instead of the old one, worth D = sum_{t>=1} DF(t) x (m_new(t) - m_old(t)), against
    DF(0) x price. So it is bought iff price < P* = D / DF(0) (a later order gives up its
    month's difference and is worse). Power $40/MWh: m(t) = days x (TH/s x 0.0405 - 1008).
    At 0.99 P* the plan buys 1 MW in month 0, at 1.01 P* nothing; the NPV is the best payout
    of the resulting monthly flows.
    """
    T, rate = 6, 10.0
    days = month_days(START, T)
    df = discount_factors(rate, T)
    m_old = [margin_per_mw_month(d, 25.0, 40.0) for d in days]
    m_new = [margin_per_mw_month(d, 10.0, 40.0) for d in days]
    p_star = sum(df[t] * (m_new[t] - m_old[t]) for t in range(1, T)) / df[0]  # USD per MW
    price_per_th = p_star * price_factor / 100_000.0  # 10 J/TH: 100,000 TH/s per MW
    data = make_instance(
        start=START, horizon=T, rate_pct=rate,
        site={"mining_infrastructure_mw": 1.0,
              "energization": [{"from_month": START, "contracted_mw": 5.0}]},
        fleet=[{"id": "s19", "installed_mw": 1.0, "efficiency_j_per_th": 25.0,
                "sites_at_start": {"alpha": 1.0}},
               {"id": "s23", "installed_mw": 0.0, "efficiency_j_per_th": 10.0,
                "purchase": {"price_usd_per_th": price_per_th, "delivery_lead_months": 1}}],
        finance={"starting_cash_usd": 10e6, "minimum_cash_usd": 0.0},
    )
    outcome = solve_audited(data)
    plan = outcome.result.plan
    bought = price_factor < 1.0
    expected_orders = [1.0 if bought and t == 0 else 0.0 for t in range(T)]
    assert fleet_of(plan, "s23").ordered_mw == pytest.approx(expected_orders, abs=1e-6)
    flows = [m_old[0] - p_star * price_factor] + m_new[1:] if bought else m_old
    expected = best_distribution_npv(10e6, 0.0, flows, df)
    assert plan.npv_usd == pytest.approx(expected, rel=1e-7)


def test_a_sale_removes_the_mw_from_the_next_month_and_brings_the_resale_cash_in_its_month():
    """2 MW at 20 J/TH (50,000 TH/s per MW), resale $5/TH = $250,000 per MW, power $45.
    Before the halving in month 4 a MW earns 50,000 x 0.0405 = $2,025 a day against
    1.05 x 24 x 45 = $1,134 of power; after it $1,012.50: a loss, so the machines would idle.
    Kept, they are worth the same $5/TH at the end (terminal value at the last resale
    price) but later; sold in month 3 they run that month and bring 2 x $250,000 = $500,000
    at its end. Selling earlier gives up ~$27k a month of margin per MW for a few hundred
    dollars of discounting, so the plan sells everything in month 3: owned 2 MW in months
    0-3, 0 from month 4.
    """
    T = 8
    data = make_instance(
        start=START, horizon=T,
        site={"mining_infrastructure_mw": 2.0, "power_price_usd_per_mwh": 45.0,
              "energization": [{"from_month": START, "contracted_mw": 5.0}]},
        fleet=[{"id": "s19", "installed_mw": 2.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 2.0}, "resale_usd_per_th": 5.0}],
        market={"halvings": [{"month": month_label(START, 4), "subsidy_btc_per_block": 1.5625}]},
    )
    outcome = solve_audited(data)
    plan = outcome.result.plan
    s19 = fleet_of(plan, "s19")
    assert s19.sold_mw == pytest.approx([0, 0, 0, 2, 0, 0, 0, 0], abs=1e-6)
    assert s19.owned_mw == pytest.approx([2, 2, 2, 2, 0, 0, 0, 0], abs=1e-6)
    assert plan.decisions.mining[0].running_mw == pytest.approx([2, 2, 2, 2, 0, 0, 0, 0], abs=1e-6)
    cash = outcome.result.cashflow_monthly
    assert list(cash["fleet_resale_usd"]) == pytest.approx([0, 0, 0, 500_000, 0, 0, 0, 0], abs=0.01)
    check_cash_identity(cash)


def test_terminal_value_counts_the_fleet_at_the_last_resale_price():
    """Miners that cannot earn (power $200/MWh) and a resale price that rises from $1/TH at
    1,000 %/yr (the top of its plausible range): in the last month t = 3 it is
    11^(3/12) = sqrt(sqrt(11)) = sqrt(3.316625) = $1.821160/TH, and every earlier month's price
    is lower, so selling before the end brings less than holding: the plan keeps the 2 MW and
    the terminal value is 2 x 50,000 TH/s x $1.821160 = $182,116."""
    T = 4
    data = make_instance(
        start=START, horizon=T,
        site={"mining_infrastructure_mw": 2.0, "power_price_usd_per_mwh": 200.0},
        fleet=[{"id": "s19", "installed_mw": 2.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 2.0},
                "resale_usd_per_th": {"start_value": 1.0, "growth_pct_per_year": 1000.0}}],
        finance={"starting_cash_usd": 1e6, "minimum_cash_usd": 0.0},
    )
    outcome = solve_audited(data)
    plan = outcome.result.plan
    assert fleet_of(plan, "s19").sold_mw == pytest.approx([0, 0, 0, 0], abs=1e-6)
    report_terminal = plan.kpis[0].terminal_value_usd
    # Terminal value = cash left (everything is paid out at once: 0) + the fleet at $1.821160/TH.
    assert report_terminal == pytest.approx(182_116.0, abs=1.0)


def test_a_mining_hall_comes_online_after_its_build_lead():
    """No mining infrastructure; halls at $100,000 per MW with a build lead of 3 months.
    2 MW of 20 J/TH miners (owned, not placed) earn ~$27k a month per MW at $40/MWh, so
    halls for both MW pay back within 4 months: built in month 0 for $200,000, online and
    hosting the 2 MW from month 3 (not before), nothing built later."""
    T = 12
    data = make_instance(
        start=START, horizon=T,
        site={"mining_infrastructure_mw": 0.0,
              "mining_halls": {"capex_usd_per_mw": 100_000.0, "build_lead_months": 3, "max_mw": 5.0}},
        fleet=[{"id": "s19", "installed_mw": 2.0, "efficiency_j_per_th": 20.0}],
    )
    outcome = solve_audited(data)
    plan = outcome.result.plan
    halls = plan.decisions.halls[0]
    assert halls.built_mw == pytest.approx([2.0] + [0.0] * (T - 1), abs=1e-6)
    assert halls.online_mw == pytest.approx([0, 0, 0] + [2.0] * (T - 3), abs=1e-6)
    assert plan.decisions.mining[0].running_mw == pytest.approx([0, 0, 0] + [2.0] * (T - 3), abs=1e-6)
    cash = outcome.result.cashflow_monthly
    assert list(cash["mining_hall_capex_usd"]) == pytest.approx([-200_000.0] + [0.0] * (T - 1), abs=0.01)
    check_cash_identity(cash)


def test_old_instances_keep_their_plans_without_the_new_fields():
    """Neutral defaults: an instance without any issue-13 field solves as before; its plan
    has no fleet or hall decisions and every new cash line is zero."""
    data = make_instance(
        start=START, horizon=6,
        site={"mining_infrastructure_mw": 2.0},
        fleet=[{"id": "s19", "installed_mw": 2.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 2.0}}],
    )
    outcome = solve_dict(data)
    plan = outcome.result.plan
    assert plan.decisions.fleet == [] and plan.decisions.halls == []
    cash = outcome.result.cashflow_monthly
    for column in ("curtailment_credits_usd", "fixed_power_charges_usd", "fleet_purchase_deposits_usd",
                   "fleet_purchase_balances_usd", "fleet_resale_usd", "mining_hall_capex_usd"):
        assert (cash[column] == 0.0).all(), column
