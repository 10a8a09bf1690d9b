"""The pure economics functions on their own, against hand arithmetic and closed forms.

Every expected value below is worked out in the comment beside it or in closed form in the
test, never copied from what the code printed.
"""

from __future__ import annotations

import math

import pytest

from capalloc.optimizer.economics import (
    annuity_payment,
    btc_mined_per_mw,
    btc_per_th_day,
    capex_schedule,
    existing_debt_schedule,
    hashprice_usd_per_th_day,
    lease_rent,
    mining_energy_cost_per_mw,
    phase_schedule,
    subsidy_by_month,
    th_per_mw,
)

# ---------------------------------------------------------------- mining unit economics


def test_hashprice_domain_example():
    # DOMAIN.md: $90,000 x 144 blocks/day x 3.16 BTC/block / 1.0e9 TH/s
    #   = 12,960,000 x 3.16 / 1e9 = 40,953,600 / 1e9 = $0.0409536 per TH/s per day (~$41/PH/day).
    value = hashprice_usd_per_th_day(90_000.0, 3.125, 0.035, 1000.0)
    assert value == pytest.approx(0.0409536, rel=1e-12)
    assert round(value, 3) == 0.041


def test_btc_per_th_day_and_blocks_per_day():
    # 144 x 3.125 BTC = 450 BTC a day shared by 1e9 TH/s -> 4.5e-7 BTC per TH/s per day.
    assert btc_per_th_day(3.125, 0.0, 1000.0) == pytest.approx(4.5e-7, rel=1e-12)
    # Half as many blocks a day, half as much per TH.
    assert btc_per_th_day(3.125, 0.0, 1000.0, blocks_per_day=72.0) == pytest.approx(2.25e-7, rel=1e-12)
    # Twice the network hashrate, half as much per TH.
    assert btc_per_th_day(3.125, 0.0, 2000.0) == pytest.approx(2.25e-7, rel=1e-12)


def test_th_per_mw():
    # 1 MW = 1e6 J/s; at 16.7 J/TH that is 1e6 / 16.7 = 59,880.24 TH/s (DOMAIN: 59,880).
    assert th_per_mw(16.7) == pytest.approx(59_880.0, abs=0.5)
    assert th_per_mw(20.0) == pytest.approx(50_000.0, rel=1e-12)


def test_btc_mined_per_mw_month():
    # 25 J/TH -> 40,000 TH/s per MW; 4.5e-7 BTC per TH/s per day -> 0.018 BTC per MW-day;
    # 31 days at 90 % uptime -> 0.018 x 31 x 0.9 = 0.5022 BTC.
    assert btc_mined_per_mw(25.0, 4.5e-7, 31, 90.0) == pytest.approx(0.5022, rel=1e-12)


def test_mining_energy_cost_per_mw():
    # PUE 1.05 x 720 h x 90 % uptime x $50/MWh = 1.05 x 720 x 0.9 x 50 = $34,020.
    assert mining_energy_cost_per_mw(1.05, 720, 90.0, 50.0) == pytest.approx(34_020.0, rel=1e-12)


def test_subsidy_by_month_halving_in_the_month_named():
    # Halving at month index 4: months 0..3 keep 3.125, months 4.. have 1.5625.
    assert subsidy_by_month(3.125, [(4, 1.5625)], 8) == [3.125] * 4 + [1.5625] * 4
    # A halving before the plan start applies from month 0; one after the horizon never does.
    assert subsidy_by_month(3.125, [(-3, 1.5625)], 3) == [1.5625] * 3
    assert subsidy_by_month(3.125, [(10, 1.5625)], 3) == [3.125] * 3
    # Two halvings in a row.
    assert subsidy_by_month(6.25, [(1, 3.125), (3, 1.5625)], 5) == [6.25, 3.125, 3.125, 1.5625, 1.5625]


# ---------------------------------------------------------------- annuity and rent


@pytest.mark.parametrize(
    ("principal", "annual_pct", "months"), [(1_000_000.0, 7.5, 120), (250.0, 12.0, 12), (5e8, 9.0, 1)]
)
def test_annuity_payment_closed_form(principal, annual_pct, months):
    i = annual_pct / 100.0 / 12.0
    expected = principal * i / (1.0 - (1.0 + i) ** (-months))
    payment = annuity_payment(principal, i, months)
    assert payment == pytest.approx(expected, rel=1e-12)
    # Paying it for `months` months repays the principal exactly.
    balance = principal
    for _ in range(months):
        balance = balance * (1.0 + i) - payment
    assert abs(balance) <= 1e-9 * principal


def test_annuity_payment_known_value():
    # $100,000 over 12 months at 12 %/yr (1 %/month): 100,000 x 0.01 / (1 - 1.01^-12)
    #   = 1,000 / (1 - 0.887449) = 1,000 / 0.112551 = $8,884.88 (textbook loan table value).
    assert annuity_payment(100_000.0, 0.01, 12) == pytest.approx(8_884.88, abs=0.01)


def test_annuity_payment_zero_rate_and_zero_principal():
    assert annuity_payment(1_200.0, 0.0, 12) == pytest.approx(100.0, rel=1e-15)
    assert annuity_payment(0.0, 0.01, 12) == 0.0


def test_lease_rent_escalator_steps_on_anniversaries():
    # 10 MW x 1,000 kW/MW x $150/kW-month = $1.5M a month in the first lease year.
    base = 1_500_000.0
    assert lease_rent(10.0, 150.0, 3.0, 0) == pytest.approx(base, rel=1e-12)
    assert lease_rent(10.0, 150.0, 3.0, 11) == pytest.approx(base, rel=1e-12)  # no step at 11
    assert lease_rent(10.0, 150.0, 3.0, 12) == pytest.approx(base * 1.03, rel=1e-12)  # first step
    assert lease_rent(10.0, 150.0, 3.0, 23) == pytest.approx(base * 1.03, rel=1e-12)
    assert lease_rent(10.0, 150.0, 3.0, 24) == pytest.approx(base * 1.03**2, rel=1e-12)
    assert lease_rent(10.0, 150.0, 0.0, 200) == pytest.approx(base, rel=1e-12)


def test_capex_schedule():
    assert capex_schedule(20e6, [0.5, 0.3, 0.2]) == pytest.approx([10e6, 6e6, 4e6], rel=1e-12)


# ---------------------------------------------------------------- a phase's cash flows by age

PHASE = dict(
    critical_it_mw=10.0,
    capex_usd_per_mw_it=2_000_000.0,  # $20M in total
    lead_time_months=5,
    lease_usd_per_kw_month=100.0,  # $1.0M a month in the first lease year
    escalator_pct_per_year=5.0,
    term_months=30,
    opex_usd_per_mw_month=10_000.0,  # $100k a month while rent runs
)


def test_phase_schedule_capex_starts_at_age_0_and_sums_to_total():
    sched = phase_schedule(**PHASE, capex_shares=[0.2] * 5, prepayment_months=0)
    # uniform over L = 5: $4M at ages 0..4, nothing after
    assert sched.capex[:5] == pytest.approx([4e6] * 5, rel=1e-12)
    assert all(c == 0.0 for c in sched.capex[5:])
    assert sum(sched.capex) == pytest.approx(20e6, rel=1e-12)
    custom = phase_schedule(**PHASE, capex_shares=[0.5, 0.3, 0.2], prepayment_months=0)
    assert custom.capex[:4] == pytest.approx([10e6, 6e6, 4e6, 0.0], rel=1e-12)
    assert sum(custom.capex) == pytest.approx(20e6, rel=1e-12)


def test_phase_schedule_rent_starts_at_lead_time_and_stops_after_term():
    sched = phase_schedule(**PHASE, capex_shares=[0.2] * 5, prepayment_months=0)
    L, term = 5, 30
    assert sched.length >= L + term
    for age in range(sched.length):
        if L <= age < L + term:
            j = age - L  # lease month
            # year 1 $1.0M, year 2 $1.05M, year 3 (lease months 24..29) $1.1025M
            expected = 1_000_000.0 * 1.05 ** (j // 12)
            assert sched.rent_earned[age] == pytest.approx(expected, rel=1e-12), age
            assert sched.rent_cash[age] == pytest.approx(expected, rel=1e-12), age
            assert sched.opex[age] == pytest.approx(100_000.0, rel=1e-12), age
            assert sched.online[age] == 1
        else:
            assert sched.rent_earned[age] == 0.0, age
            assert sched.rent_cash[age] == 0.0, age
            assert sched.opex[age] == 0.0, age
            assert sched.online[age] == 0
    assert sched.rent_earned[L] > 0.0 and sched.rent_earned[L - 1] == 0.0
    assert sched.rent_earned[L + term - 1] > 0.0
    # total rent: 12 x 1.0M + 12 x 1.05M + 6 x 1.1025M = 12 + 12.6 + 6.615 = $31.215M
    assert sum(sched.rent_earned) == pytest.approx(31.215e6, rel=1e-12)


def test_phase_schedule_prepayment_replaces_first_rents():
    plain = phase_schedule(**PHASE, capex_shares=[0.2] * 5, prepayment_months=0)
    pre = phase_schedule(**PHASE, capex_shares=[0.2] * 5, prepayment_months=14)
    L = 5
    # 14 months prepaid: 12 x $1.0M + 2 x $1.05M = $14.1M, received at age 0 (the signing month)
    assert pre.prepayment[0] == pytest.approx(14.1e6, rel=1e-12)
    assert pre.prepayment[0] == pytest.approx(sum(plain.rent_earned[L:L + 14]), rel=1e-12)
    assert all(p == 0.0 for p in pre.prepayment[1:])
    # the prepaid months bring no cash; the 15th lease month is paid as usual
    assert all(pre.rent_cash[a] == 0.0 for a in range(L, L + 14))
    assert pre.rent_cash[L + 14] == pytest.approx(1.05e6, rel=1e-12)
    # rent earned is unchanged, and so is the total cash from the tenant
    assert pre.rent_earned == pytest.approx(plain.rent_earned, rel=1e-12)
    assert sum(pre.rent_cash) + sum(pre.prepayment) == pytest.approx(sum(plain.rent_cash), rel=1e-12)


def test_phase_schedule_project_debt():
    ltc, rate_pct, amort = 70.0, 7.5, 24
    sched = phase_schedule(
        **PHASE, capex_shares=[0.2] * 5, prepayment_months=0,
        loan_to_cost_pct=ltc, debt_rate_pct_per_year=rate_pct, amortization_months=amort,
    )
    L = 5
    i = rate_pct / 100.0 / 12.0
    # draws = 70 % of each capex payment: $2.8M at ages 0..4
    assert sched.debt_draw[:5] == pytest.approx([2.8e6] * 5, rel=1e-12)
    assert sum(sched.debt_draw) == pytest.approx(0.7 * 20e6, rel=1e-12)
    # Independent simulation: interest on the balance at the start of the month (the previous
    # month's closing balance); no principal before rent start; from rent start, the annuity
    # of the balance then outstanding ($14M, all drawn by age 4) over 24 months.
    payment = 14e6 * i / (1.0 - (1.0 + i) ** (-amort))
    balance = 0.0
    for age in range(sched.length):
        expected_interest = balance * i
        assert sched.debt_interest[age] == pytest.approx(expected_interest, rel=1e-9, abs=1e-6), age
        principal = payment - expected_interest if L <= age < L + amort else 0.0
        assert sched.debt_principal[age] == pytest.approx(principal, rel=1e-9, abs=1e-6), age
        if L <= age < L + amort:  # level payments
            assert sched.debt_interest[age] + sched.debt_principal[age] == pytest.approx(payment, rel=1e-9)
        balance = balance + sched.debt_draw[age] - principal
        assert sched.debt_balance_end[age] == pytest.approx(balance, rel=1e-9, abs=1e-4), age
    # interest in the first month is 0 (nothing outstanding at its start); in month 1 it is
    # 2.8M x 0.075/12 = $17,500
    assert sched.debt_interest[0] == 0.0
    assert sched.debt_interest[1] == pytest.approx(17_500.0, rel=1e-12)
    # the balance peaks at $14M just before rent starts and is ~0 after the amortization
    assert sched.debt_balance_end[L - 1] == pytest.approx(14e6, rel=1e-12)
    assert abs(sched.debt_balance_end[L + amort - 1]) < 1e-3
    assert sum(sched.debt_principal) == pytest.approx(14e6, rel=1e-9)


def test_phase_schedule_net_cash():
    sched = phase_schedule(
        **PHASE, capex_shares=[0.2] * 5, prepayment_months=2,
        loan_to_cost_pct=50.0, debt_rate_pct_per_year=6.0, amortization_months=12,
    )
    for age in range(sched.length):
        expected = (sched.rent_cash[age] + sched.prepayment[age] - sched.opex[age] - sched.capex[age]
                    + sched.debt_draw[age] - sched.debt_interest[age] - sched.debt_principal[age])
        assert sched.net()[age] == pytest.approx(expected, rel=1e-12, abs=1e-9)
    # age 0: prepayment of 2 x $1.0M, capex -$4M, draw +$2M, no interest yet -> $0
    assert sched.net()[0] == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------- existing debt


def test_existing_debt_bullet_at_maturity():
    # $100M at 6 %/yr: $0.5M coupon a month through the maturity month, principal repaid at
    # the end of month 5, nothing after.
    coupon, repaid, balance = existing_debt_schedule(100e6, 6.0, 5, 8)
    assert coupon == pytest.approx([0.5e6] * 6 + [0.0, 0.0], rel=1e-12)
    assert repaid == [0.0] * 5 + [100e6] + [0.0, 0.0]
    assert balance == [100e6] * 5 + [0.0] * 3
    # Maturity after the horizon: coupons every month, never repaid, balance outstanding.
    coupon, repaid, balance = existing_debt_schedule(650e6, 0.0, 50, 4)
    assert coupon == [0.0] * 4 and repaid == [0.0] * 4 and balance == [650e6] * 4


def test_discount_factor_convention():
    from capalloc.optimizer.calendar import Calendar

    cal = Calendar("2027-01", 14, 10.0)
    # month t is paid at its end: (1.10)^-((t+1)/12); month 11 (December) is exactly one year
    assert cal.discount_factors[0] == pytest.approx(1.1 ** (-1 / 12), rel=1e-14)
    assert cal.discount_factors[11] == pytest.approx(1 / 1.1, rel=1e-14)
    # calendar days: Jan 31, Feb 28 (2027), ..., Feb 29 (2028)
    assert cal.days[:3] == [31, 28, 31] and cal.days[13] == 29
    assert cal.hours[1] == 28 * 24
    assert math.isclose(sum(cal.days[:12]), 365)


def test_signing_count_cover_counts_the_smallest_phases_first():
    from capalloc.optimizer.formulation.ai_phases import max_signings_within

    # 110 + 110 = 220 <= 300, but 110 + 110 + 120 = 340 > 300: at most two signings a year.
    assert max_signings_within([110.0, 110.0, 120.0, 125.0], 300.0) == 2
    # Exactly at the cap still fits; nothing fits under a cap below the smallest phase.
    assert max_signings_within([100.0, 100.0, 100.0], 300.0) == 3
    assert max_signings_within([150.0], 100.0) == 0
