"""Commitments (models.commitments, optimizer.formulation.commitments): validation naming the
field, the meaning of each signing rule against a brute force over the signing month, sizes
pinned, the audit catching a plan that breaks one, and Pyomo-fixed variables through the
whole solve pipeline (they crashed run_highs with a KeyError before)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from capalloc.models import load_instance, validate_instance_data
from capalloc.models.loader import InstanceError, read_instance_data
from capalloc.optimizer.checks.audit import audit_plan
from capalloc.optimizer.checks.testing import solve_for_test

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny.yaml"


def tiny_data(commitments: dict | None = None) -> dict:
    data = read_instance_data(TINY)
    if commitments is not None:
        data["commitments"] = commitments
    return data


def problems_of(data: dict) -> list[str]:
    with pytest.raises(InstanceError) as caught:
        validate_instance_data(data, base_dir=TINY.parent)
    return [str(p) for p in caught.value.problems]


def signed_month(plan) -> str | None:
    return next((s.signing_month for s in plan.decisions.signings), None)


# ------------------------------------------------------------------ validation (exit 2 paths)

@pytest.mark.parametrize(("commitments", "path", "words"), [
    ({"signings": [{"site": "beta", "phase": "hall1", "in_month": "2026-09"}]},
     "commitments.signings[0].site", "unknown site 'beta'"),
    ({"signings": [{"site": "alpha", "phase": "hall9", "in_month": "2026-09"}]},
     "commitments.signings[0].phase", "unknown phase 'hall9'"),
    ({"fleet_orders": [{"generation": "s21", "month": "2026-09", "mw": 5.0}]},
     "commitments.fleet_orders[0].generation", "unknown generation 's21'"),
    ({"fleet_orders": [{"generation": "s19xp", "month": "2026-09", "mw": 5.0}]},
     "commitments.fleet_orders[0].generation", "cannot be ordered"),
    ({"notes_issued": [{"program": "senior", "month": "2026-09", "usd": 1e6}]},
     "commitments.notes_issued[0].program", "unknown notes program 'senior'"),
    ({"equity_issued": [{"month": "2026-09", "usd": 1e6}]},
     "commitments.equity_issued[0]", "not offered"),
    # tiny runs 2026-07..2029-06: a month before or after it is outside the horizon
    ({"signings": [{"site": "alpha", "phase": "hall1", "not_before_month": "2030-01"}]},
     "commitments.signings[0].not_before_month", "outside the horizon"),
    # lead 12 of 36 months: the last signing month with rent inside the horizon is t = 23, 2028-06
    ({"signings": [{"site": "alpha", "phase": "hall1", "in_month": "2028-07"}]},
     "commitments.signings[0].in_month", "signing window is 2026-07 to 2028-06"),
    ({"signings": [{"site": "alpha", "phase": "hall1", "in_month": "2027-01", "never": True}]},
     "commitments.signings[0]", "contradicts in_month"),
    ({"signings": [{"site": "alpha", "phase": "hall1", "by_month": "2027-01",
                    "not_before_month": "2027-06"}]},
     "commitments.signings[0].by_month", "before not_before_month"),
    ({"signings": [{"site": "alpha", "phase": "hall1", "never": True},
                   {"site": "alpha", "phase": "hall1", "in_month": "2027-01"}]},
     "commitments.signings[1]", "committed twice"),
    ({"signings": [{"site": "alpha", "phase": "hall1"}]},
     "commitments.signings[0]", "say when"),
])
def test_a_bad_commitment_is_refused_naming_its_field(commitments, path, words):
    found = problems_of(tiny_data(commitments))
    assert any(p.startswith(path + ":") and words in p for p in found), found


def test_phases_committed_out_of_site_order_are_contradictory():
    data = tiny_data({"signings": [{"site": "alpha", "phase": "hall1", "never": True},
                                   {"site": "alpha", "phase": "hall2", "in_month": "2027-01"}]})
    second = copy.deepcopy(data["sites"][0]["ai_phases"][0])
    second["id"] = "hall2"
    second["conversion"] = "greenfield"
    data["sites"][0]["ai_phases"].append(second)
    found = problems_of(data)
    assert any(p.startswith("commitments.signings[1]:") and "alpha/hall1" in p and "never" in p
               for p in found), found


def test_a_later_phase_signed_while_unlisted_none_leaves_the_earlier_one_unsigned_is_contradictory():
    data = tiny_data({"signings": [{"site": "alpha", "phase": "hall2", "in_month": "2027-01"}],
                      "unlisted": "none"})
    second = copy.deepcopy(data["sites"][0]["ai_phases"][0])
    second.update(id="hall2", conversion="greenfield")
    data["sites"][0]["ai_phases"].append(second)
    found = problems_of(data)
    assert any(p.startswith("commitments.signings[0]:") and "alpha/hall1" in p and "never" in p
               for p in found), found


def test_signings_pinned_in_one_year_beyond_the_signing_cap_are_contradictory():
    data = read_instance_data(ROOT / "instances" / "cleanspark_2026_fixed_fleet.yaml")
    cap = data["signing_cap_mw_per_year"]
    # The first phases in file order (site order kept) until their IT exceeds the yearly cap,
    # all pinned to one month; each alone fits the cap.
    instance = validate_instance_data(data, base_dir=ROOT / "instances")
    sizes = {(s.id, p.id): p.critical_it_mw for s in instance.sites for p in s.ai_phases}
    pair, total = [], 0.0
    for key, mw in sizes.items():
        if total <= cap:
            pair.append(key)
            total += mw
    assert total > cap and all(mw <= cap for mw in sizes.values())
    data["commitments"] = {"signings": [{"site": s, "phase": p, "in_month": "2027-03"} for s, p in pair]}
    found = problems_of_file(data, ROOT / "instances")
    assert any(f"commitments.signings[{len(pair) - 1}].in_month:" in p and "signing_cap_mw_per_year" in p
               for p in found), found


def problems_of_file(data: dict, folder: Path) -> list[str]:
    with pytest.raises(InstanceError) as caught:
        validate_instance_data(data, base_dir=folder)
    return [str(p) for p in caught.value.problems]


def test_the_cli_refuses_an_unknown_phase_with_exit_2_and_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from capalloc.optimizer.cli import app

    data = yaml.safe_load(TINY.read_text())
    data["commitments"] = {"signings": [{"site": "alpha", "phase": "nope", "never": True}]}
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data))
    out = tmp_path / "plan"
    result = CliRunner().invoke(app, ["solve", str(file), "-o", str(out), "-q"])
    assert result.exit_code == 2
    assert "commitments.signings[0].phase" in result.output
    assert not out.exists()


def test_no_commitments_section_and_an_empty_one_give_the_same_plan():
    plain = solve_for_test(validate_instance_data(tiny_data(), base_dir=TINY.parent))
    empty = solve_for_test(validate_instance_data(tiny_data({}), base_dir=TINY.parent))
    assert plain.npv_usd == empty.npv_usd
    assert plain.decisions == empty.decisions


# ------------------------------------------------------------------ semantics by brute force

@pytest.fixture(scope="module")
def npv_by_signing_month() -> dict[str | None, float]:
    """tiny's NPV with hall1 signed in each month of its window (t = 0..23) or never: one
    solve per month, each with the signing pinned by in_month (or never)."""
    out: dict[str | None, float] = {}
    months = [f"{2026 + (6 + t) // 12}-{(6 + t) % 12 + 1:02d}" for t in range(24)]
    for month in [*months, None]:
        rule = {"never": True} if month is None else {"in_month": month}
        data = tiny_data({"signings": [{"site": "alpha", "phase": "hall1", **rule}]})
        plan = solve_for_test(validate_instance_data(data, base_dir=TINY.parent), mip_gap=0.0)
        assert signed_month(plan) == month
        out[month] = plan.npv_usd
    return out


@pytest.mark.parametrize(("rule", "allowed"), [
    ({"by_month": "2027-03"}, lambda m: m is not None and m <= "2027-03"),
    ({"not_before_month": "2027-09"}, lambda m: m is None or m >= "2027-09"),
    ({"not_before_month": "2027-02", "by_month": "2027-05"},
     lambda m: m is not None and "2027-02" <= m <= "2027-05"),
])
def test_a_signing_rule_gives_the_best_plan_among_the_months_it_allows(rule, allowed, npv_by_signing_month):
    data = tiny_data({"signings": [{"site": "alpha", "phase": "hall1", **rule}]})
    plan = solve_for_test(validate_instance_data(data, base_dir=TINY.parent), mip_gap=0.0)
    best = max(npv for month, npv in npv_by_signing_month.items() if allowed(month))
    assert allowed(signed_month(plan))
    assert plan.npv_usd == pytest.approx(best, rel=1e-9, abs=1.0)
    assert plan.audit.passed


def test_unlisted_none_signs_nothing_that_is_not_listed(npv_by_signing_month):
    plan = solve_for_test(validate_instance_data(tiny_data({"unlisted": "none"}), base_dir=TINY.parent),
                          mip_gap=0.0)
    assert plan.decisions.signings == []
    assert plan.npv_usd == pytest.approx(npv_by_signing_month[None], rel=1e-9, abs=1.0)


def test_fleet_orders_and_sales_are_pinned_in_size_and_month():
    data = read_instance_data(ROOT / "instances" / "cleanspark_2026.yaml")
    instance = validate_instance_data(data, base_dir=ROOT / "instances")
    buyable = next(g for g in instance.fleet if g.purchase is not None)
    sellable = next(g for g in instance.fleet if g.resale_usd_per_th is not None)
    lot = buyable.purchase.lot_mw or 1.0
    data["commitments"] = {
        "fleet_orders": [{"generation": buyable.id, "month": "2026-09", "mw": 2 * lot}],
        "fleet_sales": [{"generation": sellable.id, "month": "2026-08", "mw": 1.0}],
        "unlisted": "none",
    }
    committed = validate_instance_data(data, base_dir=ROOT / "instances")
    plan = solve_for_test(committed, mip_gap=0.01)
    fleet = {f.generation: f for f in plan.decisions.fleet}
    months = plan.months
    ordered = {months[t]: mw for t, mw in enumerate(fleet[buyable.id].ordered_mw) if mw}
    assert ordered == {"2026-09": pytest.approx(2 * lot)}
    sold = {(f.generation, months[t]): mw
            for f in plan.decisions.fleet for t, mw in enumerate(f.sold_mw) if mw}
    assert sold == {(sellable.id, "2026-08"): pytest.approx(1.0)}
    assert plan.decisions.signings == []
    assert plan.audit.passed


def test_the_audit_flags_a_plan_that_breaks_a_commitment():
    plan = solve_for_test(TINY)  # tiny's optimum signs hall1 in its first month, 2026-07
    assert signed_month(plan) == "2026-07"
    data = tiny_data({"signings": [{"site": "alpha", "phase": "hall1", "not_before_month": "2027-01"}],
                      "unlisted": "none"})
    report = audit_plan(validate_instance_data(data, base_dir=TINY.parent), plan)
    broken = [v for v in report.violations if v.rule == "commitment"]
    assert len(broken) == 1 and "not to be signed before 2027-01" in broken[0].message


# ------------------------------------------------------------------ Pyomo-fixed variables

def test_a_pyomo_fixed_signing_variable_solves_and_holds():
    """Fixing a 'signed by' binary with Pyomo's fix() raised KeyError in run_highs (the
    hand-off folded the fixed column away and the first plan looked it up). Fixed at 0 in
    month 3, hall1 must be signed no earlier than month 4, and the optimum must equal the
    one reached through a commitment of the same meaning (bounds, not fix())."""
    import pyomo.core as pyo

    from capalloc.optimizer.formulation import build_model
    from capalloc.optimizer.outputs.extract import extract_plan
    from capalloc.optimizer.solving.solve import SolveSettings, run_highs

    instance = load_instance(TINY)
    settings = SolveSettings.from_instance(instance, mip_gap=0.0)
    built = build_model(instance)
    built.model.signed_by["alpha", "hall1", 3].fix(0)
    run = run_highs(built, settings)
    z = [round(pyo.value(built.model.signed_by["alpha", "hall1", t])) for t in range(6)]
    assert z[:4] == [0, 0, 0, 0] and built.model.signed_by["alpha", "hall1", 3].fixed
    committed = tiny_data({"signings": [{"site": "alpha", "phase": "hall1", "not_before_month": "2026-11"}]})
    plan = solve_for_test(validate_instance_data(committed, base_dir=TINY.parent), mip_gap=0.0)
    assert run.objective_usd == pytest.approx(plan.solver.objective_usd, rel=1e-9)
    # ... and the rest of the pipeline: extraction, then the independent audit
    extracted = extract_plan(run, "").plan
    assert signed_month(extracted) == signed_month(plan) >= "2026-11"
    assert audit_plan(instance, extracted).verdict(1e-6).passed
