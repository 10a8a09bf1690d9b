"""Issue 14, part "btcloans": BTC-backed loans (LTV per month and scenario, pledging, margin
calls), capitalized construction interest of project debt, and lease renewals.

Expected values are derived by hand in the comments (closed forms where they exist) or by
brute force over the signing month; every solved plan must also pass the independent audit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import (
    best_distribution_npv,
    discount_factors,
    leveraged_signing_npvs,
    make_instance,
    make_phase,
    phase_cash_by_age,
)
from tests.test_cli import capalloc_executable, flat, valid_data, write_instance

START = "2027-01"


def column(table, name: str) -> list[float]:
    return [float(v) for v in table[name]]


def signing_index(plan) -> int | None:
    if not plan.decisions.signings:
        return None
    year, month = (int(x) for x in plan.decisions.signings[0].signing_month.split("-"))
    return (year - 2027) * 12 + month - 1


def solve_audited(data, base_dir: Path | None = None):
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.pipeline import solve_instance

    outcome = solve_instance(validate_instance_data(data, base_dir=base_dir))
    assert outcome.result.plan.audit.passed, outcome.result.plan.audit.messages
    return outcome


def write_prices(folder: Path, prices: list[float]) -> dict:
    """A BTC price series as a CSV beside the instance (months from START)."""
    lines = "".join(f"2027-{m + 1:02d},{p}\n" for m, p in enumerate(prices))
    (folder / "btc.csv").write_text("month,usd\n" + lines)
    return {"csv": "btc.csv", "column": "usd"}


def margin_call_instance(folder: Path, btc_held: float, limit_usd: float) -> dict:
    """A free AI phase (capex 0, lead 1: $1.5M of rent a month from month 1) for income, a
    locked stack of BTC that may be pledged, and a loan at 6 %/yr and 50 % LTV while the
    discount rate is 12 %: borrowing is worth it in every month but the last. BTC costs
    $100,000 in months 0-2 and $80,000 from month 3."""
    prices = [100_000.0] * 3 + [80_000.0] * 3
    return make_instance(
        start=START, horizon=6, rate_pct=12.0,
        phases=[make_phase(capex_usd_per_mw_it=0.0, lead_time_months=1)],
        market={"btc_price_usd": write_prices(folder, prices)},
        finance={"starting_cash_usd": 0.0, "btc_held_at_start_btc": btc_held, "btc_treasury_sellable": False,
                 "btc_loan": {"limit_usd": limit_usd, "rate_pct_per_year": 6.0, "ltv_pct": 50.0}},
    )


def test_btc_loan_is_forced_down_exactly_in_the_month_the_price_drop_breaks_the_ltv(tmp_path):
    """100 BTC pledged at 50 % LTV carry 0.5 x 100,000 x 100 = $5M in months 0-2 and
    0.5 x 80,000 x 100 = $4M from month 3: a dollar borrowed in month t and repaid in t + 1
    costs 1.005 there against a discount of 1.12^(1/12) = 1.00949, so the plan borrows all it
    may: $5M, 5M, 5M, then the margin call of month 3 repays $1M (4M - 5M) plus $25,000 of
    interest (0.5 % of 5M) out of that month's rent. (The last month's balance is worth the
    same at any level: it is owed in the terminal value at the same discount factor.)

    Cash by month: +5M (draw), 1.5M - 25k, 1.5M - 25k, 1.5M - 25k - 1M, 1.5M - 20k,
    1.5M - 20k, all paid out at once (no reserve is needed: every flow is positive); the
    terminal value owes the $4M and holds the 115 rents still contracted after month 5 and the
    100 BTC at the final $80,000.
    """
    data = margin_call_instance(tmp_path, btc_held=100.0, limit_usd=10e6)
    outcome = solve_audited(data, tmp_path)
    plan = outcome.result.plan
    assert signing_index(plan) == 0
    finance = plan.decisions.finance[0]
    assert finance.btc_loan_balance_usd[:5] == pytest.approx([5e6, 5e6, 5e6, 4e6, 4e6], abs=0.01)
    assert finance.btc_pledged_btc[:5] == pytest.approx([100.0] * 5, abs=1e-8)
    cashflow = outcome.result.cashflow_monthly
    assert column(cashflow, "btc_loan_draws_usd")[:5] == pytest.approx([5e6, 0, 0, -1e6, 0], abs=0.01)
    assert column(cashflow, "btc_loan_interest_usd")[:5] == pytest.approx(
        [0.0, -25e3, -25e3, -25e3, -20e3], abs=0.01)
    kpi = plan.kpis[0]  # interest 0.5 % of 5M in months 1-3, of 4M in months 4-5
    assert (kpi.btc_loan_peak_usd, kpi.btc_loan_interest_usd, kpi.btc_pledged_peak_btc) == pytest.approx(
        (5e6, 3 * 25e3 + 2 * 20e3, 100.0), abs=0.01)
    dfs = discount_factors(12.0, 6 + 115)
    flows = [5e6, 1.475e6, 1.475e6, 0.475e6, 1.48e6, 1.48e6]
    rent_after = sum(1.5e6 * dfs[5 + j] for j in range(1, 116))
    expected = best_distribution_npv(0.0, 0.0, flows, dfs[:6]) + dfs[5] * (100 * 80_000.0 - 4e6) + rent_after
    assert plan.npv_usd == pytest.approx(expected, rel=1e-9)


def test_a_margin_call_can_be_met_with_more_collateral_instead(tmp_path):
    """150 BTC held, a $5M limit: the plan pledges 5M / (0.5 x 100,000) = 100 BTC in months
    0-2 and 5M / (0.5 x 80,000) = 125 BTC from month 3, and keeps the $5M balance."""
    data = margin_call_instance(tmp_path, btc_held=150.0, limit_usd=5e6)
    outcome = solve_audited(data, tmp_path)
    finance = outcome.result.plan.decisions.finance[0]
    assert finance.btc_loan_balance_usd[:5] == pytest.approx([5e6] * 5, abs=0.01)
    assert finance.btc_pledged_btc[:5] == pytest.approx([100.0] * 3 + [125.0] * 2, abs=1e-6)


def test_debt_rows_of_the_btc_loan_show_the_margin_call(tmp_path):
    """debt_monthly.csv rows (issue 14 item 9): the margin call of month 3 is $1M of principal,
    interest is 0.5 % of the opening balance, LTV used 5M / (100 x 100,000) = 50 % and
    4M / (100 x 80,000) = 50 %."""
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.formulation.builder import build_model
    from capalloc.optimizer.formulation.financing.btc_loans import btc_loan_debt_rows
    from capalloc.optimizer.outputs.extract_notes import DEBT_COLUMNS
    from capalloc.optimizer.solving.solve import SolveSettings, run_highs

    instance = validate_instance_data(margin_call_instance(tmp_path, 100.0, 10e6), base_dir=tmp_path)
    built = build_model(instance)
    run_highs(built, SolveSettings.from_instance(instance))
    rows = btc_loan_debt_rows(built.model, built.context)
    assert len(rows) == 6 and all(list(r) == DEBT_COLUMNS for r in rows)
    assert [r["drawn_usd"] for r in rows[:5]] == pytest.approx([5e6, 0, 0, 0, 0], abs=0.01)
    assert [r["principal_usd"] for r in rows[:5]] == pytest.approx([0, 0, 0, 1e6, 0], abs=0.01)
    assert [r["interest_usd"] for r in rows[:5]] == pytest.approx([0, 25e3, 25e3, 25e3, 20e3], abs=0.01)
    assert [r["ltv_pct"] for r in rows[:5]] == pytest.approx([50.0] * 5, abs=1e-6)
    assert [r["collateral_btc"] for r in rows[:5]] == pytest.approx([100.0] * 5, abs=1e-8)


def test_audit_catches_a_broken_margin_call_and_a_sold_pledge(tmp_path):
    """The audit checks the rules from the decisions alone: keeping $5M in month 3 on 100
    BTC at $80,000 breaks the LTV by $1M; selling BTC below the pledge breaks 'pledged BTC
    cannot be sold' (the locked stack is made sellable here so that only the pledge rule
    speaks)."""
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.checks.audit import audit_plan

    data = margin_call_instance(tmp_path, btc_held=100.0, limit_usd=10e6)
    plan = solve_audited(data, tmp_path).result.plan
    instance = validate_instance_data(data, base_dir=tmp_path)

    unmet = plan.model_copy(deep=True)
    unmet.decisions.finance[0].btc_loan_balance_usd[3] = 5e6
    rules = {(v.rule, v.month) for v in audit_plan(instance, unmet).violations}
    assert ("btc_loan_ltv", "2027-04") in rules
    ltv = next(v for v in audit_plan(instance, unmet).violations if v.rule == "btc_loan_ltv")
    assert ltv.amount == pytest.approx(1e6, abs=1.0)

    data["finance"]["btc_treasury_sellable"] = True
    sellable = validate_instance_data(data, base_dir=tmp_path)
    sold = plan.model_copy(deep=True)
    sold.decisions.finance[0].btc_sold_btc[2] = 10.0
    found = audit_plan(sellable, sold).violations
    assert {v.rule for v in found} >= {"btc_pledge_held"}
    assert [v.month for v in found if v.rule == "btc_pledge_held"][0] == "2027-03"


def capitalized_schedule(lead: int, draw: float, rate: float, amort: int, length: int):
    """Project debt by age, written out from DESIGN: before rent start the interest on the
    opening balance joins the balance; from rent start level payments amortize it."""
    interest, principal, balance_end, capitalized = ([0.0] * length for _ in range(4))
    balance, payment = 0.0, 0.0
    for a in range(length):
        accrued = balance * rate
        if a == lead:
            payment = balance * rate / (1 - (1 + rate) ** -amort)
        if a < lead:
            capitalized[a] = accrued
        else:
            interest[a] = accrued
        if lead <= a < lead + amort:
            principal[a] = payment - accrued
        balance = balance + (draw if a < lead else 0.0) + capitalized[a] - principal[a]
        balance_end[a] = balance
    return interest, principal, balance_end, capitalized


def test_capitalized_interest_balance_at_rent_start_is_the_compounded_draws():
    """$20M of capex over L = 4 months at 75 % LTC draws $3.75M a month; at 0.5 % a month
    capitalized, the balance when rent starts is the future value of the four draws:
    3.75M x (1.005^4 - 1) / 0.005 = 3.75M x 4.030100125 = $15,112,875.47 (paid interest:
    $15M). Interest capitalized: 0.5 % of the opening balances 0, 3.75M, 7,518,750 (2 x 3.75M
    + 18,750) and 11,306,343.75 (+ 37,593.75 + 3.75M). The level payment over 12 months is
    that balance's annuity."""
    from capalloc.optimizer.economics import phase_schedule

    schedule = phase_schedule(
        critical_it_mw=10.0, capex_usd_per_mw_it=2e6, capex_shares=[0.25] * 4, lead_time_months=4,
        lease_usd_per_kw_month=150.0, escalator_pct_per_year=0.0, term_months=120,
        opex_usd_per_mw_month=0.0, prepayment_months=0, loan_to_cost_pct=75.0,
        debt_rate_pct_per_year=6.0, amortization_months=12, capitalize_interest=True,
    )
    balance_at_rent_start = 3.75e6 * (1.005 ** 4 - 1) / 0.005
    assert balance_at_rent_start == pytest.approx(15_112_875.47, abs=0.01)
    assert schedule.debt_balance_end[3] == pytest.approx(balance_at_rent_start, abs=1e-6)
    assert schedule.debt_interest[:4] == [0.0] * 4
    assert schedule.debt_interest_capitalized[:4] == pytest.approx([0.0, 18_750.0, 37_593.75, 56_531.72],
                                                                   abs=0.01)
    payment = balance_at_rent_start * 0.005 / (1 - 1.005 ** -12)
    level = [schedule.debt_interest[a] + schedule.debt_principal[a] for a in range(4, 16)]
    assert level == pytest.approx([payment] * 12, abs=1e-6)
    assert schedule.debt_balance_end[15] == pytest.approx(0.0, abs=1e-6)


def test_capitalized_interest_plan_matches_brute_force_and_the_audit():
    """The same phase in a 12-month plan, its signing month chosen by brute force over the
    window (0..7, or never) with the schedule written out independently (capitalized_schedule)."""
    T, rate, lead = 12, 10.0, 4
    phase = make_phase(capex_usd_per_mw_it=2e6, lead_time_months=lead)
    data = make_instance(
        start=START, horizon=T, rate_pct=rate, phases=[phase],
        finance={"starting_cash_usd": 20e6,
                 "project_debt": {"loan_to_cost_pct": 75.0, "rate_pct_per_year": 6.0,
                                  "amortization_months": 12, "capitalize_construction_interest": True}},
    )
    base = phase_cash_by_age(phase)
    length = len(base)
    interest, principal, balance_end, capitalized = capitalized_schedule(lead, 3.75e6, 0.005, 12, length)
    net = [base[a] + (3.75e6 if a < lead else 0.0) - interest[a] - principal[a] for a in range(length)]
    dfs = discount_factors(rate, T + length)
    npv = leveraged_signing_npvs(net, base, balance_end, T, lead, dfs, 20e6)
    best = max(npv, key=npv.get)

    outcome = solve_audited(data)
    plan = outcome.result.plan
    s = signing_index(plan)
    assert s == best
    assert plan.npv_usd == pytest.approx(npv[best], rel=1e-6)
    cashflow = outcome.result.cashflow_monthly
    by_month = [t - s for t in range(T)]
    assert column(cashflow, "project_debt_interest_usd") == pytest.approx(
        [-interest[a] if a >= 0 else 0.0 for a in by_month], abs=0.01)
    assert column(cashflow, "project_debt_balance_usd") == pytest.approx(
        [balance_end[a] if a >= 0 else 0.0 for a in by_month], abs=0.01)


def renewal_instance(horizon: int, renewal: dict | None) -> dict:
    """A free phase (capex 0) of 10 MW at $150/kW-month: $1.5M of rent a month for a 10-month
    term from month 2 when signed in month 0 (the best month: everything comes earlier)."""
    phase = make_phase(capex_usd_per_mw_it=0.0, lead_time_months=2, term_months=10)
    if renewal is not None:
        phase["renewal"] = renewal
    return make_instance(start=START, horizon=horizon, rate_pct=10.0, phases=[phase],
                         finance={"starting_cash_usd": 0.0})


RENEWAL = {"probability": 0.6, "rent_share_pct": 80.0, "term_months": 24}


def test_renewal_pv_after_the_horizon_in_closed_form():
    """The lease ends with the horizon (months 2..11 of T = 12); the renewal's expected rent
    0.6 x 80 % x $1.5M = $720,000 a month runs 24 months after it, each month j discounted by
    v^j, v = 1.1^(-1/12), from the end of the horizon: PV = 720,000 x v (1 - v^24) / (1 - v),
    worth DF(11) x PV more than the same plan without the renewal."""
    T = 12
    without = solve_audited(renewal_instance(T, None)).result.plan
    with_renewal = solve_audited(renewal_instance(T, RENEWAL)).result.plan
    assert signing_index(without) == signing_index(with_renewal) == 0
    v = 1.1 ** (-1 / 12)
    pv = 720_000.0 * v * (1 - v ** 24) / (1 - v)
    df_last = 1.1 ** (-T / 12)
    assert with_renewal.npv_usd - without.npv_usd == pytest.approx(df_last * pv, rel=1e-9)
    rents = sum(1.5e6 * 1.1 ** (-(t + 1) / 12) for t in range(2, 12))
    assert with_renewal.npv_usd == pytest.approx(rents + df_last * pv, rel=1e-9)


def test_renewal_rent_inside_the_horizon_is_cash():
    """T = 18: the renewal's first six months (12..17) bring $720,000 of cash each; the 18
    left after the horizon count at their PV: 720,000 x v (1 - v^18) / (1 - v) at DF(17)."""
    T = 18
    outcome = solve_audited(renewal_instance(T, RENEWAL))
    plan = outcome.result.plan
    assert signing_index(plan) == 0
    rent = column(outcome.result.cashflow_monthly, "ai_rent_usd")
    assert rent == pytest.approx([0.0, 0.0] + [1.5e6] * 10 + [720e3] * 6, abs=0.01)
    v = 1.1 ** (-1 / 12)
    inside = sum(r * 1.1 ** (-(t + 1) / 12) for t, r in enumerate(rent))
    after = 1.1 ** (-T / 12) * 720_000.0 * v * (1 - v ** 18) / (1 - v)
    assert plan.npv_usd == pytest.approx(inside + after, rel=1e-9)


def test_renewal_rent_is_a_share_of_the_last_escalated_rent():
    """A 24-month term with a 3 % escalator: the last rent is 1.5M x 1.03 = $1.545M; renewal
    at 50 % with probability 1: $772,500 a month, opex at the renewal's probability."""
    from capalloc.optimizer.economics import Renewal, phase_schedule

    schedule = phase_schedule(
        critical_it_mw=10.0, capex_usd_per_mw_it=0.0, capex_shares=[1.0], lead_time_months=1,
        lease_usd_per_kw_month=150.0, escalator_pct_per_year=3.0, term_months=24,
        opex_usd_per_mw_month=1000.0, prepayment_months=0, renewal=Renewal(1.0, 50.0, 6),
    )
    assert schedule.length == 1 + 24 + 6
    assert schedule.rent_cash[25:] == pytest.approx([772_500.0] * 6)
    assert schedule.opex[25:] == pytest.approx([10_000.0] * 6)
    assert schedule.online[25:] == [1] * 6
    half = phase_schedule(
        critical_it_mw=10.0, capex_usd_per_mw_it=0.0, capex_shares=[1.0], lead_time_months=1,
        lease_usd_per_kw_month=150.0, escalator_pct_per_year=3.0, term_months=24,
        opex_usd_per_mw_month=1000.0, prepayment_months=0, renewal=Renewal(0.5, 50.0, 6),
    )
    assert half.rent_cash[25:] == pytest.approx([386_250.0] * 6)
    assert half.opex[25:] == pytest.approx([5_000.0] * 6)


def _loan(data):
    data["finance"]["btc_loan"] = {"limit_usd": 1e6, "rate_pct_per_year": 8.5, "ltv_pct": 50.0}
    return data["finance"]["btc_loan"]


def _renewal(data):
    data["sites"][0]["ai_phases"][0]["renewal"] = dict(RENEWAL)
    return data["sites"][0]["ai_phases"][0]["renewal"]


BAD = [
    ("ltv_above_100", lambda d: _loan(d).update(ltv_pct=120.0), "finance.btc_loan.ltv_pct"),
    ("ltv_zero", lambda d: _loan(d).update(ltv_pct=0.0), "finance.btc_loan.ltv_pct"),
    ("loan_rate_negative", lambda d: _loan(d).update(rate_pct_per_year=-1.0),
     "finance.btc_loan.rate_pct_per_year"),
    ("loan_limit_negative", lambda d: _loan(d).update(limit_usd=-5.0), "finance.btc_loan.limit_usd"),
    ("renewal_probability_above_1", lambda d: _renewal(d).update(probability=1.2),
     "sites[alpha].ai_phases[hall1].renewal.probability"),
    ("renewal_term_zero", lambda d: _renewal(d).update(term_months=0),
     "sites[alpha].ai_phases[hall1].renewal.term_months"),
    ("renewal_share_zero", lambda d: _renewal(d).update(rent_share_pct=0.0),
     "sites[alpha].ai_phases[hall1].renewal.rent_share_pct"),
    ("capitalize_not_bool", lambda d: d["finance"].update(project_debt={
        "loan_to_cost_pct": 70.0, "rate_pct_per_year": 7.0, "amortization_months": 60,
        "capitalize_construction_interest": "sometimes"}),
     "finance.project_debt.capitalize_construction_interest"),
]


@pytest.mark.parametrize(("name", "mutate", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_financing_input_exits_2_naming_the_field(tmp_path, name, mutate, field):
    data = valid_data()
    mutate(data)
    instance = write_instance(tmp_path / "in", data)
    out = tmp_path / "plans" / "p"
    result = subprocess.run([capalloc_executable(), "solve", str(instance), "-o", str(out), "--quiet"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert field in flat(result.stderr), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "plans").exists()


def test_ltv_holds_per_scenario_only_the_falling_one_is_called(tmp_path):
    """Two scenarios with the margin-call setup: 'flat' keeps $100,000 (the $5M balance
    stays, months 0-4), 'drop' falls to $80,000 in month 3 (balance $4M from then). The
    loan is operated per scenario, like the revolver."""
    data = margin_call_instance(tmp_path, btc_held=100.0, limit_usd=10e6)
    dropping = data["market"].pop("btc_price_usd")
    for key in ("network_hashrate_ehs", "fees_btc_per_block"):
        data["market"].pop(key)
    common = {"network_hashrate_ehs": 1000.0, "fees_btc_per_block": 0.0}
    data["market"]["scenarios"] = [
        {"name": "flat", "probability": 0.5, "btc_price_usd": 100_000.0, **common},
        {"name": "drop", "probability": 0.5, "btc_price_usd": dropping, **common}]
    plan = solve_audited(data, tmp_path).result.plan
    balance = {f.scenario: f.btc_loan_balance_usd for f in plan.decisions.finance}
    assert balance["flat"][:5] == pytest.approx([5e6] * 5, abs=0.01)
    assert balance["drop"][:5] == pytest.approx([5e6] * 3 + [4e6] * 2, abs=0.01)


def test_debt_rows_of_project_debt_show_interest_capitalized_until_rent_start():
    """debt_monthly.csv rows of the capitalized loan of a phase signed in month 0 (cash for
    the equity share at hand; T = 8, L = 4): draws of $3.75M in months 0-3, interest accrued
    (capitalized) 0, 18,750, 37,593.75, 56,531.72 as in the closed-form test, the balance at
    rent start 3.75M x (1.005^4 - 1) / 0.005, then the annuity's interest and principal."""
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.formulation.builder import build_model
    from capalloc.optimizer.outputs.extract import _signing_month
    from capalloc.optimizer.outputs.extract_notes import debt_table
    from capalloc.optimizer.solving.solve import SolveSettings, run_highs

    phase = make_phase(capex_usd_per_mw_it=2e6, lead_time_months=4, earliest_signing_month=START)
    data = make_instance(
        start=START, horizon=8, rate_pct=10.0, phases=[phase],
        finance={"starting_cash_usd": 20e6,
                 "project_debt": {"loan_to_cost_pct": 75.0, "rate_pct_per_year": 6.0,
                                  "amortization_months": 12, "capitalize_construction_interest": True}},
    )
    instance = validate_instance_data(data)
    built = build_model(instance)
    run_highs(built, SolveSettings.from_instance(instance))
    signed_at = {w.key: _signing_month(built.model, w) for w in built.context.phase_windows}
    assert signed_at[("alpha", "hall1")] == 0
    table = debt_table(built.context, built.model, signed_at, [])
    rows = table[table["kind"] == "project"].to_dict("records")
    assert len(rows) == 8
    interest, principal, balance_end, capitalized = capitalized_schedule(4, 3.75e6, 0.005, 12, 8)
    assert [r["drawn_usd"] for r in rows] == pytest.approx([3.75e6] * 4 + [0.0] * 4, abs=0.01)
    assert [r["interest_usd"] for r in rows] == pytest.approx(
        [a + b for a, b in zip(interest, capitalized, strict=True)], abs=0.01)
    assert [r["interest_usd"] for r in rows[:4]] == pytest.approx([0.0, 18_750.0, 37_593.75, 56_531.72],
                                                                  abs=0.01)
    assert rows[3]["balance_usd"] == pytest.approx(3.75e6 * (1.005 ** 4 - 1) / 0.005, abs=0.01)
    assert [r["principal_usd"] for r in rows] == pytest.approx(principal, abs=0.01)
    assert [r["balance_usd"] for r in rows] == pytest.approx(balance_end, abs=0.01)


# Taxes, the covenant and debt_monthly.csv with the instruments above (merge with main).


def test_btc_loan_interest_is_interest_for_taxes(tmp_path):
    """The margin-call plan with a 25 % tax: interest accrued is the loan's, 0.5 % of the
    opening balance: 0, 25,000 x 3 (on $5M), 20,000 x 2 (on $4M after the margin call); the
    phase is free (capex 0), so depreciation is 0 and taxable income = EBITDA - interest:
    1.5M - 25k = 1.475M in months 1-3, 1.48M in 4-5. The audit restates it all and passes."""
    data = margin_call_instance(tmp_path, btc_held=100.0, limit_usd=10e6)
    data["finance"]["taxes"] = {"rate_pct": 25.0}
    outcome = solve_audited(data, tmp_path)
    cashflow = outcome.result.cashflow_monthly
    assert column(cashflow, "btc_loan_balance_usd")[:5] == pytest.approx([5e6] * 3 + [4e6] * 2, abs=0.01)
    assert column(cashflow, "interest_accrued_usd") == pytest.approx(
        [0.0, 25e3, 25e3, 25e3, 20e3, 20e3], abs=0.01)
    assert column(cashflow, "interest_accrued_usd") == pytest.approx(
        [-v for v in column(cashflow, "btc_loan_interest_usd")], abs=0.01)
    assert column(cashflow, "taxable_income_usd")[1:] == pytest.approx(
        [1.475e6] * 3 + [1.48e6] * 2, abs=0.01)


def test_renewal_rent_inside_the_horizon_is_ebitda():
    """T = 18, a 25 % tax: the renewal's expected rent 0.6 x 80 % x 1.5M = $720,000 a month
    (months 12-17) is EBITDA like the lease's $1.5M (months 2-11); opex is 0 in make_phase.
    With a covenant at 1.2x the plan is the same (no debt service to cover)."""
    data = renewal_instance(18, RENEWAL)
    data["finance"]["taxes"] = {"rate_pct": 25.0}
    data["finance"]["covenant"] = {"min_dscr": 1.2, "from_month": START}
    outcome = solve_audited(data)
    assert signing_index(outcome.result.plan) == 0
    cashflow = outcome.result.cashflow_monthly
    opex = column(cashflow, "ai_opex_usd")
    assert opex == pytest.approx([0.0] * 18, abs=0.01)
    assert column(cashflow, "ebitda_usd") == pytest.approx([0.0, 0.0] + [1.5e6] * 10 + [720e3] * 6, abs=0.01)
    # No losses, no depreciation: tax = 25 % of each month's EBITDA, 180,000 in renewal months.
    assert column(cashflow, "taxes_usd")[12:] == pytest.approx([-180e3] * 6, abs=0.01)


def test_debt_monthly_csv_holds_the_btc_loan_rows_of_plan_json(tmp_path):
    """The written debt_monthly.csv has one btc_loan row a month with the balance and the
    collateral of plan.json's finance decisions ($5M x 3, $4M after the margin call, 100 BTC
    pledged), and project debt rows only where a phase is financed (none here)."""
    import pandas as pd

    from capalloc.optimizer.outputs.plan_io import read_plan, write_plan_dir

    outcome = solve_audited(margin_call_instance(tmp_path, btc_held=100.0, limit_usd=10e6), tmp_path)
    target = write_plan_dir(outcome.result, tmp_path / "plan", {})
    plan = read_plan(target)
    debt = pd.read_csv(target / "debt_monthly.csv")
    loan = debt[debt["instrument"] == "btc_loan"]
    finance = plan.decisions.finance[0]
    assert list(loan["month"]) == plan.months
    assert list(loan["balance_usd"]) == pytest.approx(finance.btc_loan_balance_usd, abs=0.01)
    assert list(loan["collateral_btc"]) == pytest.approx(finance.btc_pledged_btc, abs=1e-8)
    assert list(loan["balance_usd"])[:5] == pytest.approx([5e6] * 3 + [4e6] * 2, abs=0.01)
    assert list(loan["interest_usd"])[:5] == pytest.approx([0.0, 25e3, 25e3, 25e3, 20e3], abs=0.01)
    assert set(debt["instrument"]) == {"btc_loan"}


def test_capitalized_construction_interest_is_deducted_as_it_accrues():
    """The capitalized loan of a phase signed in month 0 (T = 8, L = 4, as in the debt rows
    test) with a 20 % tax: interest accrued is 0, 18,750, 37,593.75, 56,531.72 before rent
    start (capitalized, no cash) and the annuity's interest after it (capitalized_schedule);
    the audit deducts the same."""
    phase = make_phase(capex_usd_per_mw_it=2e6, lead_time_months=4, earliest_signing_month=START)
    data = make_instance(
        start=START, horizon=8, rate_pct=10.0, phases=[phase],
        finance={"starting_cash_usd": 20e6, "taxes": {"rate_pct": 20.0},
                 "project_debt": {"loan_to_cost_pct": 75.0, "rate_pct_per_year": 6.0,
                                  "amortization_months": 12, "capitalize_construction_interest": True}},
    )
    outcome = solve_audited(data)
    assert signing_index(outcome.result.plan) == 0
    interest, _, _, capitalized = capitalized_schedule(4, 3.75e6, 0.005, 12, 8)
    accrued = column(outcome.result.cashflow_monthly, "interest_accrued_usd")
    assert accrued[:4] == pytest.approx([0.0, 18_750.0, 37_593.75, 56_531.72], abs=0.01)
    assert accrued == pytest.approx([a + b for a, b in zip(interest, capitalized, strict=True)], abs=0.01)
