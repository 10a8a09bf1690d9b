"""report.html in a real headless browser (issue 16 acceptance): Debian's chromium driven by
selenium through chromedriver, the page loaded from a file URL with the network off.

Why selenium: it drives the system's chromium through the system's chromedriver (both from
Debian's packages, which .ci/run installs), with no browser download of its own (playwright's
`playwright install` fetches its own browser builds, which this project's machines cannot),
and it gives the console log, the network log and CDP commands the checks need.

Each page must: make no request other than to file: and data: URLs (the network is also cut
by CDP and a host-resolver rule, so a request would fail), log no console error, draw every
chart (a plotly div whose SVG holds drawn marks), and show in its tables plan.json's numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.report_helpers import (  # noqa: F401 (session fixtures)
    csv_rows,
    grid_sweep,
    oat_sweep,
    reported_copy,
    scenario_plan,
    tiny_plan,
)

CHROMIUM = ("chromium", "chromium-browser")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
DRAWN = """
return Array.from(document.querySelectorAll('.plotly-graph-div')).map(function (gd) {
  var marks = 0;
  gd.querySelectorAll('.scatterlayer path, .barlayer path, .heatmaplayer image').forEach(function (m) {
    var d = m.getAttribute('d') || '';
    var href = m.getAttribute('href') || m.getAttribute('xlink:href') || '';
    if (d.length > 4 || href.indexOf('data:image/') === 0) { marks += 1; }
  });
  var box = gd.getBoundingClientRect();
  return {id: gd.id, ready: !!gd._fullLayout, marks: marks, width: box.width, height: box.height,
          visible: (gd._fullData || []).filter(function (t) { return t.visible === true; }).length};
});
"""


def _binary(names: tuple[str, ...]) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(f"none of {names} is installed: install Debian's chromium and chromium-driver "
                         "(`apt-get install -y chromium chromium-driver`; .ci/run does)")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = _binary(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1300,1000", "--host-resolver-rules=MAP * ~NOTFOUND",
                     "--disable-background-networking", "--no-first-run"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=_binary(("chromedriver",))), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        yield driver
    finally:
        driver.quit()


def open_page(driver, page: Path) -> list[dict]:
    """Load the page, wait until every chart is laid out, return what each chart drew."""
    driver.get_log("browser")
    driver.get_log("performance")  # drop what earlier pages logged
    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, 120).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
        and all(c["ready"] and c["marks"] for c in d.execute_script(DRAWN)))
    return driver.execute_script(DRAWN)


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def check_page(driver, page: Path, charts: list[str]) -> list[dict]:
    drawn = open_page(driver, page)
    assert [c["id"] for c in drawn] == charts
    for chart in drawn:
        assert chart["marks"] > 0 and chart["visible"] > 0, chart
        assert chart["width"] > 100 and chart["height"] > 100, chart
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    urls = requested_urls(driver)
    assert urls and urls[0].startswith("file:")  # the log did see the page load itself
    assert [u for u in urls if not u.startswith(LOCAL_SCHEMES)] == []
    return drawn


def table_cells(driver, table_id: str) -> list[list[tuple[str, str | None]]]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"table#{table_id} tbody tr")
    return [[(c.text, c.get_attribute("data-value")) for c in row.find_elements(By.TAG_NAME, "td")]
            for row in rows]


PLAN_CHARTS = ["chart-power", "chart-hashrate", "chart-cash", "chart-mix", "chart-leases"]


def test_a_plan_report_with_three_scenarios(browser, scenario_plan, tmp_path):  # noqa: F811
    folder = reported_copy(scenario_plan, tmp_path / "plan")
    check_page(browser, folder / "report.html", [*PLAN_CHARTS, "chart-npv-fan", "chart-cash-fan"])
    plan = json.loads((folder / "plan.json").read_text())
    signing = plan["decisions"]["signings"][0]
    (row,) = table_cells(browser, "signings")
    assert [text for text, _ in row[:2]] == [signing["site"], signing["phase"]]
    assert float(row[6][1]) == signing["capex_usd"] and row[6][0] == f"{signing['capex_usd']:,.0f}"
    assert float(row[7][1]) == signing["first_year_rent_usd"]
    npv_row = next(r for r in table_cells(browser, "kpis") if r[0][0] == "NPV (USD)")
    assert [float(v) for _, v in npv_row[1:]] == [k["npv_usd"] for k in plan["kpis"]]
    assert [t for t, _ in npv_row[1:]] == [f"{k['npv_usd']:,.0f}" for k in plan["kpis"]]

    # The scenario buttons switch the cash chart to another scenario's traces: after "bull",
    # the cash line shown is bull's cash_end_usd from the CSV, in $M.
    def shown_cash() -> list[float]:
        return browser.execute_script(
            "var gd = document.getElementById('chart-cash'); var out = null;"
            "gd._fullData.forEach(function (t, i) { if (t.visible === true && t.name === 'Cash (month end)')"
            " { out = t.y; } }); return Array.from(out);")

    bull = [float(r["cash_end_usd"]) / 1e6 for r in csv_rows(folder / "cashflow_monthly.csv")
            if r["scenario"] == "bull"]
    bear = [float(r["cash_end_usd"]) / 1e6 for r in csv_rows(folder / "cashflow_monthly.csv")
            if r["scenario"] == "bear"]
    assert bull != bear and shown_cash() == pytest.approx(bear, rel=1e-12)  # the first scenario shows first
    buttons = browser.find_elements(By.CSS_SELECTOR, "#chart-cash .updatemenu-button")
    assert [b.text for b in buttons] == ["bear", "base", "bull"]
    buttons[2].click()
    WebDriverWait(browser, 60).until(lambda d: shown_cash() != pytest.approx(bear, rel=1e-12))
    assert shown_cash() == pytest.approx(bull, rel=1e-12)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_plan_report_with_one_scenario(browser, tiny_plan, tmp_path):  # noqa: F811
    folder = reported_copy(tiny_plan, tmp_path / "plan")
    check_page(browser, folder / "report.html", PLAN_CHARTS)
    plan = json.loads((folder / "plan.json").read_text())
    yearly = table_cells(browser, "yearly")
    kpi = plan["kpis"][0]
    assert [r[1][0] for r in yearly] == sorted(kpi["ai_mw_online_by_year"])
    assert [float(r[2][1]) for r in yearly] == [kpi["ai_mw_online_by_year"][r[1][0]] for r in yearly]
    assert [float(r[3][1]) for r in yearly] == [kpi["hashrate_ehs_by_year"][r[1][0]] for r in yearly]


def test_sweep_reports(browser, grid_sweep, oat_sweep, tmp_path):  # noqa: F811
    grid = reported_copy(grid_sweep, tmp_path / "grid")
    check_page(browser, grid / "report.html", ["chart-heatmap_first_signing-alpha", "chart-heatmap_npv",
                                               "chart-decision-map", "chart-npv-points"])
    results = table_cells(browser, "results")
    assert len(results) == 4  # the 2 x 2 grid
    oat = reported_copy(oat_sweep, tmp_path / "oat")
    check_page(browser, oat / "report.html", ["chart-tornado", "chart-decision-map", "chart-npv-points"])
    tornado = [line.split(",") for line in (oat / "tornado.csv").read_text().splitlines()[1:]]
    shown = table_cells(browser, "tornado")
    assert [r[0][0] for r in shown] == [t[0] for t in tornado]
    assert [float(r[4][1]) for r in shown] == [float(t[4]) for t in tornado]  # npv_low_usd


def test_the_checks_see_a_request_and_a_console_error(browser, tmp_path):
    """The two checks above are not blind: a page that asks the network for a script and logs
    an error is caught by both (the request fails: the network is off)."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><script src="https://cdn.example.com/plotly.js"></script>'
                    '</head><body><script>console.error("boom")</script></body></html>')
    browser.get_log("browser")
    browser.get_log("performance")
    browser.get(page.as_uri())
    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert "https://cdn.example.com/plotly.js" in requested_urls(browser)
    messages = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert any("boom" in m for m in messages)
