"""Scenario trees (issue 15): the option value of waiting, non-anticipativity in the audit,
a lead-time slip, CVaR, VSS and EVPI, each against numbers derived here by hand or by brute
force over the only discrete decision (the signing month per scenario), never against what
the optimizer printed.

The instance (tree_instance) is built so that every plan's NPV has a closed form:
- one site, 10 MW of ASICs at 20 J/TH (50 PH/s per MW), power free, uptime 100 %, no opex,
  so a month's mining is worth MW x 50 x hashprice x days and BTC is sold as mined;
- hashprice $0 before the branching month b = 2026-05 (month 4); from b on $12/PH/day in
  the bull branch, $0 in the bear branch (probability 1/2 each);
- one retrofit phase of 5 MW (PUE 1, so it displaces 5 MW of mining from its signing
  month), capex $1M paid in the signing month, lead 7 months, so it can be signed in months
  0..4 only (DESIGN: s + L <= T - 1); three months of rent at $100/kW-month ($0.5M) all
  prepaid in the signing month ($1.5M): signing brings DF(s) x $0.5M and costs the mining
  of 5 MW from s on;
- $1M of starting cash, no floor, 12 %/year: with no need for cash, every dollar is paid
  out in the month it arrives (DF falls), so NPV_w(s) = DF(0) x 1M + sum_t DF(t) x mining
  + [signed] DF(s) x 0.5M.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from capalloc.models import load_instance
from capalloc.optimizer.checks.audit import audit_plan
from capalloc.optimizer.pipeline import solve_instance
from capalloc.optimizer.scenario_tree import risk
from capalloc.optimizer.scenario_tree.decisions import scenario_plan
from capalloc.optimizer.scenario_tree.summary import decided_at, signing_decisions
from tests.helpers import discount_factors, month_days, month_label

START, T, B = "2026-01", 12, 4
RATE = 12.0
CASH = 1_000_000.0
NET_SIGNING = 1_500_000.0 - 1_000_000.0  # prepaid rent - capex, both at the end of the signing month
HASHPRICE = {"bull": [0.0] * B + [12.0] * (T - B), "bear": [0.0] * T}
P = {"bull": 0.5, "bear": 0.5}
DAYS = month_days(START, T)
DF = discount_factors(RATE, T)
SIGNABLE = range(0, T - 1 - 7 + 1)  # s + lead 7 <= T - 1


def tree_data(**extra) -> dict:
    phase = {"id": "p1", "critical_it_mw": 5.0, "pue": 1.0, "capex_usd_per_mw_it": 200_000.0,
             "spend_profile": [1.0], "lead_time_months": 7, "lease_usd_per_kw_month": 100.0,
             "term_months": 3, "prepayment_months": 3, "conversion": "retrofit"}
    scenarios = [
        {"name": w, "probability": P[w], "tree_path": [w], "btc_price_usd": 100_000.0,
         "network_hashrate_ehs": 1000.0, "fees_btc_per_block": 0.0,
         "hashprice_usd_per_ph_day": {"csv": "hashprice.csv", "column": w}}
        for w in ("bull", "bear")
    ]
    data = {
        "name": "tree_option", "start": START, "horizon_months": T, "discount_rate_pct_per_year": RATE,
        "sites": [{"id": "alpha", "energization": [{"from_month": START, "contracted_mw": 10.0}],
                   "power_price_usd_per_mwh": 0.0, "mining_infrastructure_mw": 10.0, "uptime_pct": 100.0,
                   "mining_pue": 1.0, "ai_phases": [phase]}],
        "fleet": [{"id": "g20", "installed_mw": 10.0, "efficiency_j_per_th": 20.0,
                   "sites_at_start": {"alpha": 10.0}}],
        "market": {"halvings": [], "branching_months": [month_label(START, B)], "scenarios": scenarios},
        "finance": {"starting_cash_usd": CASH, "minimum_cash_usd": 0.0},
        "solver": {"mip_rel_gap": 0.0, "threads": 1, "random_seed": 0, "time_limit_seconds": 60.0},
    }
    data.update(extra)
    return data


def write(folder: Path, data: dict) -> Path:
    rows = ["month,bull,bear"] + [f"{month_label(START, t)},{HASHPRICE['bull'][t]},{HASHPRICE['bear'][t]}"
                                  for t in range(T)]
    (folder / "hashprice.csv").write_text("\n".join(rows) + "\n")
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def flat_data() -> dict:
    data = tree_data(name="flat_option")
    data["market"]["branching_months"] = []
    for s in data["market"]["scenarios"]:
        s["tree_path"] = []
    return data


def npv(hashprice: list[float], s: int | None) -> float:
    """NPV of a scenario whose hashprice path is ``hashprice`` when the phase is signed in s."""
    mining = sum(DF[t] * (10.0 - (5.0 if s is not None and t >= s else 0.0)) * 50.0 * hashprice[t] * DAYS[t]
                 for t in range(T))
    return DF[0] * CASH + mining + (DF[s] * NET_SIGNING if s is not None else 0.0)


CHOICES = [None, *SIGNABLE]


def expected(values: dict[str, float]) -> float:
    return sum(P[w] * values[w] for w in P)


def flat_optimum() -> float:
    """Every signing common to both scenarios in every month."""
    return max(expected({w: npv(HASHPRICE[w], s) for w in P}) for s in CHOICES)


def tree_optimum(objective=expected) -> float:
    """Sign at a root month s < b in both scenarios, or decide at b in each branch."""
    root = [objective({w: npv(HASHPRICE[w], s) for w in P}) for s in CHOICES if s is None or s < B]
    waits = [objective({"bull": npv(HASHPRICE["bull"], a), "bear": npv(HASHPRICE["bear"], b)})
             for a in (None, B) for b in (None, B)]
    return max(root + waits)


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tree")
    tree = load_instance(write(folder, tree_data()))
    flat = load_instance(write(folder, flat_data()))
    return tree, solve_instance(tree).result.plan, flat, solve_instance(flat).result.plan


def test_waiting_to_the_branch_is_worth_the_hand_computed_option_value(solved):
    tree, plan, _, flat_plan = solved
    # By hand: flat, the phase is signed in month 0 in both scenarios (the bull branch then
    # loses 5 MW x 50 x $12 x days of mining from b on, less than the $0.5M it brings on
    # average) or never; in the tree the bear branch signs at b, where it loses nothing, and
    # the bull branch never signs. The brute force over every signing month says which.
    assert flat_optimum() == pytest.approx(expected({w: npv(HASHPRICE[w], 0) for w in P}), abs=1e-6)
    wait = expected({"bull": npv(HASHPRICE["bull"], None), "bear": npv(HASHPRICE["bear"], B)})
    assert tree_optimum() == pytest.approx(wait, abs=1e-6)
    option_value = 0.5 * DF[B] * NET_SIGNING - (flat_optimum() - expected(
        {w: npv(HASHPRICE[w], None) for w in P}))
    assert option_value > 10_000  # the instance is built so that waiting pays
    assert flat_plan.npv_usd == pytest.approx(flat_optimum(), abs=1.0)
    assert plan.npv_usd == pytest.approx(wait, abs=1.0)
    assert plan.npv_usd - flat_plan.npv_usd == pytest.approx(option_value, abs=2.0)
    # The signing holds in the bear branch only, at the branching month.
    assert [(s.signing_month, s.scenarios) for s in plan.decisions.signings] == [
        (month_label(START, B), ["bear"])]
    assert [(s.signing_month, s.scenarios) for s in flat_plan.decisions.signings] == [(START, None)]
    assert plan.audit is not None and plan.audit.passed, plan.audit.messages
    (signing, scenarios, starts), = signing_decisions(plan)
    assert decided_at(plan, signing.signing_month, scenarios) == "branch bear"
    assert {k.scenario: k.npv_usd for k in plan.kpis} == pytest.approx(
        {"bull": npv(HASHPRICE["bull"], None), "bear": npv(HASHPRICE["bear"], B)}, abs=1.0)


def test_vss_and_evpi_by_their_definitions(solved):
    _, plan, _, _ = solved
    info = plan.tree.value_of_information
    # Wait-and-see: each scenario signs when it would knowing its path (bear: month 0).
    ws = expected({w: max(npv(HASHPRICE[w], s) for s in CHOICES) for w in P})
    # Expected-value instance: hashprice 0 then $6; its best signing month, by brute force.
    mean = [0.5 * (a + b) for a, b in zip(HASHPRICE["bull"], HASHPRICE["bear"], strict=True)]
    ev_month = max(CHOICES, key=lambda s: npv(mean, s))
    assert ev_month is not None and ev_month < B  # a root decision, fixed in the tree for EEV
    eev = expected({w: npv(HASHPRICE[w], ev_month) for w in P})
    assert info.wait_and_see_usd == pytest.approx(ws, abs=2.0)
    assert info.evpi_usd == pytest.approx(ws - tree_optimum(), abs=2.0)
    assert info.expected_value_solution_usd == pytest.approx(eev, abs=2.0)
    assert info.vss_usd == pytest.approx(tree_optimum() - eev, abs=2.0)
    assert info.vss_usd > 0 and info.evpi_usd > 0


def test_cvar_is_the_mean_of_the_worst_outcomes_by_a_sort():
    # Four outcomes; the worst 30 % of probability: all of -5 (p 0.1) and 0.2 of 1 (p 0.4).
    assert risk.cvar([3.0, -5.0, 1.0, 10.0], [0.2, 0.1, 0.4, 0.3], 0.7) == pytest.approx(
        (0.1 * -5.0 + 0.2 * 1.0) / 0.3)
    # Rockafellar-Uryasev: max over eta of eta - E[(eta - X)+] / (1 - alpha), attained at an outcome.
    values, probabilities = [3.0, -5.0, 1.0, 10.0, 7.5], [0.15, 0.1, 0.35, 0.3, 0.1]
    for alpha in (0.1, 0.5, 0.8, 0.95):
        ru = max(eta - sum(p * max(eta - x, 0.0) for x, p in zip(values, probabilities, strict=True))
                 / (1 - alpha) for eta in values)
        assert risk.cvar(values, probabilities, alpha) == pytest.approx(ru)


def test_a_cvar_objective_maximizes_the_worst_outcome(tmp_path, solved):
    # alpha 0.5 of two equally likely scenarios: CVaR is the worse NPV; weight 1: the plan
    # maximizes it. Brute force over the same policies as the tree optimum.
    instance = load_instance(write(tmp_path, tree_data(name="tree_cvar",
                                                       risk={"cvar_weight": 1.0, "cvar_alpha": 0.5})))
    plan = solve_instance(instance).result.plan
    worst = tree_optimum(objective=lambda v: min(v.values()))
    npvs = [k.npv_usd for k in plan.kpis]
    assert plan.tree.cvar_usd == pytest.approx(min(npvs), abs=1e-6)
    assert plan.tree.objective_usd == pytest.approx(worst, abs=2.0)
    assert plan.audit.passed, plan.audit.messages


def test_the_audit_catches_a_decision_that_differs_in_shared_history(solved):
    tree, plan, _, _ = solved
    assert not [v for v in audit_plan(tree, plan).violations if v.rule == "nonanticipativity"]
    # Move the bear branch's signing before the branching month: the bull branch does not sign.
    early = plan.model_copy(deep=True)
    early.decisions.signings[0].signing_month = month_label(START, 1)
    found = [v for v in audit_plan(tree, early).violations if v.rule == "nonanticipativity"]
    assert [(v.item, v.month) for v in found] == [("p1", month_label(START, 1))]
    # Pay a different distribution in a root month in one scenario.
    paid = plan.model_copy(deep=True)
    bull = next(f for f in paid.decisions.finance if f.scenario == "bull")
    bull.distributions_usd[2] += 1000.0
    found = [v for v in audit_plan(tree, paid).violations if v.rule == "nonanticipativity"]
    assert [(v.scenario, v.month) for v in found] == [("bear", month_label(START, 2))]
    assert not audit_plan(tree, paid).verdict(1e-6).passed


def test_each_scenario_plan_audits_alone_under_its_instance(solved):
    tree, plan, _, _ = solved
    from capalloc.optimizer.scenario_tree.split import scenario_instance

    for w in P:
        sub = scenario_plan(plan, w)
        report = audit_plan(scenario_instance(tree, w), sub)
        assert not report.violations and report.npv_usd == pytest.approx(sub.npv_usd, abs=1.0)


def test_a_lead_time_slip_delays_rent_and_amortization_in_its_scenario_only(tmp_path):
    # A greenfield 1 MW phase, $3M capex over the nominal 3-month lead ($1M a month from the
    # signing month), $200/kW-month ($200k a month) for 24 months, 50 % project debt at 12 %
    # amortized over 24 months from rent start. 'slip' takes 5 months to build: its capex is
    # the same, its rent and its amortization start two months later.
    phase = {"id": "p1", "critical_it_mw": 1.0, "pue": 1.0, "capex_usd_per_mw_it": 3_000_000.0,
             "lead_time_months": 3, "lead_time_months_by_scenario": {"slip": 5},
             "lease_usd_per_kw_month": 200.0, "term_months": 24, "conversion": "greenfield"}
    data = tree_data(name="slip")
    data["sites"][0].update({"ai_phases": [phase], "mining_infrastructure_mw": 0.0})
    data["fleet"] = []
    data["market"] = {"halvings": [], "scenarios": [
        {"name": w, "probability": 0.5, "btc_price_usd": 100_000.0, "network_hashrate_ehs": 1000.0}
        for w in ("on_time", "slip")]}
    data["finance"]["project_debt"] = {"loan_to_cost_pct": 50.0, "rate_pct_per_year": 12.0,
                                       "amortization_months": 24}
    data["finance"]["starting_cash_usd"] = 10e6
    instance = load_instance(write(tmp_path, data))
    result = solve_instance(instance).result
    plan = result.plan
    assert plan.audit.passed, plan.audit.messages
    (signing_on_time, signing_slip) = sorted(plan.decisions.signings, key=lambda s: s.rent_start_month)
    s = plan.months.index(signing_on_time.signing_month)
    assert signing_slip.signing_month == signing_on_time.signing_month  # one decision, common
    assert (signing_on_time.scenarios, signing_slip.scenarios) == (["on_time"], ["slip"])
    # One decision, two rent starts: signed now, in every scenario.
    assert [(x.phase, held, starts) for x, held, starts in signing_decisions(plan)] == [
        ("p1", None, [month_label(START, s + 3), month_label(START, s + 5)])]
    assert decided_at(plan, signing_on_time.signing_month, None) == "now (root)"
    assert signing_on_time.rent_start_month == month_label(START, s + 3)
    assert signing_slip.rent_start_month == month_label(START, s + 5)
    flows = result.cashflow_monthly
    payment = 1.5e6 * 0.01 / (1 - 1.01 ** -24)  # annuity of the $1.5M drawn, 1 % a month
    for w, lead in (("on_time", 3), ("slip", 5)):
        lines = flows[flows["scenario"] == w].reset_index(drop=True)
        rent = [200_000.0 if s + lead <= t < s + lead + 24 else 0.0 for t in range(T)]
        capex = [-1_000_000.0 if s <= t < s + 3 else 0.0 for t in range(T)]
        assert list(lines["ai_rent_usd"]) == pytest.approx(rent, abs=0.01)
        assert list(lines["ai_capex_usd"]) == pytest.approx(capex, abs=0.01)
        service = -(lines["project_debt_interest_usd"] + lines["project_debt_principal_usd"])
        # Interest only on the balance drawn by the month's start ($0.5M a capex month) until
        # rent start (on time: $1.0M x 1 %; slip: the whole $1.5M x 1 %), then the level payment.
        assert service[s + lead] == pytest.approx(payment, abs=0.01)
        assert service[s + lead - 1] == pytest.approx(0.5e6 * min(lead - 1, 3) * 0.01, abs=0.01)
        assert lines["project_debt_principal_usd"][s + lead - 1] == 0.0


def test_a_flat_plan_without_tree_fields_writes_no_tree_keys(tmp_path):
    data = flat_data()
    data["sites"][0]["ai_phases"] = []
    instance = load_instance(write(tmp_path, data))
    plan = solve_instance(instance).result.plan
    dumped = json.loads(plan.model_dump_json())
    assert "tree" not in dumped and "equity_issued_by_scenario_usd" not in dumped["decisions"]
    assert plan.tree is None


def test_every_decision_of_shared_history_is_linked(tmp_path):
    # The map is found from the variables: with equity issuance offered (a Var indexed by
    # month alone) every link of a month before b has a variable on both sides, and the
    # variables of months before b are exactly those linked (one scenario against the other).
    import pyomo.core as pyo

    from capalloc.optimizer.scenario_tree.extensive import build_extensive_form, link_sides

    data = tree_data(name="tree_equity")
    data["finance"]["equity_issuance"] = {"discount_pct": 10.0}
    tree = build_extensive_form(load_instance(write(tmp_path, data)))
    sides = [link_sides(tree.blocks, link) for link in tree.links]
    assert all(a is not None and b is not None for a, b in sides)
    assert {link.month for link in tree.links} == set(range(B))
    bear = tree.blocks["bear"].model

    def before_b(key) -> bool:
        return any(isinstance(x, int) and x < B for x in (key if isinstance(key, tuple) else (key,)))

    early = [v for c in bear.component_objects(pyo.Var) if c.local_name != "signed_in_year"
             for k, v in c.items() if before_b(k)]
    assert len(early) == len(tree.links)
    assert {link.component for link in tree.links} >= {"equity_issued", "signed_by", "distribution", "cash"}


def test_no_vss_skips_the_value_of_information_and_keeps_the_plan(tmp_path):
    """`--no-vss` writes the same tree plan (its objective is the hand-computed optimum) with
    no VSS or EVPI: plan.json's tree.value_of_information is null, the summary says nothing of them."""
    from typer.testing import CliRunner

    from capalloc.optimizer.cli import app

    path = write(tmp_path, tree_data())
    result = CliRunner().invoke(app, ["solve", str(path), "-o", str(tmp_path / "plan"), "-q", "--no-vss"])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert written["tree"]["value_of_information"] is None
    assert written["tree"]["objective_usd"] == pytest.approx(tree_optimum(), abs=0.01)
    assert "VSS" not in result.output and "EVPI" not in result.output
    with_vss = CliRunner().invoke(app, ["solve", str(path), "-o", str(tmp_path / "full"), "--quiet"])
    assert "VSS" in with_vss.output  # the check above can fail: the summary does print it by default
