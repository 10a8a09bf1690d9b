"""Issue 14, items 6 and 7: EBITDA, taxes with losses carried forward, the tax on the
terminal value, depreciation of AI capex and miners, and the DSCR covenant.

Expected values are derived by hand in the comments (or by brute force over the signing
month); every solve also runs the independent audit, which must agree.
"""

from __future__ import annotations

import pytest

from tests.helpers import (
    best_distribution_npv,
    discount_factors,
    flows_in_horizon,
    make_instance,
    make_phase,
    month_days,
    phase_cash_by_age,
    value_after_horizon,
)

START = "2027-01"
RENT = 10.0 * 1000 * 150.0  # 10 MW of IT at $150/kW-month: $1.5M a month
CAPEX = 10.0 * 1_000_000.0  # $10M, paid over the 2-month lead


def solve_audited(data):
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.pipeline import solve_instance

    outcome = solve_instance(validate_instance_data(data))
    assert outcome.result.plan.audit.passed, outcome.result.plan.audit.messages
    return outcome


def loss_then_profit(rate_pct: float = 10.0, tax_pct: float | None = 25.0, **phase):
    """One 10 MW phase, lead 2, capex $10M depreciated over 4 months from rent start, 12 months."""
    finance = {"taxes": {"rate_pct": tax_pct}} if tax_pct is not None else {}
    spec = {"lead_time_months": 2, "tax_life_months": 4, **phase}
    return make_instance(start=START, horizon=12, rate_pct=rate_pct, phases=[make_phase(**spec)],
                         finance=finance)


def signing_index(plan) -> int:
    label = plan.decisions.signings[0].signing_month
    return int(label[5:]) - 1  # 2027-MM


def test_a_loss_is_carried_forward_and_no_tax_is_paid_until_it_is_used_up():
    """Signed in month 0 (rent from month 2: the earliest is worth most). Taxable income =
    rent - depreciation ($10M / 4 = $2.5M in months 2..5); capex itself is not deductible:
      months 0-1: 0;  2-5: 1.5 - 2.5 = -1.0 each (cumulative -4.0);  6..11: +1.5 each.
    Cumulative: 0, 0, -1, -2, -3, -4, -2.5, -1.0, 0.5, 2.0, 3.5, 5.0 ($M). The running max
    (not below 0) is 0 through month 7, then 0.5, 2.0, 3.5, 5.0: at 25 % the tax paid is 0
    through month 7 (the two profit months 6 and 7 only use up the loss), $0.125M in month 8
    (the part of 1.5 left after the last $1.0M of loss), then $0.375M (25 % of 1.5) a month.
    """
    outcome = solve_audited(loss_then_profit())
    plan, cash = outcome.result.plan, outcome.result.cashflow_monthly
    assert signing_index(plan) == 0
    assert list(cash["depreciation_usd"]) == pytest.approx([0, 0] + [2.5e6] * 4 + [0] * 6, abs=0.01)
    assert list(cash["taxable_income_usd"]) == pytest.approx([0, 0] + [-1e6] * 4 + [1.5e6] * 6, abs=0.01)
    assert list(cash["taxes_usd"]) == pytest.approx(
        [0] * 8 + [-125_000.0, -375_000.0, -375_000.0, -375_000.0], abs=0.01)
    assert plan.kpis[0].taxes_paid_usd == pytest.approx(125_000.0 + 3 * 375_000.0, abs=0.01)


def test_npv_with_taxes_is_the_best_payout_of_the_after_tax_flows_and_the_taxed_terminal_value():
    """Same plan. The monthly flows are the phase's cash less the taxes above; the terminal
    value holds the rent after the horizon (110 months of $1.5M, months 12..121) less 25 %
    of its PV (no depreciation is left after month 5). The NPV is the best payout of those
    flows (helpers.best_distribution_npv) + 75 % of the rent after the horizon."""
    dfs = discount_factors(10.0, 12 + 130)
    by_age = phase_cash_by_age(make_phase(lead_time_months=2))
    taxes = [0.0] * 8 + [125_000.0, 375_000.0, 375_000.0, 375_000.0]
    flows = [f - tax for f, tax in zip(flows_in_horizon(by_age, 0, 12), taxes, strict=True)]
    expected = (best_distribution_npv(100e6, 0.0, flows, dfs[:12])
                + 0.75 * value_after_horizon(by_age, 0, 12, dfs))
    plan = solve_audited(loss_then_profit()).result.plan
    assert plan.npv_usd == pytest.approx(expected, rel=1e-9)
    untaxed = solve_audited(loss_then_profit(tax_pct=None)).result.plan
    assert untaxed.npv_usd == pytest.approx(
        best_distribution_npv(100e6, 0.0, flows_in_horizon(by_age, 0, 12), dfs[:12])
        + value_after_horizon(by_age, 0, 12, dfs), rel=1e-9)


def test_no_tax_is_paid_early_even_when_paying_early_costs_nothing():
    """At a 0 % discount rate paying a tax early costs the plan nothing (the cash is kept to
    the end either way), so only the running-max rows and their tie-break decide the
    timing: it must still be exactly rate x the increase of max(0, running max of the
    cumulative taxable income), whatever month the phase is signed in (by hand, from s:
    income -1.0 in months s+2..s+5, +1.5 from s+6; the loss of 4.0 is used up after 2 2/3
    profit months)."""
    outcome = solve_audited(loss_then_profit(rate_pct=0.0))
    cash = outcome.result.cashflow_monthly
    s = signing_index(outcome.result.plan)
    income = [0.0] * 12
    for t in range(12):
        if s + 2 <= t <= s + 5:
            income[t] = -1e6
        elif t >= s + 6:
            income[t] = 1.5e6
    expected, cumulative, base = [], 0.0, 0.0
    for x in income:
        cumulative += x
        expected.append(-0.25 * (max(base, cumulative) - base))
        base = max(base, cumulative)
    assert list(cash["taxable_income_usd"]) == pytest.approx(income, abs=0.01)
    assert list(cash["taxes_usd"]) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(("term", "tax_life", "taxed"), [(120, 60, True), (12, 120, False)])
def test_terminal_value_taxes_the_rent_after_the_horizon_net_of_the_depreciation_left(term, tax_life, taxed):
    """Signed in month s, rent runs in months s+2..s+term+1, so R = sum_{j=1..s+term-10}
    $1.5M x 1.1^(-j/12) falls after the horizon (seen from its end). Depreciation of $10M
    over ``tax_life`` months from s+2 leaves D = sum_{j=1..s+life-10} 1e7 / life x
    1.1^(-j/12) after it. Terminal value = cash + R - 25 % x max(0, R - D). A 10-year lease
    with a 5-year life: R ~ $129M, D ~ $7M, taxed. A 1-year lease with a 10-year life:
    R = a few months ~ $3-6M, D = ~110 months of $83k ~ $7M: the tax is 0, not negative
    (unused deductions are worth nothing; the plan may even sign later to push rent into it)."""
    outcome = solve_audited(loss_then_profit(tax_life_months=tax_life, term_months=term))
    plan, cash = outcome.result.plan, outcome.result.cashflow_monthly
    s = signing_index(plan)
    rent = sum(RENT * 1.1 ** (-j / 12) for j in range(1, s + term - 10 + 1))
    shield = sum(CAPEX / tax_life * 1.1 ** (-j / 12) for j in range(1, s + tax_life - 10 + 1))
    tax = 0.25 * max(0.0, rent - shield)
    assert (tax > 0.0) == taxed
    final_cash = float(cash["cash_end_usd"].iloc[-1])
    assert plan.kpis[0].terminal_value_usd == pytest.approx(final_cash + rent - tax, abs=1.0)


def test_mined_btc_counts_as_income_at_the_months_price_and_miners_depreciate_from_delivery():
    """A 10 J/TH generation at $2/TH ($200k per MW), lead 2, on 10 MW of halls, taxes at
    20 %, tax life 3 months, and a starting basis of $30k depreciated over those 3 months
    ($10k a month in months 0-2). EBITDA of a month = MW running x days x (100,000 TH/s x
    $0.0405 - 1.05 x 24 x $40) (BTC at $90,000 counted when mined, though it is held, not
    sold); depreciation = starting basis + each order's $200k x MW / 3 in its 3 months from
    delivery. The lines are checked against that arithmetic on the plan's own orders."""
    T = 8
    data = make_instance(
        start=START, horizon=T,
        site={"mining_infrastructure_mw": 10.0,
              "energization": [{"from_month": START, "contracted_mw": 12.0}]},
        fleet=[{"id": "s23", "installed_mw": 0.0, "efficiency_j_per_th": 10.0, "tax_life_months": 3,
                "starting_tax_basis_usd": 30_000.0,
                "purchase": {"price_usd_per_th": 2.0, "delivery_lead_months": 2, "max_mw_per_month": 4.0}}],
        finance={"taxes": {"rate_pct": 20.0}, "btc_treasury_sellable": True},
    )
    outcome = solve_audited(data)
    plan, cash = outcome.result.plan, outcome.result.cashflow_monthly
    ordered = next(f for f in plan.decisions.fleet if f.generation == "s23").ordered_mw
    running = plan.decisions.mining[0].running_mw
    assert sum(ordered) > 0
    days = month_days(START, T)
    ebitda = [running[t] * days[t] * (100_000 * 90_000.0 * 144 * 3.125 / 1e9 - 1.05 * 24 * 40.0)
              for t in range(T)]
    depreciation = [10_000.0 if t < 3 else 0.0 for t in range(T)]
    for u, mw in enumerate(ordered):
        for t in range(u + 2, min(u + 5, T)):
            depreciation[t] += mw * 200_000.0 / 3
    assert list(cash["ebitda_usd"]) == pytest.approx(ebitda, abs=1.0)
    assert list(cash["depreciation_usd"]) == pytest.approx(depreciation, abs=1.0)
    assert list(cash["taxable_income_usd"]) == pytest.approx(
        [e - d for e, d in zip(ebitda, depreciation, strict=True)], abs=1.0)


def test_old_plans_are_unchanged_with_taxes_absent_or_at_zero():
    """Neutral defaults: rate 0 adds no rows and no columns; the NPV equals the untaxed one."""
    none = solve_audited(loss_then_profit(tax_pct=None))
    zero = solve_audited(loss_then_profit(tax_pct=0.0))
    assert zero.result.plan.npv_usd == none.result.plan.npv_usd
    assert list(zero.result.cashflow_monthly.columns) == list(none.result.cashflow_monthly.columns)
    assert "taxes_usd" not in none.result.cashflow_monthly.columns


@pytest.mark.parametrize(("change", "where"), [
    (lambda d: d["finance"].update(taxes={"rate_pct": 150.0}), "finance.taxes.rate_pct"),
    (lambda d: d["finance"].update(taxes={"rate_pct": -1.0}), "finance.taxes.rate_pct"),
    (lambda d: d["finance"].update(covenant={"min_dscr": 0.0, "from_month": START}),
     "finance.covenant.min_dscr"),
    (lambda d: d["finance"].update(covenant={"min_dscr": 1.2, "from_month": "2031-01"}),
     "finance.covenant.from_month"),
    (lambda d: d["finance"].update(covenant={"min_dscr": 1.2}), "finance.covenant.from_month"),
    (lambda d: d["sites"][0]["ai_phases"][0].update(tax_life_months=0), "tax_life_months"),
    (lambda d: d["fleet"].append({"id": "s19", "installed_mw": 1.0, "efficiency_j_per_th": 20.0,
                                  "tax_life_months": 0}), "fleet[s19].tax_life_months"),
    (lambda d: d["fleet"].append({"id": "s19", "installed_mw": 1.0, "efficiency_j_per_th": 20.0,
                                  "starting_tax_basis_usd": -5.0}), "fleet[s19].starting_tax_basis_usd"),
])
def test_bad_tax_and_covenant_fields_exit_2_naming_the_field(tmp_path, change, where):
    import yaml
    from typer.testing import CliRunner

    from capalloc.optimizer.cli import app

    data = loss_then_profit()
    change(data)
    file = tmp_path / "inst.yaml"
    file.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["solve", str(file), "-o", str(out), "-q"])
    text = " ".join((result.output + (result.stderr or "")).split())
    assert result.exit_code == 2, text
    assert where in text and "Traceback" not in text
    assert not out.exists()


def test_project_debt_interest_is_deducted_and_its_amortization_is_debt_service():
    """Project debt at 60 % of cost and 12 %/yr: $5M of capex at the end of months 0 and 1
    draws $3M each; interest is 1 % of the balance at the start of the month: $0 in month 0,
    $30,000 in month 1, $60,000 in month 2 (the first rent month, which also starts the
    level payments). Taxable income = EBITDA (rent) - that interest - depreciation."""
    data = loss_then_profit()
    data["finance"]["project_debt"] = {"loan_to_cost_pct": 60.0, "rate_pct_per_year": 12.0,
                                       "amortization_months": 24}
    outcome = solve_audited(data)
    cash = outcome.result.cashflow_monthly
    assert signing_index(outcome.result.plan) == 0
    assert list(cash["interest_accrued_usd"])[:3] == pytest.approx([0.0, 30_000.0, 60_000.0], abs=0.01)
    assert list(cash["interest_accrued_usd"]) == pytest.approx(
        list(-cash["project_debt_interest_usd"]), abs=0.01)
    assert list(cash["scheduled_amortization_usd"]) == pytest.approx(
        list(-cash["project_debt_principal_usd"]), abs=0.01)
    assert list(cash["taxable_income_usd"]) == pytest.approx(
        list(cash["ebitda_usd"] - cash["interest_accrued_usd"] - cash["depreciation_usd"]), abs=0.02)
    assert cash["taxable_income_usd"].iloc[2] == pytest.approx(RENT - 60_000.0 - 2.5e6, abs=0.01)


def test_without_taxes_or_a_covenant_the_model_has_no_income_rows():
    """Neutral defaults add nothing to the model: the golden examples keep their structure."""
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.formulation.builder import build_model

    plain = build_model(validate_instance_data(loss_then_profit(tax_pct=None))).model
    taxed = build_model(validate_instance_data(loss_then_profit())).model
    for name in ("ebitda", "tax_base", "taxable_income", "terminal_tax_covers", "dscr_covenant"):
        assert not hasattr(plain, name)
    assert hasattr(taxed, "tax_base") and hasattr(taxed, "ebitda") and not hasattr(taxed, "dscr_covenant")
