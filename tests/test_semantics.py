"""Acceptance tests of the core planner: HiGHS solves tiny instances whose optimal plan and
NPV are derived independently (by hand in comments, in closed form, or by brute force).

Every instance has one site and at most one AI phase, 4-24 months, mip_rel_gap 0.
"""

from __future__ import annotations

import math

import pytest

from tests.helpers import (
    best_distribution_npv,
    discount_factors,
    flows_in_horizon,
    leveraged_signing_npvs,
    make_instance,
    make_phase,
    mining_margin_per_mw,
    month_days,
    month_label,
    phase_cash_by_age,
    solve_dict,
    value_after_horizon,
)

FLOW_COLUMNS = [
    "btc_sales_usd", "mining_power_usd", "mining_opex_usd", "fleet_moves_usd", "ai_rent_usd",
    "ai_prepayments_usd", "ai_opex_usd", "ai_capex_usd", "project_debt_draws_usd",
    "project_debt_interest_usd", "project_debt_principal_usd", "existing_debt_coupons_usd",
    "existing_debt_repayments_usd", "revolver_draws_usd", "revolver_interest_usd",
    "revolver_fees_usd", "cash_interest_usd", "distributions_usd",
]


def check_cash_identity(cashflow) -> None:
    """cash_end = cash_start + every flow line, and cash_start = last month's cash_end."""
    previous = None
    for _, row in cashflow.iterrows():
        total = row["cash_start_usd"] + sum(row[c] for c in FLOW_COLUMNS)
        assert row["cash_end_usd"] == pytest.approx(total, abs=1.0), row["month"]
        if previous is not None:
            assert row["cash_start_usd"] == pytest.approx(previous, abs=0.01)
        previous = row["cash_end_usd"]


def column(table, name: str) -> list[float]:
    return [float(v) for v in table[name]]


def signing_index(plan, start: str) -> int | None:
    signings = plan.decisions.signings
    if not signings:
        return None
    assert len(signings) == 1
    year, month = (int(x) for x in signings[0].signing_month.split("-"))
    y0, m0 = (int(x) for x in start.split("-"))
    return (year - y0) * 12 + (month - m0)


# ------------------------------------------------------------------ 1. mining-only NPV


def test_mining_only_npv_closed_form():
    """Mining only, constant BTC price, hashrate, fees and power price.

    Why the optimal policy is "sell every BTC the month it is mined and distribute
    everything above the floor at once": cash earns nothing and the BTC price is constant,
    so keeping a dollar (or a coin) for later only moves its payout to a month with a smaller
    discount factor DF(t) = (1 + r)^-((t+1)/12), r > 0. Every mining month has a margin >= 0
    (a month whose margin would be negative simply runs no miners), so no reserve is ever
    needed. The floor must be held at every month's end and comes back in the terminal value
    at DF(T-1). Hence
        NPV = DF(0) (cash0 - floor + BTC0 x price) + sum_t DF(t) x MW x max(0, margin_t)
              + DF(T-1) x floor.
    The horizon Feb 2027 .. Apr 2028 has months of 28 (Feb 2027), 29 (Feb 2028), 30 and 31
    days, and ends with the April 2028 halving, after which the margin is negative (see
    below), so the miners are switched off in the last month.
    """
    start, T, rate = "2027-02", 15, 10.0
    cash0, floor, btc0, price = 5e6, 1e6, 10.0, 90_000.0
    mw, eff, uptime, pue, power, opex = 8.0, 20.0, 90.0, 1.05, 40.0, 1_000.0
    data = make_instance(
        start=start, horizon=T, rate_pct=rate,
        site={"mining_infrastructure_mw": 10.0, "uptime_pct": uptime, "mining_pue": pue,
              "power_price_usd_per_mwh": power, "mining_opex_usd_per_mw_month": opex,
              "energization": [{"from_month": start, "contracted_mw": 10.0}]},
        fleet=[{"id": "s19", "installed_mw": mw, "efficiency_j_per_th": eff,
                "sites_at_start": {"alpha": mw}}],
        market={"btc_price_usd": price, "network_hashrate_ehs": 1000.0, "fees_btc_per_block": 0.035,
                "halvings": [{"month": "2028-04", "subsidy_btc_per_block": 1.5625}]},
        finance={"starting_cash_usd": cash0, "minimum_cash_usd": floor, "btc_held_at_start_btc": btc0},
    )
    days = month_days(start, T)
    assert {28, 29, 30, 31} <= set(days)
    subsidy = [3.125] * 14 + [1.5625]  # April 2028 is month 14
    # Per MW and day before the halving: 50,000 TH/s x 144 x 3.16 / 1e9 x $90,000 x 0.9
    #   = $1,842.91 of revenue against 1.05 x 24 h x 0.9 x $40 = $907.20 of power: +$935.71,
    #   less $1,000 of opex a month. After it: 50,000 x 144 x 1.5975 / 1e9 x 90,000 x 0.9 =
    #   $931.65 - $907.20 = $24.45 a day, 30 x 24.45 = $733.5 < $1,000 of opex: a loss.
    margins = [
        mining_margin_per_mw(days=days[t], efficiency_j_per_th=eff, btc_price=price,
                             subsidy=subsidy[t], fees=0.035, hashrate_ehs=1000.0, uptime_pct=uptime,
                             pue=pue, power_usd_per_mwh=power, opex_usd_per_mw_month=opex)
        for t in range(T)
    ]
    assert all(m > 0 for m in margins[:14]) and margins[14] < 0
    assert margins[0] == pytest.approx(28 * 935.712 - 1000.0, rel=1e-6)  # Feb 2027
    df = discount_factors(rate, T)
    expected = (df[0] * (cash0 - floor + btc0 * price)
                + sum(df[t] * mw * max(0.0, margins[t]) for t in range(T))
                + df[T - 1] * floor)

    outcome = solve_dict(data)
    plan = outcome.result.plan
    assert plan.npv_usd == pytest.approx(expected, rel=1e-6)
    running = plan.decisions.mining[0].running_mw
    assert running == pytest.approx([mw] * 14 + [0.0], abs=1e-6)
    # Everything is paid out as soon as it is earned (see the docstring).
    payouts = [cash0 - floor + btc0 * price + mw * margins[0]] + [
        mw * max(0.0, m) for m in margins[1:]
    ]
    assert plan.decisions.finance[0].distributions_usd == pytest.approx(payouts, abs=1.0)
    check_cash_identity(outcome.result.cashflow_monthly)


# ------------------------------------------------------------------ 2. lead time


@pytest.mark.parametrize("lead", [6, 9])
def test_lead_time_shifts_first_rent_by_exactly_lead_months(lead):
    """Signing allowed from month 3 (2027-04). The phase is worth more the earlier it is
    signed: its capex comes out of idle starting cash (worth the same whenever spent, since
    cash earns nothing and could only be paid out at month 0 otherwise), while every month of
    delay pushes the rent back. So the optimum signs in month 3 and the first rent is in month
    3 + L; before it the phase earns nothing. Rent: 10 MW x 1,000 x $150 = $1.5M a month."""
    start, T = "2027-01", 24
    data = make_instance(
        start=start, horizon=T,
        phases=[make_phase(lead_time_months=lead, earliest_signing_month="2027-04")],
    )
    outcome = solve_dict(data)
    plan = outcome.result.plan
    (signing,) = plan.decisions.signings
    assert signing.signing_month == "2027-04"
    assert signing.rent_start_month == month_label(start, 3 + lead)
    rent = column(outcome.result.cashflow_monthly, "ai_rent_usd")
    first = 3 + lead
    assert all(r == 0.0 for r in rent[:first])
    assert rent[first] > 0.0
    assert rent[first:] == pytest.approx([1.5e6] * (T - first), abs=0.01)
    online = column(outcome.result.sites_monthly, "ai_it_online_mw")
    assert online == pytest.approx([0.0] * first + [10.0] * (T - first))
    check_cash_identity(outcome.result.cashflow_monthly)


# ------------------------------------------------------------------ 3. escalator and term


def test_rent_escalates_on_anniversaries_and_stops_after_term():
    """L = 2, term 30 months, 5 %/yr escalator, horizon 40 months. Signed in month 0 (same
    argument as above), rent runs in months 2..31: $1.5M in lease months 0..11 (months 2..13),
    $1.575M in lease months 12..23 (months 14..25), $1.65375M in lease months 24..29
    (months 26..31), nothing from month 32 on. Opex $20k/MW-month x 10 MW = $200k while rent
    runs."""
    start, T, lead, term = "2027-01", 40, 2, 30
    data = make_instance(
        start=start, horizon=T,
        phases=[make_phase(lead_time_months=lead, term_months=term, escalator_pct_per_year=5.0,
                           opex_usd_per_mw_month=20_000.0)],
    )
    outcome = solve_dict(data)
    plan = outcome.result.plan
    s = signing_index(plan, start)
    assert s == 0
    (signing,) = plan.decisions.signings
    assert signing.rent_end_month == month_label(start, s + lead + term - 1)  # 2029-08
    expected_rent, expected_opex = [], []
    for t in range(T):
        j = t - s - lead  # lease month
        if 0 <= j < term:
            expected_rent.append(1.5e6 * 1.05 ** (j // 12))
            expected_opex.append(-200_000.0)
        else:
            expected_rent.append(0.0)
            expected_opex.append(0.0)
    assert expected_rent[13] == 1.5e6 and expected_rent[14] == pytest.approx(1.575e6)
    assert expected_rent[26] == pytest.approx(1.65375e6) and expected_rent[32] == 0.0
    cashflow = outcome.result.cashflow_monthly
    assert column(cashflow, "ai_rent_usd") == pytest.approx(expected_rent, abs=0.01)
    assert column(cashflow, "ai_opex_usd") == pytest.approx(expected_opex, abs=0.01)
    # First-year rent in the lease table: 12 x $1.5M
    assert signing.first_year_rent_usd == pytest.approx(18e6, abs=0.01)
    check_cash_identity(cashflow)


# ------------------------------------------------------------------ 4. spend profile


def test_spend_profile_sums_to_capex_and_starts_at_signing():
    """Capex 10 MW x $2M = $20M on the profile [0.5, 0.3, 0.2]: $10M at the end of the
    signing month, $6M a month later, $4M the month after. Signing allowed from month 2 and
    made there (the earliest month is the best, see test 2)."""
    start, T = "2027-01", 16
    data = make_instance(
        start=start, horizon=T,
        phases=[make_phase(capex_usd_per_mw_it=2e6, lead_time_months=5, spend_profile=[0.5, 0.3, 0.2],
                           earliest_signing_month="2027-03")],
    )
    outcome = solve_dict(data)
    plan = outcome.result.plan
    s = signing_index(plan, start)
    assert s == 2
    expected = [0.0] * T
    expected[2], expected[3], expected[4] = -10e6, -6e6, -4e6
    capex = column(outcome.result.cashflow_monthly, "ai_capex_usd")
    assert capex == pytest.approx(expected, abs=0.01)
    assert sum(capex) == pytest.approx(-20e6, abs=0.01)
    assert plan.decisions.signings[0].capex_usd == pytest.approx(20e6, abs=0.01)
    assert plan.kpis[0].total_capex_usd == pytest.approx(20e6, abs=0.01)
    site_capex = column(outcome.result.sites_monthly, "ai_capex_usd")
    assert site_capex == pytest.approx([-c for c in expected], abs=0.01)
    building = column(outcome.result.sites_monthly, "ai_it_building_mw")
    assert building == pytest.approx([0.0] * 2 + [10.0] * 5 + [0.0] * (T - 7))
    check_cash_identity(outcome.result.cashflow_monthly)


def test_prepayment_arrives_at_signing_and_replaces_first_rents():
    """Prepayment of 3 months of rent ($1.5M each) arrives at the end of the signing month
    (month 0): $4.5M; rent months 6, 7, 8 bring no cash; month 9 brings $1.5M."""
    start, T = "2027-01", 12
    data = make_instance(start=start, horizon=T, phases=[make_phase(prepayment_months=3)])
    outcome = solve_dict(data)
    assert signing_index(outcome.result.plan, start) == 0
    cashflow = outcome.result.cashflow_monthly
    assert column(cashflow, "ai_prepayments_usd") == pytest.approx([4.5e6] + [0.0] * (T - 1), abs=0.01)
    assert column(cashflow, "ai_rent_usd") == pytest.approx([0.0] * 9 + [1.5e6] * 3, abs=0.01)
    check_cash_identity(cashflow)


# ------------------------------------------------------------------ 5. brute force


BF_START, BF_T, BF_RATE = "2027-01", 24, 10.0
BF_CASH = 80e6
BF_FLEET_MW, BF_INFRA_MW, BF_EFF, BF_POWER, BF_PRICE = 20.0, 20.0, 20.0, 40.0, 90_000.0
BF_HASHRATE0, BF_HASHRATE_GROWTH = 800.0, 120.0
BF_PHASE = make_phase(
    conversion="retrofit", critical_it_mw=10.0, pue=1.2, capex_usd_per_mw_it=3e6,
    lead_time_months=6, lease_usd_per_kw_month=80.0, term_months=60,
)


def brute_force_signing_npv() -> dict[int | None, float]:
    """NPV of every signing month (and of never signing), computed without the optimizer.

    A retrofit of 10 MW IT at PUE 1.2 removes 12 MW of the site's 20 MW of mining capacity
    from its signing month on. The network hashrate grows 120 %/yr from 800 EH/s, so the
    mining margin falls month by month (and turns negative late in the horizon, when the
    miners are better off). Signing early starts the rent early but gives up 12 MW of margin
    while it is still high: the best month is interior.

    For a signing month s: mining runs min(fleet, capacity) MW whenever the margin is
    positive, none otherwise; the phase's flows follow the DESIGN timing rules
    (phase_cash_by_age); flows inside the horizon are paid out by the best distribution
    policy (best_distribution_npv: the starting cash must fund the capex); the phase's
    flows after the horizon are valued at their own discount factor DF(t) (the terminal
    value discounts them from the end of month T-1 at the same rate, times DF(T-1)).
    Power never binds: 20 x 1.05 = 21 MW before signing, 8 x 1.05 + 12 = 20.4 MW after rent
    start, against 40 MW energized.
    """
    T = BF_T
    days = month_days(BF_START, T)
    dfs = discount_factors(BF_RATE, T + len(phase_cash_by_age(BF_PHASE)))
    hashrate = [BF_HASHRATE0 * (1.0 + BF_HASHRATE_GROWTH / 100.0) ** (t / 12.0) for t in range(T)]
    margin = [
        mining_margin_per_mw(days=days[t], efficiency_j_per_th=BF_EFF, btc_price=BF_PRICE,
                             subsidy=3.125, fees=0.0, hashrate_ehs=hashrate[t], uptime_pct=100.0,
                             pue=1.05, power_usd_per_mwh=BF_POWER)
        for t in range(T)
    ]
    assert margin[0] > 0 and margin[-1] < 0  # the miners stop late in the horizon
    displaced = BF_PHASE["critical_it_mw"] * BF_PHASE["pue"]  # 12 MW
    phase = phase_cash_by_age(BF_PHASE)
    lead = BF_PHASE["lead_time_months"]
    npv: dict[int | None, float] = {}
    for s in [None, *range(0, T - lead)]:  # DESIGN: s + L <= T - 1
        flows = []
        for t in range(T):
            capacity = BF_INFRA_MW - (displaced if s is not None and t >= s else 0.0)
            mining_mw = min(BF_FLEET_MW, capacity) if margin[t] > 0 else 0.0
            power_mw = mining_mw * 1.05 + (displaced if s is not None and t >= s + lead else 0.0)
            assert power_mw <= 40.0
            phase_flow = phase[t - s] if s is not None and t >= s else 0.0
            flows.append(mining_mw * max(margin[t], 0.0) + phase_flow)
        npv[s] = best_distribution_npv(BF_CASH, 0.0, flows, dfs[:T]) + value_after_horizon(phase, s, T, dfs)
    return npv


def test_best_signing_month_equals_brute_force():
    npv = brute_force_signing_npv()
    best = max(npv, key=npv.get)
    ranked = sorted(npv.values(), reverse=True)
    # The optimum is interior and unique by a clear margin (so the comparison is meaningful).
    assert best is not None and 0 < best < BF_T - 1 - BF_PHASE["lead_time_months"]
    assert ranked[0] - ranked[1] > 1_000.0
    assert npv[best] - npv[0] > 100_000.0 and npv[best] - npv[None] > 100_000.0

    data = make_instance(
        start=BF_START, horizon=BF_T, rate_pct=BF_RATE, phases=[BF_PHASE],
        site={"mining_infrastructure_mw": BF_INFRA_MW, "power_price_usd_per_mwh": BF_POWER,
              "energization": [{"from_month": BF_START, "contracted_mw": 40.0}]},
        fleet=[{"id": "s19", "installed_mw": BF_FLEET_MW, "efficiency_j_per_th": BF_EFF,
                "sites_at_start": {"alpha": BF_FLEET_MW}}],
        market={"btc_price_usd": BF_PRICE,
                "network_hashrate_ehs": {"start_value": BF_HASHRATE0,
                                         "growth_pct_per_year": BF_HASHRATE_GROWTH}},
        finance={"starting_cash_usd": BF_CASH},
    )
    outcome = solve_dict(data)
    plan = outcome.result.plan
    assert signing_index(plan, BF_START) == best
    assert plan.npv_usd == pytest.approx(npv[best], rel=1e-6)
    check_cash_identity(outcome.result.cashflow_monthly)


# ------------------------------------------------------------------ 6. liquidity


def test_liquidity_floor_forces_revolver_draw_computed_by_hand():
    """Capex of $20M (10 MW x $2M, all in the signing month) against $10M of cash and a $2M
    floor; the only window is month 0 (T = 4, L = 3) and no income comes before rent.

    Month 0: draw 20 - (10 - 2) = $12M. Months 1 and 2: no income, so the 1 %/month interest
    (12 %/yr) is drawn too: 12M x 1.01 = $12.12M, then 12.12M x 1.01 = $12.2412M. Drawing
    more to pay out earlier never pays: $1 repaid k months later costs 1.01^k while the
    discounting gains only 1.08^(k/12) (1.01 > 1.08^(1/12) = 1.00643).
    Month 3 (the last): rent $1.5M. NPV = DF(3) x (floor + rent - 12.2412M x 1.01 + rent
    still contracted: 119 more months of $1.5M, each discounted by 1.08^-(j/12) from the end
    of month 3), with DF(3) = 1.08^-(4/12).
    """
    start, T, rate = "2027-01", 4, 8.0
    data = make_instance(
        start=start, horizon=T, rate_pct=rate,
        phases=[make_phase(capex_usd_per_mw_it=2e6, lead_time_months=3, spend_profile=[1.0])],
        finance={"starting_cash_usd": 10e6, "minimum_cash_usd": 2e6,
                 "revolver": {"limit_usd": 50e6, "rate_pct_per_year": 12.0}},
    )
    outcome = solve_dict(data)
    plan = outcome.result.plan
    assert signing_index(plan, start) == 0
    revolver = plan.decisions.finance[0].revolver_balance_usd
    assert revolver[:3] == pytest.approx([12e6, 12.12e6, 12.2412e6], abs=1.0)
    assert plan.decisions.finance[0].distributions_usd[:3] == pytest.approx([0.0] * 3, abs=1.0)
    cash_end = column(outcome.result.cashflow_monthly, "cash_end_usd")
    assert cash_end[:3] == pytest.approx([2e6] * 3, abs=1.0)
    remaining = sum(1.5e6 * 1.08 ** (-j / 12) for j in range(1, 120))
    expected = 1.08 ** (-4 / 12) * (2e6 + 1.5e6 - 12.2412e6 * 1.01 + remaining)
    assert plan.npv_usd == pytest.approx(expected, rel=1e-6)
    check_cash_identity(outcome.result.cashflow_monthly)


def test_liquidity_floor_delays_signing_until_cash_has_accumulated():
    """No revolver. 10 MW of ASICs at 25 J/TH (40,000 TH/s per MW), power free, 100 % uptime,
    $100,000/BTC, 1,000 EH/s, no fees: 40,000 x 144 x 3.125 / 1e9 = 0.018 BTC per MW-day,
    $1,800 per MW-day, $18,000 a day for the site: Jan $558k, Feb $504k, Mar $558k, Apr $540k.
    Cash $1M, floor $0.5M, a phase costing $2.5M paid in its signing month.
    Cash at the end of each month if nothing is paid out: Jan 1.558M, Feb 2.062M,
    Mar 2.620M, Apr 3.160M. The capex fits under the floor first in April
    (3.160 - 2.5 = 0.660 >= 0.5; March: 2.620 - 2.5 = 0.120 < 0.5), so the earliest
    signing month is April 2027 (month 3), with $160k of slack in April that can be paid out
    at once in January. Brute force over every signing month confirms it
    is also the best one (rent of $150k a month outweighs paying out a little earlier).
    """
    start, T, rate = "2027-01", 12, 10.0
    cash0, floor = 1e6, 0.5e6
    phase = make_phase(critical_it_mw=1.0, capex_usd_per_mw_it=2.5e6, lead_time_months=4,
                       spend_profile=[1.0])
    data = make_instance(
        start=start, horizon=T, rate_pct=rate, phases=[phase],
        site={"mining_infrastructure_mw": 10.0, "power_price_usd_per_mwh": 0.0},
        fleet=[{"id": "s21", "installed_mw": 10.0, "efficiency_j_per_th": 25.0,
                "sites_at_start": {"alpha": 10.0}}],
        market={"btc_price_usd": 100_000.0},
        finance={"starting_cash_usd": cash0, "minimum_cash_usd": floor},
    )
    days = month_days(start, T)
    income = [18_000.0 * d for d in days]
    assert income[:4] == [558_000.0, 504_000.0, 558_000.0, 540_000.0]
    hand_month = 3

    dfs = discount_factors(rate, T + 200)
    phase_flows = phase_cash_by_age(phase)
    npv = {}
    for s in [None, *range(0, T - 4)]:
        flows = [i + f for i, f in zip(income, flows_in_horizon(phase_flows, s, T), strict=True)]
        after = value_after_horizon(phase_flows, s, T, dfs)
        npv[s] = best_distribution_npv(cash0, floor, flows, dfs[:T]) + after
    assert all(npv[s] == -math.inf for s in range(hand_month))  # infeasible before April
    best = max(npv, key=npv.get)
    assert best == hand_month

    outcome = solve_dict(data)
    plan = outcome.result.plan
    assert plan.decisions.signings[0].signing_month == "2027-04"
    assert plan.npv_usd == pytest.approx(npv[best], rel=1e-6)
    # The floor binds in April: of the $3.160M, $2.5M go to the capex and $0.5M must stay,
    # so only the $160k of slack can be paid out before, and it is paid at once (month 0);
    # nothing else is paid out until the phase is funded.
    assert plan.decisions.finance[0].distributions_usd[:4] == pytest.approx([160e3, 0.0, 0.0, 0.0], abs=1.0)
    # Everything else earned is kept (as cash or as unsold BTC at $100k) until April's end,
    # when exactly the floor is left.
    cashflow = outcome.result.cashflow_monthly
    wealth = [c + 100_000.0 * b for c, b in zip(column(cashflow, "cash_end_usd"),
                                                column(cashflow, "btc_held_btc"), strict=True)]
    assert wealth[:4] == pytest.approx([1.398e6, 1.902e6, 2.460e6, 0.5e6], abs=1.0)
    assert min(column(cashflow, "cash_end_usd")) >= floor - 1.0
    check_cash_identity(cashflow)


# ------------------------------------------------------------------ 7. halving


def test_halving_halves_btc_mined_per_mw_day():
    """Fees 0, free power (the miners keep running after the halving). The halving of April
    2028 takes the subsidy from 3.125 to 1.5625 BTC from the start of April: BTC per MW per
    day in March (31 days) is exactly twice April's (30 days). March by hand: 50,000 TH/s x
    144 x 3.125 / 1e9 = 0.0225 BTC per MW-day, x 31 days x 90 % uptime = 0.62775 BTC per MW."""
    start, T = "2028-01", 6
    data = make_instance(
        start=start, horizon=T,
        site={"mining_infrastructure_mw": 8.0, "power_price_usd_per_mwh": 0.0, "uptime_pct": 90.0},
        fleet=[{"id": "s19", "installed_mw": 8.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 8.0}}],
        market={"halvings": [{"month": "2028-04", "subsidy_btc_per_block": 1.5625}]},
    )
    outcome = solve_dict(data)
    sites = outcome.result.sites_monthly
    btc = column(sites, "btc_mined_btc")
    running = column(sites, "mining_running_mw")
    assert running == pytest.approx([8.0] * T)
    days = month_days(start, T)
    assert days[2:4] == [31, 30]
    per_mw_day = [btc[t] / running[t] / days[t] for t in range(T)]
    assert per_mw_day[2] / per_mw_day[3] == pytest.approx(2.0, rel=1e-7)
    assert btc[2] / running[2] == pytest.approx(0.62775, rel=1e-7)
    assert btc[3] / running[3] == pytest.approx(0.0225 / 2 * 30 * 0.9, rel=1e-7)
    # Revenue follows: BTC x $90,000
    assert column(sites, "mining_revenue_usd")[3] == pytest.approx(btc[3] * 90_000.0, abs=0.01)


# ------------------------------------------------------------------ 8. retrofit vs greenfield


@pytest.mark.parametrize(
    ("conversion", "displaced", "mining_after"),
    [
        ("retrofit", None, 14.0),  # default: facility MW = 5 x 1.2 = 6 MW -> 20 - 6
        ("retrofit", 4.0, 16.0),  # stated displaced_mining_mw: 20 - 4
        ("greenfield", None, 20.0),  # new halls: no mining lost
    ],
)
def test_retrofit_removes_mining_from_signing_month(conversion, displaced, mining_after):
    """20 MW of profitable miners on 20 MW of mining infrastructure; a 5 MW-IT phase
    (PUE 1.2) can be signed only in month 3 (T = 10, L = 6) and is signed (rent $750k a month
    for 10 years against $5M of capex). A retrofit takes its displaced MW out of mining from
    the signing month (during the build already); a greenfield phase takes none. Power never
    binds: 21 + 6 = 27 MW <= 30."""
    start, T = "2027-01", 10
    overrides = {"conversion": conversion, "critical_it_mw": 5.0, "earliest_signing_month": "2027-04"}
    if displaced is not None:
        overrides["displaced_mining_mw"] = displaced
    data = make_instance(
        start=start, horizon=T, phases=[make_phase(**overrides)],
        site={"mining_infrastructure_mw": 20.0,
              "energization": [{"from_month": start, "contracted_mw": 30.0}]},
        fleet=[{"id": "s19", "installed_mw": 20.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 20.0}}],
    )
    # Margin per MW-day: 50,000 x 4.5e-7 x $90,000 = $2,025 of revenue vs 1.05 x 24 x $40 =
    # $1,008 of power: positive, so every MW the site can host runs.
    outcome = solve_dict(data)
    plan = outcome.result.plan
    assert signing_index(plan, start) == 3
    sites = outcome.result.sites_monthly
    expected = [20.0] * 3 + [mining_after] * (T - 3)
    assert column(sites, "mining_placed_mw") == pytest.approx(expected, abs=1e-6)
    assert column(sites, "mining_running_mw") == pytest.approx(expected, abs=1e-6)
    check_cash_identity(outcome.result.cashflow_monthly)


# ------------------------------------------------------------------ 9. energization


def test_site_is_dark_before_energization():
    """The site is energized (30 MW) from May 2027 (month 4); before that it is dark: no
    mining and no AI facility online, hence no rent. A greenfield phase with L = 2 earns the
    most when signed as early as possible; its rent may not start before month 4, so it is
    signed in month 2 and rents from month 4. From month 4 the 20 MW of miners run (margin
    positive as in test 8; 21 + 12 = 33 > 30 would not fit, so the AI phase here is 5 MW of
    IT: 21 + 6 = 27 MW <= 30)."""
    start, T, energized_from = "2027-01", 12, 4
    data = make_instance(
        start=start, horizon=T,
        phases=[make_phase(critical_it_mw=5.0, lead_time_months=2)],
        site={"mining_infrastructure_mw": 20.0,
              "energization": [{"from_month": month_label(start, energized_from), "contracted_mw": 30.0}]},
        fleet=[{"id": "s19", "installed_mw": 20.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 20.0}}],
    )
    outcome = solve_dict(data)
    plan = outcome.result.plan
    (signing,) = plan.decisions.signings
    assert signing.rent_start_month == month_label(start, energized_from)
    assert signing.signing_month == month_label(start, energized_from - 2)
    sites = outcome.result.sites_monthly
    dark = range(energized_from)
    assert column(sites, "energized_mw") == pytest.approx([0.0] * 4 + [30.0] * (T - 4))
    for name in ("mining_running_mw", "btc_mined_btc", "ai_it_online_mw", "ai_facility_mw", "ai_rent_usd"):
        values = column(sites, name)
        assert all(values[t] == 0.0 for t in dark), name
    assert column(sites, "mining_running_mw")[4:] == pytest.approx([20.0] * (T - 4), abs=1e-6)
    assert column(sites, "ai_it_online_mw")[4:] == pytest.approx([5.0] * (T - 4))
    assert column(outcome.result.cashflow_monthly, "ai_rent_usd")[4:] == pytest.approx([750_000.0] * (T - 4))
    check_cash_identity(outcome.result.cashflow_monthly)


def test_rent_cannot_start_before_energization_even_when_signing_is_forced_early():
    """The only signing month is 0 (T = 3, L = 2: rent in month 2) but the site is energized
    only from month 3, outside the horizon: the phase cannot be signed at all."""
    start = "2027-01"
    data = make_instance(
        start=start, horizon=3, phases=[make_phase(lead_time_months=2)],
        site={"energization": [{"from_month": month_label(start, 3), "contracted_mw": 30.0}]},
    )
    outcome = solve_dict(data)
    assert outcome.result.plan.decisions.signings == []
    assert column(outcome.result.cashflow_monthly, "ai_rent_usd") == [0.0] * 3


# ------------------------------------------------------------------ finance instruments


def test_project_debt_lines_and_npv_match_hand_schedule():
    """Project debt at 75 % LTC, 6 %/yr (0.5 %/month), 12-month amortization. Capex $20M
    uniform over L = 4 ($5M a month), so $3.75M is drawn in each of months s..s+3; interest
    on the balance at each month's start: 0, 18,750, 37,500, 56,250, then 0.5 % of $15M =
    $75,000 in the first rent month, whose level payment is the annuity of $15M over 12
    months at 0.5 %: 1.005^12 = 1.0616778, 75,000 / (1 - 1/1.0616778) = 75,000 / 0.0580947
    = $1,290,996.4. If signed in month 0, 8 of the 12 payments fall inside the horizon
    (T = 12) and the balance left at the end of month 11 is subtracted from the terminal
    value. The signing month is chosen by brute force over
    the window 0..7 (and never) with the same rules."""
    start, T, rate, lead = "2027-01", 12, 10.0, 4
    phase = make_phase(capex_usd_per_mw_it=2e6, lead_time_months=lead)
    data = make_instance(
        start=start, horizon=T, rate_pct=rate, phases=[phase],
        finance={"starting_cash_usd": 20e6,
                 "project_debt": {"loan_to_cost_pct": 75.0, "rate_pct_per_year": 6.0,
                                  "amortization_months": 12}},
    )
    # Independent debt schedule by age.
    base = phase_cash_by_age(phase)  # capex, rent (no opex here)
    length = len(base)
    i = 0.06 / 12
    payment = 15e6 * i / (1 - (1 + i) ** -12)
    assert payment == pytest.approx(1_290_996.4, abs=1.0)
    draws = [3.75e6 if a < lead else 0.0 for a in range(length)]
    interest, principal, balance_end = [0.0] * length, [0.0] * length, [0.0] * length
    balance = 0.0
    for a in range(length):
        interest[a] = balance * i
        if lead <= a < lead + 12:
            principal[a] = payment - interest[a]
        balance = balance + draws[a] - principal[a]
        balance_end[a] = balance
    assert interest[:5] == pytest.approx([0.0, 18_750.0, 37_500.0, 56_250.0, 75_000.0])
    net = [base[a] + draws[a] - interest[a] - principal[a] for a in range(length)]
    dfs = discount_factors(rate, T + length)
    # Rent still contracted after the horizon (no capex left), minus debt outstanding.
    npv = leveraged_signing_npvs(net, base, balance_end, T, lead, dfs, 20e6)
    best = max(npv, key=npv.get)
    assert sorted(npv.values())[-1] - sorted(npv.values())[-2] > 1_000.0

    outcome = solve_dict(data)
    plan = outcome.result.plan
    s = signing_index(plan, start)
    assert s == best
    assert plan.npv_usd == pytest.approx(npv[best], rel=1e-6)
    cashflow = outcome.result.cashflow_monthly

    def by_month(values):
        return [values[t - s] if t >= s else 0.0 for t in range(T)]

    assert column(cashflow, "project_debt_draws_usd") == pytest.approx(by_month(draws), abs=0.01)
    assert column(cashflow, "project_debt_interest_usd") == pytest.approx(
        [-x for x in by_month(interest)], abs=0.01)
    assert column(cashflow, "project_debt_principal_usd") == pytest.approx(
        [-x for x in by_month(principal)], abs=0.01)
    assert column(cashflow, "project_debt_balance_usd") == pytest.approx(by_month(balance_end), abs=0.01)
    check_cash_identity(cashflow)


def test_existing_bullet_debt_is_paid_from_cash():
    """$1M at 12 %/yr ($10k coupon a month) maturing in month 5 (2027-06), cash $3M, floor 0,
    nothing else. The coupons of months 0..5 and the $1M repayment at the end of month 5
    must be kept back; the rest is paid out at once:
    NPV = DF(0) x (3M - 1M - 6 x 10k) + DF(5) x 0 + ... = DF(0) x 1.94M, and the coupons and
    the principal are paid from the reserve (their value is lost entirely)."""
    start, T, rate = "2027-01", 8, 10.0
    data = make_instance(
        start=start, horizon=T, rate_pct=rate,
        finance={"starting_cash_usd": 3e6,
                 "existing_debts": [{"id": "notes", "principal_usd": 1e6, "coupon_pct_per_year": 12.0,
                                     "maturity_month": "2027-06"}]},
    )
    outcome = solve_dict(data)
    dfs = discount_factors(rate, T)
    assert outcome.result.plan.npv_usd == pytest.approx(dfs[0] * 1.94e6, rel=1e-6)
    cashflow = outcome.result.cashflow_monthly
    assert column(cashflow, "existing_debt_coupons_usd") == pytest.approx([-10e3] * 6 + [0.0] * 2)
    assert column(cashflow, "existing_debt_repayments_usd") == pytest.approx([0.0] * 5 + [-1e6, 0.0, 0.0])
    assert column(cashflow, "debt_notes_balance_usd") == pytest.approx([1e6] * 5 + [0.0] * 3)
    check_cash_identity(cashflow)


def test_terminal_value_btc_haircut_locked_treasury_and_salvage():
    """10 BTC that may not be sold, valued at the end at the final price less a 20 % haircut;
    the price grows 12 %/yr from $80,000, so in month 11 it is 80,000 x 1.12^(11/12). A fleet
    of 5 MW with no site to run on is worth its salvage of $100k/MW at the end. Cash $2M,
    floor $0.5M: NPV = DF(0) x 1.5M + DF(11) x (0.5M + 10 x P_11 x 0.8 + 500k)."""
    start, T, rate = "2027-01", 12, 10.0
    data = make_instance(
        start=start, horizon=T, rate_pct=rate,
        fleet=[{"id": "old", "installed_mw": 5.0, "efficiency_j_per_th": 30.0,
                "salvage_usd_per_mw": 100_000.0}],
        market={"btc_price_usd": {"start_value": 80_000.0, "growth_pct_per_year": 12.0}},
        finance={"starting_cash_usd": 2e6, "minimum_cash_usd": 0.5e6, "btc_held_at_start_btc": 10.0,
                 "btc_treasury_sellable": False},
        terminal={"btc_haircut_pct": 20.0},
    )
    outcome = solve_dict(data)
    dfs = discount_factors(rate, T)
    final_price = 80_000.0 * 1.12 ** (11 / 12)
    expected = dfs[0] * 1.5e6 + dfs[11] * (0.5e6 + 10 * final_price * 0.8 + 500e3)
    assert outcome.result.plan.npv_usd == pytest.approx(expected, rel=1e-6)
    assert outcome.result.plan.decisions.finance[0].btc_sold_btc == pytest.approx([0.0] * T, abs=1e-8)


def test_mining_continuation_in_terminal_value():
    """terminal.mining_months = 6: the last month's mining margin (December, 31 days) is
    counted six more times, discounted from the end of the horizon by 1.1^-(j/12), j = 1..6,
    and then like month T-1. 10 MW at 20 J/TH, $90k, 1,000 EH/s, no fees, $40/MWh, 100 %
    uptime: ($2,025 - $1,008) x 31 = $31,527 per MW in December."""
    start, T, rate = "2027-01", 12, 10.0
    base = dict(
        start=start, horizon=T, rate_pct=rate,
        site={"mining_infrastructure_mw": 10.0},
        fleet=[{"id": "s19", "installed_mw": 10.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 10.0}}],
        finance={"starting_cash_usd": 1e6},
    )
    days = month_days(start, T)
    margins = [10.0 * (2_025.0 - 1_008.0) * d for d in days]
    assert margins[11] == pytest.approx(10 * 31_527.0)
    dfs = discount_factors(rate, T)
    plain = dfs[0] * 1e6 + sum(dfs[t] * margins[t] for t in range(T))
    continuation = dfs[11] * margins[11] * sum(1.1 ** (-j / 12) for j in range(1, 7))
    outcome = solve_dict(make_instance(**base))
    assert outcome.result.plan.npv_usd == pytest.approx(plain, rel=1e-6)
    outcome = solve_dict(make_instance(**base, terminal={"mining_months": 6}))
    assert outcome.result.plan.npv_usd == pytest.approx(plain + continuation, rel=1e-6)


def test_signing_cap_below_phase_size_prevents_signing():
    """At most 5 MW of critical IT may be signed per calendar year; the only phase has 10 MW,
    so it can never be signed, although it would be worth signing (test 2)."""
    data = make_instance(horizon=18, phases=[make_phase()], signing_cap_mw_per_year=5.0)
    outcome = solve_dict(data)
    assert outcome.result.plan.decisions.signings == []
    data = make_instance(horizon=18, phases=[make_phase()], signing_cap_mw_per_year=10.0)
    assert len(solve_dict(data).result.plan.decisions.signings) == 1


def _relaxation_value_usd(data: dict) -> float:
    """The LP relaxation's optimum of an instance's model, integrality dropped (HiGHS)."""
    import numpy as np

    from capalloc.models import validate_instance_data
    from capalloc.optimizer.formulation import build_model
    from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
    from capalloc.optimizer.solving.handoff import DirectHandoff

    handoff = DirectHandoff(build_model(validate_instance_data(data)).model)
    highs = handoff.highs
    columns = highs.getNumCol()
    highs.changeColsIntegrality(columns, np.arange(columns, dtype=np.int32),
                                np.zeros(columns, dtype=np.uint8))
    highs.run()
    return highs.getInfo().objective_function_value * USD_PER_MODEL_UNIT


def test_a_phase_larger_than_the_cap_and_those_after_it_are_never_signed():
    """Cap 10 MW per calendar year; the site's phases in order are 5, 12 and 5 MW. The 12 MW
    hall cannot be signed in any one year, and the last hall must follow it, so only the
    first can be signed: the instance is worth exactly what it is worth without the other
    two, as a MIP and as an LP relaxation. (Without the reduction the relaxation signs
    fractions of the big hall in several years, and of the last hall with it, and is worth
    about twice as much.)"""
    small = make_phase(id="hall1", critical_it_mw=5.0)
    big = make_phase(id="hall2", critical_it_mw=12.0)
    last = make_phase(id="hall3", critical_it_mw=5.0)
    capped = make_instance(horizon=36, phases=[small, big, last], signing_cap_mw_per_year=10.0)
    alone = make_instance(horizon=36, phases=[small], signing_cap_mw_per_year=10.0)

    plan = solve_dict(capped).result.plan
    assert [s.phase for s in plan.decisions.signings] == ["hall1"]
    assert plan.npv_usd == pytest.approx(solve_dict(alone).result.plan.npv_usd, rel=1e-9)
    assert _relaxation_value_usd(capped) == pytest.approx(_relaxation_value_usd(alone), rel=1e-9)
    uncapped = make_instance(horizon=36, phases=[small, big, last])
    assert _relaxation_value_usd(uncapped) > _relaxation_value_usd(alone) + 1e6  # the halls are worth signing


def test_revolver_cheaper_than_discounting_is_drawn_to_the_limit():
    """Revolver of $10M at 6 %/yr (0.5 %/month) with a 1.2 %/yr (0.1 %/month) fee on the
    limit left undrawn at the month's start; discount rate 10 %/yr; nothing else; $1M cash.

    Borrowing is cheaper than discounting, so the plan borrows as much as it can as early as
    it can and pays it out. Reserving drawn cash to pay later interest would itself cost
    interest, so the best is to hold no cash (floor 0) and let the revolver carry its own
    interest and fee: with b_t the balance at the end of month t,
        b_t = b_{t-1} x 1.005 + 0.001 x (10M - b_{t-1}) = 1.004 b_{t-1} + 10k  (t >= 1),
    and the limit is reached in the last month: b_5 = 1.004^5 b_0 + 10k (1.004^5 - 1)/0.004
    = 10M. One more dollar drawn in month 0 is worth DF(0) now and costs 1.004^5 = 1.0202
    at the end (worth DF(5) x 1.0202 < DF(0) because DF(0)/DF(5) = 1.1^(5/12) = 1.0405).
    Month 0 pays the fee on the whole limit (nothing is drawn at its start): $10k.
    NPV = DF(0) x (1M + b_0 - 10k) - DF(5) x 10M.
    """
    start, T, rate = "2027-01", 6, 10.0
    cash0, limit = 1e6, 10e6
    data = make_instance(
        start=start, horizon=T, rate_pct=rate,
        finance={"starting_cash_usd": cash0,
                 "revolver": {"limit_usd": limit, "rate_pct_per_year": 6.0,
                              "undrawn_fee_pct_per_year": 1.2}},
    )
    dfs = discount_factors(rate, T)
    growth = 1.004 ** (T - 1)
    b0 = (limit - 10e3 * (growth - 1) / 0.004) / growth
    balances = [b0]
    for _ in range(1, T):
        balances.append(balances[-1] * 1.004 + 10e3)
    assert balances[-1] == pytest.approx(limit, rel=1e-12)
    assert b0 == pytest.approx(9.75297e6, abs=10.0)  # (10M - 50,401.6) / 1.0201604
    expected = dfs[0] * (cash0 + b0 - 10e3) - dfs[T - 1] * limit
    outcome = solve_dict(data)
    plan = outcome.result.plan
    assert plan.npv_usd == pytest.approx(expected, rel=1e-6)
    assert plan.decisions.finance[0].revolver_balance_usd == pytest.approx(balances, abs=1.0)
    assert plan.decisions.finance[0].distributions_usd == pytest.approx(
        [cash0 + b0 - 10e3] + [0.0] * (T - 1), abs=1.0)
    cashflow = outcome.result.cashflow_monthly
    fees = [-10e3] + [-0.001 * (limit - b) for b in balances[:-1]]
    assert column(cashflow, "revolver_fees_usd") == pytest.approx(fees, abs=0.01)
    interest = [0.0] + [-0.005 * b for b in balances[:-1]]
    assert column(cashflow, "revolver_interest_usd") == pytest.approx(interest, abs=0.01)
    check_cash_identity(cashflow)


@pytest.mark.parametrize("cash_rate", [6.0, 12.0])
def test_cash_interest_against_discount_rate(cash_rate):
    """Cash earning i/12 a month, starting cash $1M (it earns interest in month 0 too),
    discount 10 %/yr = 0.797 %/month. At 6 %/yr (0.5 %/month) holding cash loses value: pay
    it all out at the end of month 0, NPV = DF(0) x 1M x 1.005. At 12 %/yr (1 %/month) it
    gains: keep it to the end, NPV = DF(T-1) x 1M x 1.01^T."""
    start, T, rate = "2027-01", 6, 10.0
    data = make_instance(start=start, horizon=T, rate_pct=rate,
                         finance={"starting_cash_usd": 1e6, "cash_interest_pct_per_year": cash_rate})
    dfs = discount_factors(rate, T)
    i = cash_rate / 100 / 12
    expected = dfs[0] * 1e6 * (1 + i) if cash_rate < 10 else dfs[T - 1] * 1e6 * (1 + i) ** T
    outcome = solve_dict(data)
    assert outcome.result.plan.npv_usd == pytest.approx(expected, rel=1e-6)
    check_cash_identity(outcome.result.cashflow_monthly)


def test_npv_with_escalator_opex_prepayment_and_rent_after_the_horizon():
    """A phase whose lease runs well past the horizon (T = 18, L = 4, term 48 months, 3 %/yr
    escalator, $20k/MW-month opex, 2 months prepaid, capex uniform over the lead time): the
    plan's NPV equals the best over every signing month (and never) of the distributions
    policy of best_distribution_npv on the flows inside the horizon, plus the net rent after
    the horizon at its own discount factor (the terminal value discounts it from the end of
    month T-1 at the instance's rate, times DF(T-1): together DF(t) of its own month)."""
    start, T, rate = "2027-01", 18, 10.0
    phase = make_phase(lead_time_months=4, term_months=48, escalator_pct_per_year=3.0,
                       opex_usd_per_mw_month=20_000.0, prepayment_months=2,
                       capex_usd_per_mw_it=4e6)
    data = make_instance(start=start, horizon=T, rate_pct=rate, phases=[phase],
                         finance={"starting_cash_usd": 50e6, "minimum_cash_usd": 5e6})
    flows_by_age = phase_cash_by_age(phase)
    # age 0: -$10M capex + 2 x $1.5M prepaid = -$7M; ages 4, 5: -$200k opex, no rent cash;
    # age 6: $1.5M - $200k; age 16 (lease month 12): $1.545M - $200k
    assert flows_by_age[:7] == pytest.approx([-7e6, -10e6, -10e6, -10e6, -0.2e6, -0.2e6, 1.3e6])
    assert flows_by_age[16] == pytest.approx(1.345e6)
    dfs = discount_factors(rate, T + len(flows_by_age))
    npv = {}
    for s in [None, *range(0, T - 4)]:
        flows = flows_in_horizon(flows_by_age, s, T)
        after = value_after_horizon(flows_by_age, s, T, dfs)
        npv[s] = best_distribution_npv(50e6, 5e6, flows, dfs[:T]) + after
    best = max(npv, key=npv.get)
    outcome = solve_dict(data)
    plan = outcome.result.plan
    assert signing_index(plan, start) == best
    assert plan.npv_usd == pytest.approx(npv[best], rel=1e-6)
    check_cash_identity(outcome.result.cashflow_monthly)


def test_signing_cap_is_per_calendar_year():
    """Two 10-MW phases at one site, at most 10 MW signed per calendar year, plan from July
    2027. Both are worth signing as early as possible (cheap capex from idle cash, see test
    2): the first in July 2027 (month 0); the second cannot join it in 2027 and is signed in
    January 2028 (month 6), the first month of the next calendar year."""
    start = "2027-07"
    data = make_instance(
        start=start, horizon=24,
        phases=[make_phase(id="hall1"), make_phase(id="hall2")],
        signing_cap_mw_per_year=10.0,
    )
    signings = solve_dict(data).result.plan.decisions.signings
    signed = sorted((s.phase, s.signing_month) for s in signings)
    assert signed == [("hall1", "2027-07"), ("hall2", "2028-01")]


# ------------------------------------------------------------------ scenarios and the fleet


def _mining_site(mw: float) -> dict:
    return {"mining_infrastructure_mw": mw,
            "energization": [{"from_month": "2027-01", "contracted_mw": 2 * mw}]}


def test_expected_npv_weights_scenarios_by_probability():
    """Two market scenarios, mining only, constant within each: $120k/BTC with probability
    0.75 and $40k/BTC with 0.25. Per MW-day at 20 J/TH, 1,000 EH/s, no fees: 50,000 x 4.5e-7
    = 0.0225 BTC; revenue $2,700 (bull) or $900 (bear) against $1,008 of power: the bear
    scenario runs no miners (its plan is chosen per scenario), the bull one runs all 10 MW.
    Expected NPV = 0.75 x NPV_bull + 0.25 x NPV_bear, each in the closed form of test 1."""
    start, T, rate = "2027-01", 12, 10.0
    data = make_instance(
        start=start, horizon=T, rate_pct=rate, site=_mining_site(10.0),
        fleet=[{"id": "s19", "installed_mw": 10.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 10.0}}],
        finance={"starting_cash_usd": 1e6},
    )
    data["market"] = {"halvings": [], "scenarios": [
        {"name": "bull", "probability": 0.75, "btc_price_usd": 120_000.0,
         "network_hashrate_ehs": 1000.0, "fees_btc_per_block": 0.0},
        {"name": "bear", "probability": 0.25, "btc_price_usd": 40_000.0,
         "network_hashrate_ehs": 1000.0, "fees_btc_per_block": 0.0}]}
    days = month_days(start, T)
    dfs = discount_factors(rate, T)
    bull = dfs[0] * 1e6 + sum(dfs[t] * 10.0 * (2_700.0 - 1_008.0) * days[t] for t in range(T))
    bear = dfs[0] * 1e6
    outcome = solve_dict(data)
    plan = outcome.result.plan
    assert plan.npv_usd == pytest.approx(0.75 * bull + 0.25 * bear, rel=1e-6)
    by_name = {k.scenario: k for k in plan.kpis}
    assert by_name["bull"].npv_usd == pytest.approx(bull, rel=1e-6)
    assert by_name["bear"].npv_usd == pytest.approx(bear, rel=1e-6)
    running = {m.scenario: m.running_mw for m in plan.decisions.mining}
    assert running["bull"] == pytest.approx([10.0] * T, abs=1e-6)
    assert running["bear"] == pytest.approx([0.0] * T, abs=1e-6)


def test_moving_machines_into_a_site_costs_per_mw():
    """10 MW owned, 5 MW placed at the site at the start, moving a MW in costs $20k. One MW
    earns (2,025 - 1,008) x days a month (test 8), ~$31k in a 31-day month, so the 5 idle MW
    are moved in at once (month 0): NPV = closed form with 10 MW running - DF(0) x 5 x $20k."""
    start, T, rate = "2027-01", 12, 10.0
    data = make_instance(
        start=start, horizon=T, rate_pct=rate, site=_mining_site(10.0),
        fleet=[{"id": "s19", "installed_mw": 10.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 5.0}, "move_cost_usd_per_mw": 20_000.0}],
        finance={"starting_cash_usd": 1e6},
    )
    days = month_days(start, T)
    dfs = discount_factors(rate, T)
    expected = (dfs[0] * (1e6 - 5 * 20_000.0)
                + sum(dfs[t] * 10.0 * (2_025.0 - 1_008.0) * days[t] for t in range(T)))
    outcome = solve_dict(data)
    assert outcome.result.plan.npv_usd == pytest.approx(expected, rel=1e-6)
    moves = column(outcome.result.cashflow_monthly, "fleet_moves_usd")
    assert moves == pytest.approx([-100_000.0] + [0.0] * (T - 1), abs=0.01)
    assert outcome.result.plan.decisions.mining[0].placed_mw == pytest.approx([10.0] * T, abs=1e-6)
    check_cash_identity(outcome.result.cashflow_monthly)
