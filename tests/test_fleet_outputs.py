"""Issue 13's decisions reach every output: fleet_monthly.csv and the plan directory, the
solve summary, compare, sweep paths and sweep result rows."""

from __future__ import annotations

import copy
import io

import pandas as pd
import pytest
from rich.console import Console

from capalloc.models import validate_instance_data
from capalloc.optimizer.pipeline import solve_instance
from tests.helpers import make_instance

START = "2027-01"


def _data(price_usd_per_th: float) -> dict:
    """2 MW of halls, nothing owned; a 10 J/TH generation at the given price, lead 2."""
    return make_instance(
        start=START, horizon=8,
        site={"mining_infrastructure_mw": 2.0},
        fleet=[{"id": "s23", "installed_mw": 0.0, "efficiency_j_per_th": 10.0,
                "purchase": {"price_usd_per_th": price_usd_per_th, "delivery_lead_months": 2}}],
    )


@pytest.fixture(scope="module")
def cheap_and_dear():
    """At $1/TH ($100k per MW against ~$91k of margin a month) 2 MW are bought in month 0;
    at $10/TH ($1M per MW, 6 months of running at most ~$550k) nothing is."""
    return [solve_instance(validate_instance_data(_data(p))) for p in (1.0, 10.0)]


def test_fleet_monthly_csv_is_written_with_the_plan(cheap_and_dear, tmp_path):
    from capalloc.optimizer.outputs.plan_io import PLAN_FILES, write_plan_dir

    outcome = cheap_and_dear[0]
    target = write_plan_dir(outcome.result, tmp_path / "plan", {})
    assert "fleet_monthly.csv" in PLAN_FILES
    table = pd.read_csv(target / "fleet_monthly.csv")
    assert list(table["generation_ordered_mw"]) == pytest.approx([2, 0, 0, 0, 0, 0, 0, 0])
    assert list(table["generation_delivered_mw"]) == pytest.approx([0, 0, 2, 0, 0, 0, 0, 0])
    assert list(table["generation_owned_mw"]) == pytest.approx([0, 0, 2, 2, 2, 2, 2, 2])
    assert list(table["placed_mw"]) == pytest.approx([0, 0, 2, 2, 2, 2, 2, 2])
    assert list(table["running_mw"]) == pytest.approx([0, 0, 2, 2, 2, 2, 2, 2])
    sites = pd.read_csv(target / "sites_monthly.csv")
    assert list(sites["hashprice_usd_per_ph_day"]) == pytest.approx([40.5] * 8)


def test_solve_summary_shows_orders(cheap_and_dear):
    from capalloc.optimizer.outputs.report import print_summary

    buffer = io.StringIO()
    print_summary(Console(file=buffer, width=140), cheap_and_dear[0])
    text = buffer.getvalue()
    assert "Fleet and mining halls" in text
    assert "ASIC purchases $200,000" in text  # 2 MW x 100,000 TH/s x $1


def test_compare_reports_the_fleet_difference(cheap_and_dear):
    from capalloc.optimizer.checks.compare import compare_plans

    a, b = (o.result.plan for o in cheap_and_dear)
    comparison = compare_plans(a, b)
    owned = [m for m in comparison.mw if m.measure == "fleet_owned_mw_year_end"]
    assert [(m.site, m.a, m.b) for m in owned] == [("s23", 2.0, 0.0)]
    assert any(k.name == "fleet_purchases_usd" and k.a == 200_000.0 and k.b == 0.0 for k in comparison.kpis)


def test_sweep_paths_reach_the_new_fields_and_rows_carry_fleet_metrics(cheap_and_dear):
    from capalloc.optimizer.sweep.paths import apply_level, resolve
    from capalloc.optimizer.sweep.worker import row_from_plan

    instance = validate_instance_data(_data(1.0))
    data = instance.model_dump(mode="python")
    (target,) = resolve(data, "fleet[s23].purchase.price_usd_per_th")
    apply_level(target, "factor", 10.0)
    changed = validate_instance_data(copy.deepcopy(data))
    assert changed.fleet[0].purchase.price_usd_per_th == pytest.approx(10.0)
    row = row_from_plan("p", {}, instance, cheap_and_dear[0].result.plan)
    assert row.metrics["fleet_mw_ordered.s23"] == pytest.approx(2.0)
    assert row.metrics["fleet_mw_sold.s23"] == 0.0
