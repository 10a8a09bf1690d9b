"""Issue 13, the power side and the market: curtailment credits, the fixed charge on
contracted power, power price by scenario, a direct hashprice and the hashrate cap at the
marginal fleet's break-even. Expected values are derived by hand in the comments.

Market as in tests/test_fleet.py: $90,000/BTC, 1,000 EH/s, subsidy 3.125, no fees,
uptime 100 %: hashprice $0.0405 per TH/s-day.
"""

from __future__ import annotations

import pytest

from capalloc.models import validate_instance_data
from capalloc.models.loader import InstanceError
from tests.helpers import best_distribution_npv, discount_factors, make_instance, month_days, solve_dict
from tests.test_fleet import check_cash_identity, solve_audited

START = "2027-01"  # July is month 6


def curtailment_instance(credit: float, power: float) -> dict:
    """1 MW of 20 J/TH miners on 1 MW of halls; July may curtail 10 % of running hours."""
    return make_instance(
        start=START, horizon=12,
        site={"mining_infrastructure_mw": 1.0, "power_price_usd_per_mwh": power,
              "curtailment": {"credit_usd_per_mwh": credit, "max_share_pct_by_calendar_month": {7: 10}}},
        fleet=[{"id": "s19", "installed_mw": 1.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 1.0}}],
    )


@pytest.mark.parametrize(("credit", "curtails"), [(40.0, False), (41.0, True)])
def test_curtailment_happens_iff_credit_plus_saved_energy_beats_the_margin(credit, curtails):
    """Per running hour 1 MW at 20 J/TH earns 50,000 TH/s x 0.0405 / 24 = $84.375 and pays
    1.05 x $40 = $42 of power. Curtailed, it earns the credit on 1.05 MW of facility power
    not drawn and saves the $42: curtailing pays iff 1.05 x credit + 42 > 84.375, i.e.
    credit > $40.357/MWh. At $40 nothing is curtailed; at $41 the plan curtails the whole
    10 % of July's running hours (0.1 MW-equivalent), and July's credit is
    0.1 x 1.05 x 744 h x $41 = $3,202.92, its power bill 0.9 x 1.05 x 744 x $40."""
    outcome = solve_audited(curtailment_instance(credit, 40.0))
    decision = outcome.result.plan.decisions.mining[0]
    expected = [0.0] * 12
    if curtails:
        expected[6] = 0.1
    assert decision.curtailed_mw == pytest.approx(expected, abs=1e-6)
    assert decision.running_mw == pytest.approx([1.0] * 12, abs=1e-6)
    cash = outcome.result.cashflow_monthly
    july = cash.iloc[6]
    assert july["curtailment_credits_usd"] == pytest.approx(3_202.92 if curtails else 0.0, abs=0.01)
    share = 0.9 if curtails else 1.0
    assert july["mining_power_usd"] == pytest.approx(-share * 1.05 * 744 * 40.0, abs=0.01)
    check_cash_identity(cash)


def test_a_miner_runs_at_a_loss_in_july_when_the_credit_pays_for_it():
    """Power $90: a running hour loses 84.375 - 1.05 x 90 = -$10.125, so the miners are off,
    except in July, where running 1 MW and curtailing 10 % of its hours earns per hour
    0.9 x (-10.125) + 0.1 x 1.05 x $500 = $43.39 > 0 (DESIGN: curtailed MW cannot exceed
    running MW, so a miner may run at a loss in the other hours when the credit pays)."""
    outcome = solve_audited(curtailment_instance(500.0, 90.0))
    decision = outcome.result.plan.decisions.mining[0]
    assert decision.running_mw == pytest.approx([0.0] * 6 + [1.0] + [0.0] * 5, abs=1e-6)
    assert decision.curtailed_mw == pytest.approx([0.0] * 6 + [0.1] + [0.0] * 5, abs=1e-6)
    july = outcome.result.cashflow_monthly.iloc[6]
    assert july["curtailment_credits_usd"] == pytest.approx(0.1 * 1.05 * 744 * 500.0, abs=0.01)


def test_the_fixed_power_charge_is_paid_on_idle_energized_mw():
    """No miners, no AI: 50 MW energized from month 0 and 80 MW from month 3 at
    $1,000 per MW-month: -$50,000 a month, then -$80,000, all on idle power. The NPV is the
    best payout of those flows from $1M of cash (tests/helpers.best_distribution_npv)."""
    T, rate = 6, 10.0
    data = make_instance(
        start=START, horizon=T, rate_pct=rate,
        site={"fixed_power_charge_usd_per_mw_month": 1000.0,
              "energization": [{"from_month": START, "contracted_mw": 50.0},
                               {"from_month": "2027-04", "contracted_mw": 80.0}]},
        finance={"starting_cash_usd": 1e6, "minimum_cash_usd": 0.0},
    )
    outcome = solve_audited(data)
    flows = [-50_000.0] * 3 + [-80_000.0] * 3
    assert list(outcome.result.cashflow_monthly["fixed_power_charges_usd"]) == pytest.approx(flows, abs=0.01)
    assert outcome.result.plan.npv_usd == pytest.approx(
        best_distribution_npv(1e6, 0.0, flows, discount_factors(rate, T)), abs=0.01)
    sites = outcome.result.sites_monthly
    assert list(sites["idle_mw"]) == pytest.approx([50.0] * 3 + [80.0] * 3)


def test_power_price_by_scenario():
    """Two equally likely scenarios; the site pays $40/MWh in 'base' and $90/MWh in 'dear'.
    1 MW at 20 J/TH earns $2,025 a day against $1,008 of power in base (runs) and $2,268 in
    dear (off); mining_power_usd is -1,008 x days in base and 0 in dear."""
    T = 3
    data = make_instance(
        start=START, horizon=T,
        site={"mining_infrastructure_mw": 1.0, "power_price_by_scenario_usd_per_mwh": {"dear": 90.0}},
        fleet=[{"id": "s19", "installed_mw": 1.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 1.0}}],
        market={"scenarios": [
            {"name": "base", "probability": 0.5, "btc_price_usd": 90_000.0, "network_hashrate_ehs": 1000.0,
             "fees_btc_per_block": 0.0},
            {"name": "dear", "probability": 0.5, "btc_price_usd": 90_000.0, "network_hashrate_ehs": 1000.0,
             "fees_btc_per_block": 0.0}], "halvings": []},
    )
    del data["market"]["btc_price_usd"], data["market"]["network_hashrate_ehs"]
    del data["market"]["fees_btc_per_block"]
    outcome = solve_audited(data)
    cash = outcome.result.cashflow_monthly
    days = month_days(START, T)
    base = cash[cash["scenario"] == "base"]["mining_power_usd"]
    dear = cash[cash["scenario"] == "dear"]["mining_power_usd"]
    assert list(base) == pytest.approx([-1.05 * 24 * d * 40.0 for d in days], abs=0.01)
    assert list(dear) == pytest.approx([0.0] * T, abs=0.01)


def test_the_hashrate_cap_holds_hashprice_at_the_marginal_fleets_break_even():
    """Marginal fleet 25 J/TH at $50/MWh: per TH/s-day it pays 25 x 24 x 50 / 1e6 = $0.03,
    so it breaks even at hashprice $30/PH/day, i.e. network hashrate
    90,000 x 144 x 3.125 / 0.03 / 1e6 = 1,350 EH/s. The path 1,200 x 2^(t/12) EH/s (100 %/yr)
    is 1,200 (hashprice 90,000 x 144 x 3.125 / 1.2e9 x 1000 = $33.75), 1,271.3, 1,346.9
    (below the cap) and 1,427.0 at t = 3 (above it): from month 3 on hashprice is $30.00."""
    T = 6
    data = make_instance(
        start=START, horizon=T,
        site={"mining_infrastructure_mw": 1.0},
        fleet=[{"id": "s19", "installed_mw": 1.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 1.0}}],
        market={"network_hashrate_ehs": {"start_value": 1200.0, "growth_pct_per_year": 100.0},
                "marginal_fleet": {"efficiency_j_per_th": 25.0, "power_price_usd_per_mwh": 50.0}},
    )
    outcome = solve_audited(data)
    hashprice = list(outcome.result.cashflow_monthly["hashprice_usd_per_ph_day"])
    uncapped = [90_000 * 144 * 3.125 / (1200e6 * 2 ** (t / 12)) * 1000 for t in range(3)]
    assert hashprice[:3] == pytest.approx(uncapped, abs=1e-6)
    assert hashprice[0] == pytest.approx(33.75, abs=1e-6)
    assert hashprice[3:] == pytest.approx([30.0] * 3, abs=1e-6)
    # 1 MW at 20 J/TH mines 50,000 TH/s x $0.030 / $90,000 per day in the capped months.
    days = month_days(START, T)
    mined = list(outcome.result.cashflow_monthly["btc_mined_btc"])
    assert mined[3] == pytest.approx(50_000 * 0.030 / 90_000 * days[3], abs=1e-8)


@pytest.mark.parametrize(("cap", "expected"), [(False, 20.0), (True, 30.0)])
def test_a_direct_hashprice_series_and_its_floor(cap, expected):
    """hashprice_usd_per_ph_day = 20 replaces the implied $40.50; with the marginal fleet
    above, the floor lifts it to $30. BTC mined per month by 1 MW at 20 J/TH:
    50,000 x hashprice / 1000 / 90,000 x days."""
    T = 2
    market = {"hashprice_usd_per_ph_day": 20.0}
    if cap:
        market["marginal_fleet"] = {"efficiency_j_per_th": 25.0, "power_price_usd_per_mwh": 50.0}
    data = make_instance(
        start=START, horizon=T, site={"mining_infrastructure_mw": 1.0, "power_price_usd_per_mwh": 10.0},
        fleet=[{"id": "s19", "installed_mw": 1.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 1.0}}],
        market=market,
    )
    # market-level keys go to the single base scenario; hashprice is a scenario field
    data["market"]["scenarios"] = [{
        "name": "base", "btc_price_usd": 90_000.0, "network_hashrate_ehs": 1000.0,
        "fees_btc_per_block": 0.0,
        "hashprice_usd_per_ph_day": data["market"].pop("hashprice_usd_per_ph_day")}]
    for key in ("btc_price_usd", "network_hashrate_ehs", "fees_btc_per_block"):
        data["market"].pop(key)
    outcome = solve_audited(data)
    cash = outcome.result.cashflow_monthly
    assert list(cash["hashprice_usd_per_ph_day"]) == pytest.approx([expected] * T, abs=1e-9)
    days = month_days(START, T)
    assert list(cash["btc_mined_btc"]) == pytest.approx(
        [50_000 * expected / 1000 / 90_000 * d for d in days], abs=1e-8)


def test_neutral_defaults_keep_an_instance_without_the_new_fields_unchanged():
    """fixed charge 0, no curtailment, no cap: same NPV as an explicit zero charge."""
    base = curtailment_instance(0.0, 40.0)
    del base["sites"][0]["curtailment"]
    explicit = curtailment_instance(0.0, 40.0)
    del explicit["sites"][0]["curtailment"]
    explicit["sites"][0]["fixed_power_charge_usd_per_mw_month"] = 0.0
    assert solve_dict(base).result.plan.npv_usd == solve_dict(explicit).result.plan.npv_usd


# ------------------------------------------------------------------ invalid inputs


def _fleet_instance() -> dict:
    data = curtailment_instance(50.0, 40.0)
    data["fleet"].append({"id": "s23", "installed_mw": 0.0, "efficiency_j_per_th": 10.0,
                          "purchase": {"price_usd_per_th": 15.0, "delivery_lead_months": 2,
                                       "lot_mw": 2.0, "max_mw_per_month": 4.0},
                          "resale_usd_per_th": 5.0})
    data["sites"][0]["mining_halls"] = {"capex_usd_per_mw": 1e5, "build_lead_months": 3, "max_mw": 5.0}
    return data


def _set(path: list, value):
    def mutate(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


INVALID = [
    ("negative purchase price", _set(["fleet", 1, "purchase", "price_usd_per_th"], -1.0),
     "fleet[s23].purchase.price_usd_per_th"),
    ("negative resale price", _set(["fleet", 1, "resale_usd_per_th"], -5.0), "fleet[s23].resale_usd_per_th"),
    ("lead 0", _set(["fleet", 1, "purchase", "delivery_lead_months"], 0),
     "fleet[s23].purchase.delivery_lead_months"),
    ("deposit above 100", _set(["fleet", 1, "purchase", "deposit_pct"], 120.0),
     "fleet[s23].purchase.deposit_pct"),
    ("unknown placement site", _set(["fleet", 1, "sites"], ["beta"]), "fleet[s23].sites"),
    ("lot above supply", _set(["fleet", 1, "purchase", "lot_mw"], 6.0), "fleet[s23].purchase.lot_mw"),
    ("curtailment share above 100", _set(["sites", 0, "curtailment", "max_share_pct_by_calendar_month"],
                                         {7: 120}),
     "sites[alpha].curtailment.max_share_pct_by_calendar_month"),
    ("curtailment month 13", _set(["sites", 0, "curtailment", "max_share_pct_by_calendar_month"], {13: 5}),
     "sites[alpha].curtailment.max_share_pct_by_calendar_month"),
    ("negative credit", _set(["sites", 0, "curtailment", "credit_usd_per_mwh"], -1.0),
     "sites[alpha].curtailment.credit_usd_per_mwh"),
    ("negative fixed charge", _set(["sites", 0, "fixed_power_charge_usd_per_mw_month"], -1.0),
     "sites[alpha].fixed_power_charge_usd_per_mw_month"),
    ("hall lead 0", _set(["sites", 0, "mining_halls", "build_lead_months"], 0),
     "sites[alpha].mining_halls.build_lead_months"),
    ("negative hall capex", _set(["sites", 0, "mining_halls", "capex_usd_per_mw"], -1.0),
     "sites[alpha].mining_halls.capex_usd_per_mw"),
    ("power price of an unknown scenario", _set(["sites", 0, "power_price_by_scenario_usd_per_mwh"],
                                                {"bear": 50.0}),
     "sites[alpha].power_price_by_scenario_usd_per_mwh.bear"),
    ("negative scenario power price", _set(["sites", 0, "power_price_by_scenario_usd_per_mwh"],
                                           {"base": -5.0}),
     "sites[alpha].power_price_by_scenario_usd_per_mwh.base"),
    ("marginal fleet at 0 J/TH", _set(["market", "marginal_fleet"],
                                      {"efficiency_j_per_th": 0.0, "power_price_usd_per_mwh": 50.0}),
     "market.marginal_fleet.efficiency_j_per_th"),
]


@pytest.mark.parametrize(("name", "mutate", "field"), INVALID, ids=[n for n, _, _ in INVALID])
def test_invalid_new_fields_name_the_field(name, mutate, field):
    data = _fleet_instance()
    validate_instance_data(data)  # the unchanged instance is valid
    mutate(data)
    with pytest.raises(InstanceError) as error:
        validate_instance_data(data)
    assert field in str(error.value), str(error.value)


def test_invalid_new_field_exits_2_from_the_cli(tmp_path):
    from tests.test_cli import flat, run_cli, write_instance

    data = _fleet_instance()
    data["fleet"][1]["purchase"]["delivery_lead_months"] = 0
    instance = write_instance(tmp_path / "in", data)
    result = run_cli("solve", instance, "-o", tmp_path / "plans" / "p", "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert "fleet[s23].purchase.delivery_lead_months" in flat(result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "plans").exists()


def test_pure_functions_of_the_new_economics():
    """optimizer.economics by hand: 25 J/TH at $50/MWh pays 25 x 24 x 50 / 1e6 = $0.03 per
    TH/s-day ($30/PH-day) and breaks even at 90,000 x 144 x 3.125 / (25 x 24 x 50) = 1,350 EH/s;
    $30/PH-day at $90,000/BTC is 30 / 1000 / 90,000 BTC per TH/s-day; $20/TH at 10 J/TH is
    $2M per MW; a credit of $100/MWh at PUE 1.05 over 720 h at 90 % uptime is $68,040 per MW."""
    from capalloc.optimizer.economics import (
        breakeven_hashprice_usd_per_ph_day,
        breakeven_hashrate_ehs,
        btc_per_th_day_from_hashprice,
        capped_hashrate_ehs,
        curtailment_credit_per_mw,
        usd_per_mw_of_asics,
    )

    assert breakeven_hashprice_usd_per_ph_day(25.0, 50.0) == pytest.approx(30.0)
    assert breakeven_hashrate_ehs(90_000.0, 3.125, 0.0, 25.0, 50.0) == pytest.approx(1350.0)
    assert breakeven_hashrate_ehs(90_000.0, 3.125, 0.0, 25.0, 0.0) == float("inf")
    assert capped_hashrate_ehs(1427.0, 1350.0) == 1350.0 and capped_hashrate_ehs(1200.0, 1350.0) == 1200.0
    assert btc_per_th_day_from_hashprice(30.0, 90_000.0) == pytest.approx(30.0 / 1000 / 90_000)
    assert usd_per_mw_of_asics(20.0, 10.0) == pytest.approx(2e6)
    assert curtailment_credit_per_mw(100.0, 1.05, 720, 90.0) == pytest.approx(68_040.0)
