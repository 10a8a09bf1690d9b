"""`capalloc report` (issue 16 item 1): the numbers in report.html's tables and in the workbook
against plan.json and the CSVs (read with the standard library), the chart data against
hand-derived spans, where the files go, and what it refuses. The browser half is in
test_report_browser.py."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from capalloc.optimizer import __version__
from capalloc.optimizer.outputs.output_dir import OutputClaim
from capalloc.optimizer.outputs.plan_io import OWNED_FILES, open_plan_dir
from capalloc.optimizer.outputs.report_charts import lease_gantt, power_use
from capalloc.optimizer.outputs.report_sweep import heatmap
from capalloc.optimizer.outputs.report_tables import read_plan_tables
from tests.report_helpers import (  # noqa: F401 (session fixtures)
    TINY,
    csv_rows,
    grid_sweep,
    html_tables,
    invoke,
    oat_sweep,
    reported_copy,
    scenario_plan,
    tiny_plan,
    yearly_sums,
)

PLAN_CSVS = ["sites_monthly", "cashflow_monthly", "leases", "fleet_monthly", "debt_monthly"]
DAY_MS = 86_400_000


def number(text: str) -> float:
    return float(text.replace(",", ""))


def said(result) -> str:
    """The command's output as one line (rich wraps long messages)."""
    return " ".join(result.output.split())


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_signings_and_kpis_tables_equal_plan_json(scenario_plan, tmp_path):  # noqa: F811
    folder = reported_copy(scenario_plan, tmp_path / "plan")
    plan = json.loads((folder / "plan.json").read_text())
    tables = html_tables(folder / "report.html")
    signings = tables["signings"]
    assert signings["header"] == ["Site", "Phase", "Critical IT (MW)", "Signed (month)", "Rent from (month)",
                                  "Rent to (month)", "Capex (USD)", "First-year rent (USD)"]
    expected = sorted(plan["decisions"]["signings"],
                      key=lambda s: (s["signing_month"], s["site"], s["phase"]))
    assert len(signings["rows"]) == len(expected) == 1
    for row, signing in zip(signings["rows"], expected, strict=True):
        fields = ["site", "phase", "critical_it_mw", "signing_month", "rent_start_month", "rent_end_month",
                  "capex_usd", "first_year_rent_usd"]
        for (text, value), field in zip(row, fields, strict=True):
            if isinstance(signing[field], str):
                assert text == signing[field]
            else:
                assert float(value) == signing[field]
                assert number(text) == pytest.approx(signing[field], abs=0.5)
    # By hand from tiny.yaml: 20 MW x $10M/MW = $200M of capex; 20,000 kW x $150 x 12 months =
    # $36M of first-year rent (the escalator starts after the first lease year); rent starts
    # 12 months (the lead time) after signing and runs 120 months.
    text = dict(zip(signings["header"], [t for t, _ in signings["rows"][0]], strict=True))
    assert text["Capex (USD)"] == "200,000,000" and text["First-year rent (USD)"] == "36,000,000"
    signed, start = text["Signed (month)"], text["Rent from (month)"]
    assert int(start[:4]) * 12 + int(start[5:]) - (int(signed[:4]) * 12 + int(signed[5:])) == 12

    kpis = tables["kpis"]
    assert kpis["header"] == ["KPI (unit)", "Scenario bear", "Scenario base", "Scenario bull"]
    by_label = {row[0][0]: row[1:] for row in kpis["rows"]}
    for index, scenario in enumerate(["bear", "base", "bull"]):
        stated = next(k for k in plan["kpis"] if k["scenario"] == scenario)
        assert float(by_label["NPV (USD)"][index][1]) == stated["npv_usd"]
        assert float(by_label["Probability"][index][1]) == stated["probability"]
        assert float(by_label["Peak debt (USD)"][index][1]) == stated["peak_debt_usd"]
        assert float(by_label["BTC mined (BTC)"][index][1]) == stated["btc_mined_btc"]
        assert by_label["Minimum cash in (month)"][index][0] == stated["minimum_cash_month"]


def test_yearly_kpis_equal_plan_json_and_the_csv_sums(scenario_plan, tmp_path):  # noqa: F811
    folder = reported_copy(scenario_plan, tmp_path / "plan")
    plan = json.loads((folder / "plan.json").read_text())
    kpis = {k["scenario"]: k for k in plan["kpis"]}
    sites, cash = folder / "sites_monthly.csv", folder / "cashflow_monthly.csv"
    revenue = yearly_sums(sites, ["mining_revenue_usd", "ai_rent_usd", "curtailment_credit_usd"])
    costs = yearly_sums(sites, ["mining_power_cost_usd", "fixed_power_charge_usd", "mining_opex_usd",
                               "fleet_move_cost_usd", "ai_opex_usd"])
    btc = yearly_sums(sites, ["btc_mined_btc"])
    paid_out = yearly_sums(cash, ["distributions_usd"], sign=-1.0)
    capex = yearly_sums(cash, ["ai_capex_usd", "mining_hall_capex_usd", "fleet_purchase_deposits_usd",
                               "fleet_purchase_balances_usd"], sign=-1.0)
    year_end = {}
    for row in csv_rows(cash):  # rows run in month order: the last one of a year wins
        year_end[(row["scenario"], row["month"][:4])] = row
    rows = html_tables(folder / "report.html")["yearly"]["rows"]
    assert len(rows) == 3 * 4  # 3 scenarios x 2026..2029
    for row in rows:
        scenario, year = row[0][0], row[1][0]
        key = (scenario, year)
        values = [float(v) if v is not None else None for _, v in row[2:]]
        ai, hashrate, mined, rev, cost, spent, dist, cash_end, debt = values
        assert ai == kpis[scenario]["ai_mw_online_by_year"][year]
        assert hashrate == kpis[scenario]["hashrate_ehs_by_year"][year]
        assert mined == pytest.approx(btc[key], rel=1e-12, abs=1e-9)
        assert rev == pytest.approx(revenue[key], rel=1e-12)
        assert cost == pytest.approx(costs[key], rel=1e-12)
        assert spent == pytest.approx(capex[key], rel=1e-12, abs=1e-6)
        assert dist == pytest.approx(paid_out[key], rel=1e-12, abs=1e-6)
        assert cash_end == float(year_end[key]["cash_end_usd"])
        assert debt == float(year_end[key]["total_debt_usd"])


def test_workbook_holds_every_csv_and_the_summary(scenario_plan, tmp_path):  # noqa: F811
    folder = reported_copy(scenario_plan, tmp_path / "plan")
    sheets = pd.read_excel(folder / "plan.xlsx", sheet_name=None)
    assert list(sheets) == ["summary", *PLAN_CSVS]
    for name in PLAN_CSVS:
        pd.testing.assert_frame_equal(sheets[name], pd.read_csv(folder / f"{name}.csv"), check_dtype=False)
    book = openpyxl.load_workbook(folder / "plan.xlsx")
    assert book["sites_monthly"].freeze_panes == "D2"  # scenario, site, month stay in view
    assert book["cashflow_monthly"].freeze_panes == "C2"
    header = [c.value for c in book["cashflow_monthly"][1]]
    assert book["cashflow_monthly"].cell(2, header.index("cash_end_usd") + 1).number_format == "#,##0"
    summary = {row[0]: row[1:] for row in book["summary"].iter_rows(values_only=True) if row[0]}
    plan = json.loads((folder / "plan.json").read_text())
    for index, kpi in enumerate(plan["kpis"]):
        assert summary["NPV (USD)"][index] == kpi["npv_usd"]
        assert summary["Minimum cash in (month)"][index] == kpi["minimum_cash_month"]
    signing = plan["decisions"]["signings"][0]
    assert summary["site"][:3] == ("phase", "critical_it_mw", "signing_month")
    assert summary[signing["site"]][:2] == (signing["phase"], signing["critical_it_mw"])


def test_chart_data_power_stack_and_lease_spans(scenario_plan):  # noqa: F811
    tables = read_plan_tables(open_plan_dir(scenario_plan))
    figure = power_use(tables)
    stacks: dict[str, list] = {}
    energized = {}
    for trace in figure.data:
        if trace.stackgroup:
            stacks.setdefault(trace.stackgroup, []).append(trace.y)
        elif trace.name == "Energized":
            energized[f"{len(energized)}"] = trace.y
    # One stack per scenario (one site): running + curtailed + AI facility + idle = energized
    # wherever the site is not over its power (idle is never negative).
    assert len(stacks) == 3 and len(energized) == 3
    for stack, power in zip(stacks.values(), energized.values(), strict=True):
        total = [sum(values) for values in zip(*stack, strict=True)]
        assert total == pytest.approx(list(power), abs=1e-6)

    gantt = {trace.name: trace for trace in lease_gantt(tables).data}
    signing = tables.plan.decisions.signings[0]
    year, month = int(signing.signing_month[:4]), int(signing.signing_month[5:])
    start = date(year, month, 1)
    rent_from = date(year + 1, month, 1)  # lead time 12 months
    rent_to = date(year + 11, month, 1)  # + 120 months of rent
    renewal_to = date(year + 16, month, 1)  # + 60 months of renewal
    assert list(gantt["Build"].base) == [start.isoformat()]
    assert list(gantt["Build"].x) == [(rent_from - start).days * DAY_MS]
    assert list(gantt["Rent"].x) == [(rent_to - rent_from).days * DAY_MS]
    assert list(gantt["Renewal"].base) == [rent_to.isoformat()]
    assert list(gantt["Renewal"].x) == [(renewal_to - rent_to).days * DAY_MS]


def test_sweep_reports_hold_their_tables(grid_sweep, oat_sweep, tmp_path):  # noqa: F811
    for source, charts in ((grid_sweep, ["chart-heatmap_npv", "chart-heatmap_first_signing-alpha",
                                         "chart-decision-map", "chart-npv-points"]),
                           (oat_sweep, ["chart-tornado", "chart-decision-map"])):
        folder = reported_copy(source, tmp_path / source.parent.name)
        page = (folder / "report.html").read_text()
        for chart in charts:
            assert f'id="{chart}"' in page, chart
        rows = csv_rows(folder / "results.csv")
        table = html_tables(folder / "report.html")["results"]
        column = table["header"].index("npv_usd")
        assert [float(r[column][1]) for r in table["rows"]] == [float(r["npv_usd"]) for r in rows]
        sheets = pd.read_excel(folder / "sweep.xlsx", sheet_name=None)
        csvs = sorted(p.stem for p in folder.glob("*.csv"))
        assert sorted(sheets) == sorted(["overview", *csvs])
        for name in csvs:
            expected = pd.read_csv(folder / f"{name}.csv")
            pd.testing.assert_frame_equal(sheets[name], expected, check_dtype=False)


def test_the_report_is_self_contained_and_byte_stable(tiny_plan, tmp_path):  # noqa: F811
    folder = reported_copy(tiny_plan, tmp_path / "plan")
    first = digests(folder)
    page = (folder / "report.html").read_text()
    lowered = page.lower()
    assert "<script src" not in lowered and "<link" not in lowered and "@import" not in lowered
    assert 'id="chart-power"' in page and len(page) > 1_000_000  # plotly.js is inside
    assert invoke("report", folder).exit_code == 0
    assert digests(folder) == first


def test_report_keeps_the_plan_and_a_new_solve_removes_the_stale_report(tiny_plan, tmp_path):  # noqa: F811
    folder = tmp_path / "plan"
    shutil.copytree(tiny_plan, folder)
    before = digests(folder)
    result = invoke("report", folder)
    assert result.exit_code == 0, result.output
    after = digests(folder)
    assert {name: after[name] for name in before} == before  # the plan's files, byte for byte
    assert set(after) - set(before) == {"report.html", "plan.xlsx"}
    assert invoke("solve", TINY, "-o", folder, "-q").exit_code == 0
    assert not (folder / "report.html").exists() and not (folder / "plan.xlsx").exists()


def test_report_into_an_out_folder(tiny_plan, grid_sweep, tmp_path):  # noqa: F811
    out = tmp_path / "reports"
    assert invoke("report", tiny_plan, "-o", out).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [".capalloc", "plan.xlsx", "report.html"]
    assert json.loads((out / ".capalloc").read_text())["kind"] == "report"
    assert invoke("report", grid_sweep, "-o", out).exit_code == 0  # replaces the plan's report
    assert sorted(p.name for p in out.iterdir()) == [".capalloc", "report.html", "sweep.xlsx"]
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "notes.md").write_text("mine\n")
    result = invoke("report", tiny_plan, "-o", foreign)
    assert result.exit_code == 2 and "holds files capalloc did not write" in said(result)
    assert [p.name for p in foreign.iterdir()] == ["notes.md"]
    fresh = tmp_path / "fresh"
    result = invoke("report", tmp_path / "nowhere", "-o", fresh)  # a bad plan: -o is not created
    assert result.exit_code == 2 and not fresh.exists()
    other_plan = tmp_path / "other"
    shutil.copytree(tiny_plan, other_plan)
    result = invoke("report", other_plan, "-o", other_plan)  # -o at the plan itself: the default
    assert result.exit_code == 0 and (other_plan / "report.html").is_file()
    (other_plan / "report.html").unlink()
    (other_plan / "plan.xlsx").unlink()
    result = invoke("report", tiny_plan, "-o", other_plan)
    assert result.exit_code == 2 and "holds a capalloc plan, not a report" in said(result)
    assert not (other_plan / "report.html").exists()


def _another_version(source: Path, target: Path, file: str, path: list[str]) -> Path:
    shutil.copytree(source, target)
    data = json.loads((target / file).read_text())
    holder = data
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = "0.0.1"
    (target / file).write_text(json.dumps(data))
    return target


def test_bad_input_exits_2_and_writes_nothing(tiny_plan, grid_sweep, tmp_path):  # noqa: F811
    old_plan = _another_version(tiny_plan, tmp_path / "old_plan", "plan.json",
                                ["provenance", "capalloc_version"])
    old_sweep = _another_version(grid_sweep, tmp_path / "old_sweep", "manifest.json", ["capalloc_version"])
    unfinished = tmp_path / "unfinished"
    shutil.copytree(grid_sweep, unfinished)
    (unfinished / "results.csv").unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "file.txt").write_text("x\n")
    cases = [
        (tmp_path / "nowhere", "no such plan directory"),
        (tmp_path / "file.txt", "is a file, not a plan directory"),
        (empty, "no plan.json found"),
        (old_plan, f"written by capalloc 0.0.1, this is capalloc {__version__}"),
        (old_sweep, f"written by capalloc 0.0.1, this is capalloc {__version__}; rerun the sweep"),
        (unfinished, "the sweep has not finished (no results.csv)"),
    ]
    for folder, words in cases:
        listing = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else None
        result = invoke("report", folder)
        assert result.exit_code == 2, (folder, result.output)
        assert words in said(result), (folder, result.output)
        assert "Traceback" not in result.output
        assert (sorted(p.name for p in folder.iterdir()) if folder.is_dir() else None) == listing


def test_a_folder_being_written_is_not_reported_into(tiny_plan, grid_sweep, tmp_path):  # noqa: F811
    """A running solve or sweep holds its folder's lock: the report is refused, not mixed in."""
    for source, kind, owned in ((tiny_plan, "plan", OWNED_FILES), (grid_sweep, "sweep", None)):
        folder = tmp_path / kind
        shutil.copytree(source, folder)
        with OutputClaim(folder, kind, owned):  # what a running solve or sweep holds
            result = invoke("report", folder)
        assert result.exit_code == 2 and "another capalloc is writing this folder" in said(result)
        assert not (folder / "report.html").exists()


def test_a_plan_directory_holding_other_files_points_to_out(tiny_plan, tmp_path):  # noqa: F811
    folder = tmp_path / "plan"
    shutil.copytree(tiny_plan, folder)
    (folder / "notes.md").write_text("mine\n")
    result = invoke("report", folder)
    assert result.exit_code == 2 and "write the report elsewhere with -o DIR" in said(result)
    assert not (folder / "report.html").exists()
    assert invoke("report", folder, "-o", tmp_path / "out").exit_code == 0
    assert (tmp_path / "out" / "report.html").is_file()


def test_a_plan_without_signings_reports_its_phases_as_unsigned(tmp_path):
    """At $100/kW-month tiny's phase is never signed (the grid sweep of test_sweep shows it):
    the report says so in the table and still lists the phase in the Gantt."""
    raw = yaml.safe_load(TINY.read_text())
    raw["sites"][0]["ai_phases"][0]["lease_usd_per_kw_month"] = 100.0
    instance = tmp_path / "cheap.yaml"
    instance.write_text(yaml.safe_dump(raw))
    assert invoke("solve", instance, "-o", tmp_path / "plan", "-q").exit_code == 0
    assert json.loads((tmp_path / "plan" / "plan.json").read_text())["decisions"]["signings"] == []
    assert invoke("report", tmp_path / "plan").exit_code == 0
    page = (tmp_path / "plan" / "report.html").read_text()
    assert "No lease is signed in this plan." in page and "signings" not in html_tables(
        tmp_path / "plan" / "report.html")
    figure = lease_gantt(read_plan_tables(open_plan_dir(tmp_path / "plan")))
    assert [list(t.y) for t in figure.data] == [["alpha / hall1 (not signed)"]]


def test_sweep_heatmap_cells():
    """Statuses stay as text on a blank cell; months colour by months from the earliest one
    (2028-04 is 21 months after 2026-07: 6 to the end of 2026, 12 in 2027, 3 in 2028)."""
    npv = pd.DataFrame({"btc \\ lease": [0.7, 1.3], "100.0": [296962592.1, "infeasible"],
                        "150.0": [330054189.57, 369490202.78]})
    trace = heatmap("heatmap_npv", npv).data[0]
    assert trace.text[1][0] == "infeasible" and math.isnan(trace.z[1][0])
    assert trace.z[0][0] == pytest.approx(296.9625921) and trace.text[0][0] == "297.0"
    months = pd.DataFrame({"btc \\ lease": [0.7, 1.3], "100.0": [math.nan, math.nan],
                           "150.0": ["2026-07", "2028-04"]})
    trace = heatmap("heatmap_first_signing.alpha", months).data[0]
    assert [list(line) for line in trace.text] == [["never", "2026-07"], ["never", "2028-04"]]
    assert trace.z[0][1] == 0.0 and trace.z[1][1] == 21.0 and math.isnan(trace.z[0][0])


def test_commit_keep_others_adds_files_and_a_cut_write_rolls_forward(tmp_path):
    """The report's write into a plan directory: the plan's files stay; and a write cut after
    its journal (kill -9 there) is finished by the next writer, still keeping them."""
    folder = tmp_path / "plan"
    with OutputClaim(folder, "plan", OWNED_FILES) as claim:
        claim.commit({"plan.json": "{}\n", "leases.csv": "site\n"})
    with OutputClaim(folder, "plan", OWNED_FILES) as claim:
        claim.commit({"report.html": "<html></html>\n"}, keep_others=True)
    assert sorted(p.name for p in folder.iterdir()) == [".capalloc", "leases.csv", "plan.json", "report.html"]
    # Cut short: staged file and journal written, nothing moved yet.
    staging = folder / ".staging-cut"
    staging.mkdir()
    (staging / "plan.xlsx").write_bytes(b"xlsx")
    (folder / ".capalloc.journal").write_text(json.dumps(
        {"kind": "plan", "staging": staging.name, "files": ["plan.xlsx"], "remove": []}))
    with OutputClaim(folder, "plan", OWNED_FILES):
        pass
    assert sorted(p.name for p in folder.iterdir()) == [".capalloc", "leases.csv", "plan.json", "plan.xlsx",
                                                        "report.html"]
    assert (folder / "plan.json").read_text() == "{}\n"
