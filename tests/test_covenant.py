"""Issue 14, item 6: the DSCR covenant (trailing-12-month EBITDA >= DSCR x trailing-12-month
debt service; months before the 12th use the months available), EBITDA per month, and the
covenant headroom line. Expected values by hand / brute force in the comments."""

from __future__ import annotations

import pytest

from tests.helpers import make_instance, make_phase, month_days

START = "2027-01"
T = 24
COUPON = 8e6 * 0.12 / 12  # $80,000 a month on $8M at 12 %, bullet after the horizon
DSCR = 1.25
RENT = 5.0 * 1000 * 150.0  # $750,000 a month
LEAD = 6


def margin(days: int) -> float:
    """10 MW at 20 J/TH (50,000 TH/s per MW) at $0.0405/TH/s-day against 1.05 x 24 h x $40/MWh."""
    return 10.0 * days * (50_000 * 90_000.0 * 144 * 3.125 / 1e9 - 1.05 * 24 * 40.0)


def instance(covenant: bool):
    finance = {"existing_debts": [{"id": "notes", "principal_usd": 8e6, "coupon_pct_per_year": 12.0,
                                   "maturity_month": "2030-01"}]}
    if covenant:
        finance["covenant"] = {"min_dscr": DSCR, "from_month": START}
    phase = make_phase(critical_it_mw=5.0, lead_time_months=LEAD, conversion="retrofit",
                       displaced_mining_mw=10.0)
    return make_instance(
        start=START, horizon=T, phases=[phase], finance=finance,
        site={"mining_infrastructure_mw": 10.0,
              "energization": [{"from_month": START, "contracted_mw": 12.0}]},
        fleet=[{"id": "s19", "installed_mw": 10.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 10.0}}],
    )


def ebitda_if_signed(s: int) -> list[float]:
    """Mining margin before the signing month s, nothing while the retrofit is built (it
    displaces all 10 MW from s on), the rent from s + lead."""
    days = month_days(START, T)
    return [margin(days[t]) if t < s else (0.0 if t < s + LEAD else RENT) for t in range(T)]


def headroom(ebitda: list[float], t: int) -> float:
    window = range(max(0, t - 11), t + 1)
    return sum(ebitda[u] for u in window) - DSCR * COUPON * len(window)


def solve(data):
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.pipeline import solve_instance

    outcome = solve_instance(validate_instance_data(data))
    assert outcome.result.plan.audit.passed, outcome.result.plan.audit.messages
    return outcome


def test_the_covenant_delays_a_retrofit_to_the_first_month_its_construction_gap_is_covered():
    """The retrofit earns $750k a month against ~$315k of mining, so without the covenant it
    is signed at once (month 0). With it, the months of construction bring no EBITDA while
    the $80k coupon runs: signed in s, the trailing window at t = s + 5 (the last month
    without income) holds min(s, 12 - 6) months of mining and min(t + 1, 12) months of debt
    service. Brute force over s (all months t checked): the first feasible s is 3
    (3 x ~$305-315k = ~$0.93M >= 1.25 x 9 x $80k = $0.90M; s = 2 gives ~$0.63M < $0.80M).
    The binding month is t = 8 (2027-09), its headroom the hand sum below."""
    free = solve(instance(covenant=False)).result.plan
    assert free.decisions.signings[0].signing_month == "2027-01"
    feasible = [s for s in range(T - LEAD) if all(headroom(ebitda_if_signed(s), t) >= 0 for t in range(T))]
    first = feasible[0]
    assert first == 3
    outcome = solve(instance(covenant=True))
    plan, cash = outcome.result.plan, outcome.result.cashflow_monthly
    assert plan.decisions.signings[0].signing_month == "2027-04"
    ebitda = ebitda_if_signed(first)
    assert list(cash["ebitda_usd"]) == pytest.approx(ebitda, abs=1.0)
    assert list(cash["interest_accrued_usd"]) == pytest.approx([COUPON] * T, abs=0.01)
    days = month_days(START, T)
    binding = sum(margin(d) for d in days[:3]) - DSCR * COUPON * 9  # months 0-8: 3 mined, 9 coupons
    assert cash["covenant_headroom_usd"].iloc[8] == pytest.approx(binding, abs=1.0)
    assert cash["covenant_headroom_usd"].min() == pytest.approx(binding, abs=1.0)
    assert plan.kpis[0].minimum_covenant_headroom_usd == pytest.approx(binding, abs=1.0)
    ebitda_total = sum(ebitda)
    assert plan.kpis[0].interest_cover_x == pytest.approx(ebitda_total / (COUPON * T), rel=1e-6)
    assert binding < 0.05 * DSCR * COUPON * 9  # it binds: under 5 % of the requirement to spare
    # Net leverage = ($8M of notes - cash at the month's end) / the hand EBITDA of the trailing
    # 12 months, from month 11 (the first full year); cash is the audited cash line.
    leverage = [(8e6 - cash["cash_end_usd"].iloc[t]) / sum(ebitda[t - 11: t + 1]) for t in range(11, T)]
    assert plan.kpis[0].net_leverage_final_x == pytest.approx(leverage[-1], rel=1e-6)
    assert plan.kpis[0].net_leverage_peak_x == pytest.approx(max(leverage), rel=1e-6)


def test_the_audit_reports_a_plan_that_breaks_the_covenant():
    """The plan solved without the covenant (signed in month 0) audited against the instance
    with it: months 0-5 have no mining and no rent, so the covenant fails from month 0."""
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.checks.audit import audit_plan

    free = solve(instance(covenant=False)).result.plan
    report = audit_plan(validate_instance_data(instance(covenant=True)), free)
    broken = [v for v in report.violations if v.rule == "dscr_covenant"]
    assert broken and broken[0].month == "2027-01"
    assert broken[0].amount == pytest.approx(DSCR * COUPON, abs=1.0)  # 0 EBITDA vs 1.25 x $80k


def test_a_covenant_no_plan_can_meet_exits_3_naming_it(tmp_path):
    """No mining and no phase: EBITDA is 0 in every month against $80k of coupons, so no plan
    meets 1.2x; the explanation names the covenant rather than the fleet or power rules."""
    import yaml
    from typer.testing import CliRunner

    from capalloc.optimizer.cli import app

    data = make_instance(start=START, horizon=12, finance={
        "existing_debts": [{"id": "notes", "principal_usd": 8e6, "coupon_pct_per_year": 12.0,
                            "maturity_month": "2030-01"}],
        "covenant": {"min_dscr": 1.2, "from_month": "2027-06"}})
    file = tmp_path / "inst.yaml"
    file.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["solve", str(file), "-o", str(tmp_path / "out"), "-q"])
    text = " ".join((result.output + (result.stderr or "")).split())
    assert result.exit_code == 3, text
    assert "finance.covenant" in text and "Traceback" not in text


def test_two_scenarios_with_every_income_line_are_audited_per_scenario():
    """Two BTC price paths (90k and 70k), mining with curtailment, moves and a fixed power
    charge, a retrofit with project debt, a revolver, existing debt with a coupon, resale,
    taxes at 21 % with a mining continuation in the terminal value, and the covenant: the
    audit (pandas, from the decisions) must agree with the solver on every scenario's NPV, and
    each scenario's taxes must be rate x the increase of its own running max (by hand here)."""
    data = instance(covenant=True)
    data["finance"]["covenant"]["min_dscr"] = 1.2
    data["finance"]["taxes"] = {"rate_pct": 21.0}
    data["finance"]["revolver"] = {"limit_usd": 5e6, "rate_pct_per_year": 9.0,
                                   "undrawn_fee_pct_per_year": 0.5}
    data["finance"]["project_debt"] = {"loan_to_cost_pct": 50.0, "rate_pct_per_year": 8.0,
                                       "amortization_months": 60}
    data["finance"]["starting_cash_usd"] = 2e6
    data["terminal"] = {"mining_months": 12}
    data["sites"][0]["fixed_power_charge_usd_per_mw_month"] = 1_000.0
    data["sites"][0]["curtailment"] = {"credit_usd_per_mwh": 120.0,
                                       "max_share_pct_by_calendar_month": {7: 20.0, 8: 20.0}}
    data["fleet"][0].update(resale_usd_per_th=0.5, starting_tax_basis_usd=2e6, tax_life_months=24)
    data["market"] = {"scenarios": [
        {"name": "high", "probability": 0.6, "btc_price_usd": 90_000.0, "network_hashrate_ehs": 1000.0,
         "fees_btc_per_block": 0.0},
        {"name": "low", "probability": 0.4, "btc_price_usd": 70_000.0, "network_hashrate_ehs": 1000.0,
         "fees_btc_per_block": 0.0}], "halvings": []}
    outcome = solve(data)
    cash = outcome.result.cashflow_monthly
    assert set(cash["scenario"]) == {"high", "low"}
    by = cash.groupby("scenario")
    assert by["mining_power_usd"].sum().lt(0).all() and by["curtailment_credits_usd"].sum().gt(0).all()
    assert by["taxes_usd"].sum()["high"] < by["taxes_usd"].sum()["low"] < 0  # more tax at 90k
    for name in ("high", "low"):
        rows = cash[cash["scenario"] == name]
        cumulative, base, expected = 0.0, 0.0, []
        for x in rows["taxable_income_usd"]:
            cumulative += x
            expected.append(-0.21 * (max(base, cumulative) - base))
            base = max(base, cumulative)
        assert list(rows["taxes_usd"]) == pytest.approx(expected, abs=1.0)
        assert rows["covenant_headroom_usd"].min() >= -1.0
