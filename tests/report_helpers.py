"""Plans and sweeps that the report tests read (session fixtures, each solved once), and a
reader of report.html's tables that uses only the standard library."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from capalloc.optimizer.cli import app
from capalloc.optimizer.sweep.runner import run_sweep
from tests.conftest import INSTANCES

TINY = INSTANCES / "tiny.yaml"
LEASE = "sites[alpha].ai_phases[hall1].lease_usd_per_kw_month"
BTC = "market.scenarios[base].btc_price_usd"


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def solved(instance: Path, out: Path) -> Path:
    result = invoke("solve", instance, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    return out


def three_scenarios(folder: Path) -> Path:
    """tiny with bear/base/bull BTC prices (p = 0.25/0.5/0.25) and a renewable lease."""
    raw = yaml.safe_load(TINY.read_text())
    raw["name"] = "tiny_scenarios"
    market = {"network_hashrate_ehs": 1000.0, "fees_btc_per_block": 0.03}
    raw["market"] = {"scenarios": [
        {"name": "bear", "probability": 0.25, "btc_price_usd": 60000.0, **market},
        {"name": "base", "probability": 0.5, "btc_price_usd": 90000.0, **market},
        {"name": "bull", "probability": 0.25, "btc_price_usd": 130000.0, **market},
    ]}
    raw["sites"][0]["ai_phases"][0]["renewal"] = {"probability": 0.5, "rent_share_pct": 80.0,
                                                  "term_months": 60}
    path = folder / "tiny_scenarios.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def swept(folder: Path, body: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump({"base": str(TINY), **body}, sort_keys=False), encoding="utf-8")
    run_sweep(spec, folder / "out", progress=False)
    return folder / "out"


@pytest.fixture(scope="session")
def tiny_plan(tmp_path_factory) -> Path:
    return solved(TINY, tmp_path_factory.mktemp("report") / "tiny")


@pytest.fixture(scope="session")
def scenario_plan(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    return solved(three_scenarios(folder), folder / "plan")


@pytest.fixture(scope="session")
def grid_sweep(tmp_path_factory) -> Path:
    return swept(tmp_path_factory.mktemp("grid"), {"design": "grid", "parameters": [
        {"name": "btc", "path": BTC, "factors": [0.7, 1.3]},
        {"name": "lease", "path": LEASE, "values": [100.0, 150.0]}]})


@pytest.fixture(scope="session")
def oat_sweep(tmp_path_factory) -> Path:
    return swept(tmp_path_factory.mktemp("oat"), {"design": "oat", "parameters": [
        {"name": "btc", "path": BTC, "factors": [0.7, 1.3]},
        {"name": "lease", "path": LEASE, "shifts": [-30.0, 10.0]}]})


def reported_copy(folder: Path, target: Path) -> Path:
    """A copy of a plan or sweep folder with its report written (the session's stay clean)."""
    shutil.copytree(folder, target)
    result = invoke("report", target)
    assert result.exit_code == 0, result.output
    return target


class TableReader(HTMLParser):
    """Every <table id=...>: its header cells and rows of (text, data-value or None)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._value: str | None = None
        self._row: list | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id"):
            self._table = attributes["id"]
            self.tables[self._table] = {"header": [], "rows": []}
        elif self._table and tag == "tr":
            self._row = []
        elif self._table and tag in ("td", "th"):
            self._cell, self._value = [], attributes.get("data-value")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._table and tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(("".join(self._cell), self._value))
            self._cell = None
        elif self._table and tag == "tr" and self._row is not None:
            table = self.tables[self._table]
            if not table["header"]:
                table["header"] = [text for text, _ in self._row]
            else:
                table["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def html_tables(path: Path) -> dict[str, dict[str, list]]:
    reader = TableReader()
    reader.feed(path.read_text(encoding="utf-8"))
    return reader.tables


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def yearly_sums(path: Path, columns: list[str], sign: float = 1.0) -> dict[tuple[str, str], float]:
    """sum of ``columns`` per (scenario, year) over a CSV's rows, with the stdlib csv module."""
    sums: dict[tuple[str, str], float] = defaultdict(float)
    for row in csv_rows(path):
        key = (row["scenario"], row["month"][:4])
        sums[key] += sign * sum(float(row[c]) for c in columns if row.get(c) not in (None, ""))
    return dict(sums)
