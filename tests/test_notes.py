"""Issue 14, financing as decisions (part "notes"): new notes programs, equity issuance and
conversion of convertible notes by share price per scenario, with expected values derived by
hand in the comments (DESIGN.md, "Timing and accounting of the new capabilities").

The instances have no mining and no AI phases: cash, debts and the financing decisions only,
so that every flow is a figure written in the test.
"""

from __future__ import annotations

import copy

import pytest

from capalloc.models import InstanceError, validate_instance_data
from capalloc.optimizer.solving.solve import InfeasibleError
from tests.helpers import best_distribution_npv, discount_factors, make_instance, month_days, month_label

START = "2027-01"


def solve_audited(data):
    from capalloc.optimizer.pipeline import solve_instance

    outcome = solve_instance(validate_instance_data(data))
    plan = outcome.result.plan
    assert plan.audit is not None and plan.audit.passed, plan.audit.messages
    return outcome


def cash_only(horizon: int, rate_pct: float, finance: dict) -> dict:
    """An instance whose only flows are financial (the site has no miners and no phases)."""
    return make_instance(start=START, horizon=horizon, rate_pct=rate_pct, finance=finance)


def column(cashflow, name: str, scenario: str = "base") -> list[float]:
    return list(cashflow.loc[cashflow["scenario"] == scenario, name])


# A bullet note refinancing a shortfall: $100M of cash and a $150M existing bullet due at the
# end of month 2; 100 MW of 20 J/TH miners with free power earn 50,000 TH/s x 4.5e-7 BTC/TH/day
# x $90,000 = $2,025 per MW-day, $202,500 a day; the notes program (1 % fee, 12 %/yr coupon,
# 6-month tenor, issue month 2 only) bridges the gap. 10 %/yr discount rate, 12 months.
NOTE = {"id": "senior", "coupon_pct_per_year": 12.0, "issuance_fee_pct": 1.0, "tenor_months": 6,
        "limit_usd": 80e6, "first_issue_month": "2027-03", "last_issue_month": "2027-03"}
INCOME_PER_DAY = 100 * 1e6 / 20 * (144 * 3.125 / 1e9) * 90_000.0  # $202,500


def bridged(**finance) -> dict:
    data = make_instance(
        start=START, horizon=12, rate_pct=10.0,
        site={"energization": [{"from_month": START, "contracted_mw": 200.0}],
              "power_price_usd_per_mwh": 0.0, "mining_infrastructure_mw": 100.0},
        fleet=[{"id": "s19", "installed_mw": 100.0, "efficiency_j_per_th": 20.0,
                "sites_at_start": {"alpha": 100.0}}],
        finance={"starting_cash_usd": 100e6, "notes_programs": [dict(NOTE)],
                 "existing_debts": [{"id": "bullet", "principal_usd": 150e6, "maturity_month": "2027-03"}],
                 **finance})
    return data


def test_bullet_note_fee_coupons_and_repayment_by_hand():
    outcome = solve_audited(bridged())
    plan, cashflow = outcome.result.plan, outcome.result.cashflow_monthly
    days = month_days(START, 12)
    income = [INCOME_PER_DAY * d for d in days]
    # Cash at the end of month 2 before the note: 100M + 202,500 x (31 + 28 + 31) - 150M
    # = -31.775M; the note's proceeds are 99 % of its principal, so X = 31.775M / 0.99.
    # Issuing more does not pay: per extra $ at month 2, 0.99 DF(2) - 0.01 sum DF(3..8) - DF(8)
    # = 0.9668 - 0.0570 - 0.9310 < 0 at 10 %/yr (the coupon is above the discount rate).
    x = (150e6 - 100e6 - sum(income[:3])) / 0.99
    assert x == pytest.approx(32_095_959.60, abs=0.01)
    issued = plan.decisions.notes[0].issued_usd
    assert issued[:2] == [0.0, 0.0] and issued[3:] == [0.0] * 9
    assert issued[2] == pytest.approx(x, abs=0.02)
    notes_issued = column(cashflow, "notes_issued_usd")
    assert notes_issued[2] == pytest.approx(x, abs=0.02)
    fees = column(cashflow, "notes_fees_usd")
    assert fees[2] == pytest.approx(-0.01 * x, abs=0.01) and fees[:2] + fees[3:] == [0.0] * 11
    # 12 %/12 = 1 % of X on the opening balance of months 3..8 (the month after issue through
    # maturity 2 + 6 = 8), nothing before or after.
    coupons = column(cashflow, "notes_coupons_usd")
    assert coupons[:3] == [0.0] * 3 and coupons[9:] == [0.0] * 3
    assert coupons[3:9] == pytest.approx([-0.01 * x] * 6, abs=0.01)
    repaid = column(cashflow, "notes_repayments_usd")
    assert repaid[8] == pytest.approx(-x, abs=0.02) and repaid[:8] + repaid[9:] == [0.0] * 11
    balance = column(cashflow, "notes_balance_usd")
    assert balance[:2] == [0.0, 0.0] and balance[8:] == [0.0] * 4
    assert balance[2:8] == pytest.approx([x] * 6, abs=0.02)
    # The NPV: the best distribution policy for these fixed flows (tests.helpers, independent).
    flows = list(income)
    flows[2] += -150e6 + 0.99 * x
    for t in range(3, 9):
        flows[t] -= 0.01 * x
    flows[8] -= x
    dfs = discount_factors(10.0, 12)
    assert plan.npv_usd == pytest.approx(best_distribution_npv(100e6, 0.0, flows, dfs), abs=5.0)
    assert plan.kpis[0].notes_issued_usd == pytest.approx(x, abs=0.02)
    debt = outcome.result.debt_monthly
    rows = debt[(debt["instrument"] == "senior")]
    assert list(rows["month"]) == [month_label(START, t) for t in range(12)]
    assert list(rows["interest_usd"])[3:9] == pytest.approx([0.01 * x] * 6, abs=0.01)
    assert list(rows["principal_usd"])[8] == pytest.approx(x, abs=0.02)
    assert rows["ltv_pct"].isna().all() and rows["collateral_btc"].isna().all()
    bullet = debt[debt["instrument"] == "bullet"]
    assert list(bullet["principal_usd"]) == [0.0, 0.0, 150e6] + [0.0] * 9
    # cash_end = cash_start + every flow line, the notes lines included.
    from tests.test_fleet import NEW_FLOW_COLUMNS

    flows_columns = NEW_FLOW_COLUMNS + ["notes_issued_usd", "notes_fees_usd", "notes_coupons_usd",
                                        "notes_repayments_usd", "equity_issued_usd"]
    for _, row in cashflow.iterrows():
        total = row["cash_start_usd"] + sum(row[c] for c in flows_columns)
        assert row["cash_end_usd"] == pytest.approx(total, abs=1.0), row["month"]


def test_without_the_program_the_shortfall_is_infeasible():
    from capalloc.optimizer.pipeline import solve_instance

    data = bridged(notes_programs=[])
    with pytest.raises(InfeasibleError) as error:
        solve_instance(validate_instance_data(data))
    # The shortfall the note bridged: 150M - 100M - 18.225M of mining = 31.775M in 2027-03.
    assert "$31,775,000 in 2027-03" in str(error.value)


def test_note_maturing_after_the_horizon_stays_in_the_terminal_value_at_face():
    # Cash only ($100M, 30 %/yr): $50M issued in month 2 at 1 % fee and 6 %/yr with a 24-month
    # tenor on a 12-month horizon: coupons of 250,000 in months 3..11, no repayment; the
    # terminal value counts -$50M at DF(11). Per $: 0.99 DF(2) - 0.005 sum DF(3..11) - DF(11)
    # = 0.9271 - 0.0413 - 0.7692 > 0, so the plan issues the whole $50M limit.
    note = {"id": "senior", "coupon_pct_per_year": 6.0, "issuance_fee_pct": 1.0, "tenor_months": 24,
            "limit_usd": 50e6, "first_issue_month": "2027-03", "last_issue_month": "2027-03"}
    outcome = solve_audited(make_instance(start=START, horizon=12, rate_pct=30.0,
                                          finance={"starting_cash_usd": 100e6, "notes_programs": [note]}))
    cashflow = outcome.result.cashflow_monthly
    assert outcome.result.plan.decisions.notes[0].issued_usd == [0.0, 0.0, 50e6] + [0.0] * 9
    assert column(cashflow, "notes_repayments_usd") == [0.0] * 12
    assert column(cashflow, "notes_coupons_usd") == [0.0] * 3 + [-250_000.0] * 9
    flows = [0.0] * 12
    flows[2] += 49.5e6
    for t in range(3, 12):
        flows[t] -= 250_000.0
    dfs = discount_factors(30.0, 12)
    expected = best_distribution_npv(100e6, 0.0, flows, dfs) - 50e6 * dfs[11]
    assert outcome.result.plan.npv_usd == pytest.approx(expected, abs=1.0)


def test_equity_costs_one_plus_discount_at_the_issue_month():
    # $100M of cash, an existing $150M bullet due at the end of month 3, equity at a 5 %
    # discount, no other source: $50M must be raised by month 3. Raising it in month 3 costs
    # 1.05 x 50M x DF(3); distributing the $100M at once and raising $150M instead costs
    # 100M x (1.05 DF(3) - DF(0)) more, positive because DF(0)/DF(3) = 1.1^(3/12) = 1.024 < 1.05;
    # raising earlier only discounts less. So the NPV is -1.05 x 50M x 1.1^(-4/12).
    data = cash_only(6, 10.0, {
        "starting_cash_usd": 100e6,
        "existing_debts": [{"id": "bullet", "principal_usd": 150e6, "maturity_month": "2027-04"}],
        "equity_issuance": {"discount_pct": 5.0},
    })
    outcome = solve_audited(data)
    plan = outcome.result.plan
    assert plan.decisions.equity_issued_usd == pytest.approx([0.0, 0.0, 0.0, 50e6, 0.0, 0.0], abs=0.01)
    assert plan.npv_usd == pytest.approx(-1.05 * 50e6 * 1.1 ** (-4 / 12), abs=1.0)
    assert plan.kpis[0].equity_raised_usd == pytest.approx(50e6, abs=0.01)
    assert plan.kpis[0].dilution_cost_usd == pytest.approx(1.05 * 50e6 * 1.1 ** (-4 / 12), abs=1.0)


def test_equity_is_off_by_default_so_the_shortfall_is_infeasible():
    from capalloc.optimizer.pipeline import solve_instance

    data = cash_only(6, 10.0, {
        "starting_cash_usd": 100e6,
        "existing_debts": [{"id": "bullet", "principal_usd": 150e6, "maturity_month": "2027-04"}],
    })
    with pytest.raises(InfeasibleError) as error:
        solve_instance(validate_instance_data(data))
    assert "$50,000,000 in 2027-04" in str(error.value)


def two_share_price_scenarios(bull_p: float, bull_share: float, bear_share: float) -> dict:
    return {"halvings": [], "scenarios": [
        {"name": "bull", "probability": bull_p, "btc_price_usd": 90_000.0, "network_hashrate_ehs": 1000.0,
         "fees_btc_per_block": 0.0, "share_price_usd": bull_share},
        {"name": "bear", "probability": 1.0 - bull_p, "btc_price_usd": 90_000.0,
         "network_hashrate_ehs": 1000.0, "fees_btc_per_block": 0.0, "share_price_usd": bear_share},
    ]}


def test_existing_convertible_converts_where_the_share_price_reaches_the_conversion_price():
    # $150M convertible due at the end of month 3, conversion price $20; $200M of cash; 10 %/yr.
    # bull (share $25 >= $20): converts, no cash; 150M x 25 / 20 = $187.5M of value at DF(3);
    #   all $200M is distributed at month 0: NPV = 200M DF(0) - 187.5M DF(3).
    # bear (share $15 < $20): repaid in cash at month 3: $50M distributed at month 0, the
    #   $150M held and paid: NPV = 50M DF(0).
    market = two_share_price_scenarios(0.5, 25.0, 15.0)
    data = cash_only(6, 10.0, {
        "starting_cash_usd": 200e6,
        "existing_debts": [{"id": "converts_2027", "principal_usd": 150e6, "maturity_month": "2027-04",
                            "conversion_price_usd": 20.0}],
    })
    data["market"] = market
    outcome = solve_audited(data)
    plan, cashflow = outcome.result.plan, outcome.result.cashflow_monthly
    dfs = discount_factors(10.0, 6)
    assert column(cashflow, "existing_debt_repayments_usd", "bull") == [0.0] * 6
    assert column(cashflow, "existing_debt_repayments_usd", "bear") == [0.0] * 3 + [-150e6, 0.0, 0.0]
    kpis = {k.scenario: k for k in plan.kpis}
    assert kpis["bull"].npv_usd == pytest.approx(200e6 * dfs[0] - 187.5e6 * dfs[3], abs=1.0)
    assert kpis["bear"].npv_usd == pytest.approx(50e6 * dfs[0], abs=1.0)
    assert kpis["bull"].dilution_cost_usd == pytest.approx(187.5e6 * dfs[3], abs=1.0)
    assert plan.npv_usd == pytest.approx(0.5 * (200e6 * dfs[0] - 187.5e6 * dfs[3]) + 0.5 * 50e6 * dfs[0],
                                         abs=1.0)
    debt = outcome.result.debt_monthly
    kinds = dict(zip(debt["scenario"], debt["kind"], strict=True))
    assert kinds == {"bull": "converted", "bear": "convertible"}


def test_new_convertible_issue_is_common_and_converts_at_exactly_the_conversion_price():
    # A 0 % convertible program, conversion price $20, issue in month 0 only, tenor 3, limit
    # $40M; 30 %/yr; $100M of cash; two equally likely scenarios.
    # bull (share exactly $20, "at or above"): converts at month 3, no cash; value given
    #   40M x 20/20 = 40M at DF(3); the 40M raised is distributed at month 0:
    #   NPV = 140M DF(0) - 40M DF(3).
    # bear (share $15): repaid at month 3 from the 40M held: NPV = 100M DF(0), as without it.
    # Issuing gains 0.5 x 40M x (DF(0) - DF(3)) > 0, so the common decision takes the limit.
    program = {"id": "converts_new", "coupon_pct_per_year": 0.0, "tenor_months": 3, "limit_usd": 40e6,
               "last_issue_month": START, "conversion_price_usd": 20.0}
    data = make_instance(start=START, horizon=6, rate_pct=30.0,
                         finance={"starting_cash_usd": 100e6, "notes_programs": [program]})
    data["market"] = two_share_price_scenarios(0.5, 20.0, 15.0)
    outcome = solve_audited(data)
    plan, cashflow = outcome.result.plan, outcome.result.cashflow_monthly
    assert plan.decisions.notes[0].issued_usd == [40e6] + [0.0] * 5
    assert column(cashflow, "notes_repayments_usd", "bull") == [0.0] * 6
    assert column(cashflow, "notes_repayments_usd", "bear") == [0.0] * 3 + [-40e6, 0.0, 0.0]
    dfs = discount_factors(30.0, 6)
    kpis = {k.scenario: k for k in plan.kpis}
    assert kpis["bull"].npv_usd == pytest.approx(140e6 * dfs[0] - 40e6 * dfs[3], abs=1.0)
    assert kpis["bear"].npv_usd == pytest.approx(100e6 * dfs[0], abs=1.0)
    assert kpis["bull"].dilution_cost_usd == pytest.approx(40e6 * dfs[3], abs=1.0)
    assert kpis["bear"].dilution_cost_usd == 0.0


def test_without_the_new_fields_nothing_changes():
    # Neutral defaults: no programs, equity off, no share prices; the plan carries empty lists.
    data = cash_only(6, 10.0, {"starting_cash_usd": 100e6})
    outcome = solve_audited(data)
    assert outcome.result.plan.decisions.notes == []
    assert outcome.result.plan.decisions.equity_issued_usd == []
    assert outcome.result.plan.npv_usd == pytest.approx(100e6 * discount_factors(10.0, 6)[0], abs=1.0)


def _with(path: list, value) -> callable:
    def mutate(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


BASE_FINANCE = {"starting_cash_usd": 100e6, "notes_programs": [dict(NOTE)],
                "existing_debts": [{"id": "cv", "principal_usd": 1e6, "maturity_month": "2027-04"}]}
INVALID = [
    ("tenor of 0", _with(["finance", "notes_programs", 0, "tenor_months"], 0),
     "finance.notes_programs[senior].tenor_months"),
    ("conversion price of 0 on a program",
     _with(["finance", "notes_programs", 0, "conversion_price_usd"], 0.0),
     "finance.notes_programs[senior].conversion_price_usd"),
    ("conversion price of 0 on an existing debt",
     _with(["finance", "existing_debts", 0, "conversion_price_usd"], 0.0),
     "finance.existing_debts[cv].conversion_price_usd"),
    ("convertible without share prices",
     _with(["finance", "existing_debts", 0, "conversion_price_usd"], 20.0), "market.share_price_usd"),
    ("negative share price", _with(["market", "share_price_usd"], -1.0), "market.share_price_usd"),
    ("fee above 20 %", _with(["finance", "notes_programs", 0, "issuance_fee_pct"], 25.0),
     "finance.notes_programs[senior].issuance_fee_pct"),
    ("empty issue window", _with(["finance", "notes_programs", 0, "first_issue_month"], "2027-06"),
     "finance.notes_programs[senior].last_issue_month"),
    ("equity discount above 100 %", _with(["finance", "equity_issuance"], {"discount_pct": 120.0}),
     "finance.equity_issuance.discount_pct"),
    ("issue window after the horizon",
     _with(["finance", "notes_programs", 0], dict(NOTE, first_issue_month="2028-01", last_issue_month=None)),
     "finance.notes_programs[senior].first_issue_month"),
    ("program id twice", _with(["finance", "notes_programs"], [dict(NOTE), dict(NOTE)]),
     "finance.notes_programs: program id 'senior' appears more than once"),
    ("negative equity limit", _with(["finance", "equity_issuance"], {"discount_pct": 3.0, "limit_usd": -1.0}),
     "finance.equity_issuance.limit_usd"),
]


@pytest.mark.parametrize(("name", "mutate", "field"), INVALID, ids=[n for n, _, _ in INVALID])
def test_invalid_notes_fields_name_the_field(name, mutate, field):
    data = cash_only(12, 10.0, copy.deepcopy(BASE_FINANCE))
    validate_instance_data(data)  # the unchanged instance is valid
    mutate(data)
    with pytest.raises(InstanceError) as error:
        validate_instance_data(data)
    assert field in str(error.value), str(error.value)


@pytest.mark.parametrize(("path", "value", "field"), [
    (["finance", "notes_programs", 0, "tenor_months"], 0, "finance.notes_programs[senior].tenor_months"),
    (["finance", "existing_debts", 0, "conversion_price_usd"], 0,
     "finance.existing_debts[cv].conversion_price_usd"),
])
def test_bad_notes_input_exits_2_from_the_cli(tmp_path, path, value, field):
    from tests.test_cli import flat, run_cli, write_instance

    data = cash_only(12, 10.0, copy.deepcopy(BASE_FINANCE))
    _with(path, value)(data)
    instance = write_instance(tmp_path / "in", data)
    result = run_cli("solve", instance, "-o", tmp_path / "plans" / "p", "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert field in flat(result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "plans").exists()


def test_audit_checks_the_notes_rules_from_the_decisions_alone():
    from capalloc.optimizer.checks.audit import audit_plan

    outcome = solve_audited(bridged())
    instance = validate_instance_data(bridged())
    plan = outcome.result.plan
    x = plan.decisions.notes[0].issued_usd[2]

    def rules_of(mutate) -> set[str]:
        tampered = plan.model_copy(deep=True)
        mutate(tampered.decisions)
        return {v.rule for v in audit_plan(instance, tampered).violations}

    def over_limit(d):  # 90M outstanding against the 80M limit
        d.notes[0].issued_usd[2] = 90e6

    def outside_window(d):  # the program issues in 2027-03 only
        d.notes[0].issued_usd[4] = 1e6

    def equity_not_offered(d):
        d.equity_issued_usd = [0.0, 0.0, 1e6] + [0.0] * 9

    def unknown_program(d):
        d.notes[0].program = "junior"

    assert "notes_limit" in rules_of(over_limit)
    assert "notes_window" in rules_of(outside_window)
    assert "equity_issuance" in rules_of(equity_not_offered)
    assert "unknown_id" in rules_of(unknown_program)

    # Skipping the repayment in month 8 would leave X more cash than the plan reports: the
    # audit's own schedule, not the plan's tables, decides the cash.
    report = audit_plan(instance, plan)
    months = report.monthly[report.monthly["scenario"] == "base"].reset_index(drop=True)
    assert months.loc[8, "notes_repayments_usd"] == pytest.approx(-x, abs=0.01)
    assert months.loc[3, "notes_coupons_usd"] == pytest.approx(-0.01 * x, abs=0.01)
    assert months.loc[2, "notes_fees_usd"] == pytest.approx(-0.01 * x, abs=0.01)


def test_note_schedule_by_hand():
    from capalloc.optimizer.economics_finance import (
        conversion_value_usd,
        converts,
        equity_cost_factor,
        note_schedule,
    )

    # $1,200 at 10 %/yr, 2 % fee, issued at the end of month 1 with a 3-month tenor, 6 months:
    # fee 24 in month 1; coupons 1,200 x 10 % / 12 = 10 in months 2, 3, 4; repaid in month 4;
    # outstanding at the ends of months 1, 2, 3.
    s = note_schedule(1200.0, 10.0, 2.0, 3, 1, 6)
    assert s.proceeds == [0.0, 1200.0, 0.0, 0.0, 0.0, 0.0]
    assert s.fee == pytest.approx([0.0, 24.0, 0.0, 0.0, 0.0, 0.0])
    assert s.coupon == pytest.approx([0.0, 0.0, 10.0, 10.0, 10.0, 0.0])
    assert s.repaid == [0.0, 0.0, 0.0, 0.0, 1200.0, 0.0]
    assert s.balance_end == [0.0, 1200.0, 1200.0, 1200.0, 0.0, 0.0]
    assert s.maturity_index == 4
    # Maturity after the horizon: coupons to the end, no repayment, still outstanding.
    late = note_schedule(1200.0, 10.0, 0.0, 12, 1, 6)
    assert late.repaid == [0.0] * 6 and late.balance_end[-1] == 1200.0
    assert converts(19.16, 19.16) and not converts(19.16, 19.15) and not converts(None, 1e6)
    assert conversion_value_usd(1.15e9, 23.0, 19.16) == pytest.approx(1.15e9 * 23.0 / 19.16)
    assert equity_cost_factor(4.0) == pytest.approx(1.04)


def test_debt_table_agrees_with_the_independent_audit_on_every_instrument():
    # two_sites has an existing 0 % note, a revolver and project debt; a notes program is added.
    # Each instrument's rows in debt_monthly.csv must match the audit's own recomputation of
    # the same lines (optimizer.checks.audit shares no code with optimizer.outputs.extract_notes).
    from pathlib import Path

    import yaml

    from capalloc.optimizer.checks.audit import audit_plan

    root = Path(__file__).resolve().parents[1]
    data = yaml.safe_load((root / "instances" / "two_sites.yaml").read_text())
    data["finance"]["notes_programs"] = [
        {"id": "senior", "coupon_pct_per_year": 8.0, "issuance_fee_pct": 2.0, "tenor_months": 36,
         "limit_usd": 100e6}]
    instance = validate_instance_data(data)
    outcome = solve_audited(data)
    debt = outcome.result.debt_monthly
    monthly = audit_plan(instance, outcome.result.plan).monthly
    assert sum(sum(n.issued_usd) for n in outcome.result.plan.decisions.notes) > 0  # 8 % < the discount rate
    by_kind = debt.groupby(["scenario", "month", "kind"])[
        ["drawn_usd", "interest_usd", "principal_usd", "balance_usd"]].sum()

    def line(kind: str, column: str) -> list[float]:
        frame = by_kind.xs(kind, level="kind")[column]
        keys = zip(monthly["scenario"], monthly["month"], strict=True)
        return [float(frame.get(key, 0.0)) for key in keys]

    def audit(column: str, sign: float = -1.0) -> list[float]:
        return [sign * float(x) for x in monthly[column]]

    assert line("project", "interest_usd") == pytest.approx(audit("project_debt_interest_usd"), abs=0.02)
    assert line("project", "principal_usd") == pytest.approx(audit("project_debt_principal_usd"), abs=0.02)
    assert line("project", "drawn_usd") == pytest.approx(audit("project_debt_draws_usd", 1.0), abs=0.02)
    assert line("project", "balance_usd") == pytest.approx(audit("project_debt_balance_usd", 1.0), abs=0.02)
    assert line("revolver", "interest_usd") == pytest.approx(audit("revolver_interest_usd"), abs=0.02)
    assert line("revolver", "balance_usd") == pytest.approx(audit("revolver_balance_usd", 1.0), abs=0.02)
    assert line("notes", "interest_usd") == pytest.approx(audit("notes_coupons_usd"), abs=0.02)
    assert line("notes", "principal_usd") == pytest.approx(audit("notes_repayments_usd"), abs=0.02)
    assert line("notes", "balance_usd") == pytest.approx(audit("notes_balance_usd", 1.0), abs=0.02)
    assert line("existing", "principal_usd") == pytest.approx(audit("existing_debt_repayments_usd"), abs=0.02)
    assert line("existing", "balance_usd") == pytest.approx(audit("existing_debt_balance_usd", 1.0), abs=0.02)


def test_note_coupons_are_interest_for_taxes():
    """With taxes at 25 % the bridged instance (its note's tenor 24 months, past the horizon)
    still issues a note in month 2 (the shortfall only grows by the tax on the mining
    income). Its coupons are interest: each month's
    interest accrued is exactly the coupon paid (the 2027-03 bullet carries no coupon), and
    taxable income = EBITDA - that interest (no depreciation: the fleet's basis is 0). The
    audit recomputes the taxes from the instance and decisions alone; had the model left the
    coupons out of taxable income, its taxes would be higher than the audit's and the audit,
    which every solve runs, would fail."""
    data = bridged(taxes={"rate_pct": 25.0})
    data["finance"]["notes_programs"][0]["tenor_months"] = 24  # a 6-month note cannot be repaid after tax
    outcome = solve_audited(data)
    cashflow = outcome.result.cashflow_monthly
    coupons = column(cashflow, "notes_coupons_usd")
    assert min(coupons) < -1.0, "the plan issues a note, so it pays coupons"
    assert column(cashflow, "interest_accrued_usd") == pytest.approx([-c for c in coupons], abs=1e-6)
    ebitda, taxable = column(cashflow, "ebitda_usd"), column(cashflow, "taxable_income_usd")
    assert taxable == pytest.approx([e + c for e, c in zip(ebitda, coupons, strict=True)], abs=1e-6)
    assert outcome.result.plan.kpis[0].taxes_paid_usd > 0.0
