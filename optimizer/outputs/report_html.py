"""report.html: one self-contained page (plotly.js inlined, no fonts, links or requests to the
network) with the report's charts and the tables a planner copies.

Table cells show rounded numbers and carry the exact value in ``data-value`` (repr of the
float), so what is copied reads well and what is tested is exact. Same input, same bytes:
chart ids are fixed and nothing time-dependent is written."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from capalloc.optimizer import __version__
from capalloc.optimizer.outputs.report_charts import plan_figures
from capalloc.optimizer.outputs.report_tables import (
    KPI_ROWS,
    SIGNING_COLUMNS,
    YEARLY_COLUMNS,
    PlanTables,
    kpi_table,
    signings_table,
    yearly_kpis,
)

CONFIG = {"displaylogo": False, "responsive": True}
STYLE = """
body { font-family: sans-serif; margin: 0 auto; max-width: 1280px; padding: 0 24px 48px; color: #1b1b1b; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
.meta { color: #555; margin: 2px 0; } nav a { margin-right: 14px; }
table.data { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
table.data th, table.data td { border: 1px solid #d0d0d0; padding: 3px 8px; }
table.data th { background: #f0f3f7; text-align: left; vertical-align: bottom; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; max-height: 640px; overflow-y: auto; }
.chart { min-height: 300px; }
"""


def decimals(column: str) -> int:
    """Digits shown for a column, from the unit in its name."""
    if column.endswith("_usd") or column.endswith("(USD)"):
        return 0
    if column.endswith("_btc") or column.endswith("(BTC)"):
        return 4
    if column.endswith(("_ehs", "(EH/s)")):
        return 3
    return 2


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cell(value: Any, digits: int) -> str:
    """One <td>: rounded text, exact value in data-value; '-' for a missing number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<td class="num">-</td>'
    if _is_number(value):
        exact = repr(float(value)) if isinstance(value, float) else str(value)
        text = f"{value:,d}" if isinstance(value, int) else f"{float(value):,.{digits}f}"
        if text.startswith("-") and float(text[1:].replace(",", "")) == 0:
            text = text[1:]  # -0.4 rounds to 0, not -0
        return f'<td class="num" data-value="{exact}">{text}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def html_table(frame: pd.DataFrame, headers: Mapping[str, str], table_id: str,
               digits: Mapping[str, int] | None = None) -> str:
    """``frame``'s columns in ``headers`` order, headed by their labels (units included)."""
    columns = list(headers)
    head = "".join(f'<th data-column="{html.escape(c)}">{html.escape(headers[c])}</th>' for c in columns)
    body = []
    for record in frame[columns].astype(object).to_dict("records"):
        cells = "".join(cell(record[c], (digits or {}).get(c, decimals(c))) for c in columns)
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table class="data" id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def chart_html(anchor: str, figure: go.Figure) -> str:
    """One chart's div and the script that draws it (plotly.js is in the page's head once);
    a fixed div id keeps the page byte-stable."""
    inner = figure.to_html(include_plotlyjs=False, full_html=False, div_id=f"chart-{anchor}", config=CONFIG)
    return f'<div class="chart">{inner}</div>'


def page(title: str, meta: Iterable[str], sections: list[tuple[str, str, str]]) -> str:
    """The whole document: ``sections`` are (anchor, heading, inner HTML)."""
    nav = "".join(f'<a href="#{a}">{html.escape(h)}</a>' for a, h, _ in sections)
    parts = [f'<section id="{a}"><h2>{html.escape(h)}</h2>{body}</section>' for a, h, body in sections]
    lines = "".join(f'<p class="meta">{html.escape(line)}</p>' for line in meta)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
            f"<body><h1>{html.escape(title)}</h1>{lines}<nav>{nav}</nav>{''.join(parts)}"
            f'<p class="meta">Written by capalloc {html.escape(__version__)}; opens offline.</p>'
            "</body></html>\n")


def _usd_m(value: float) -> str:
    return f"${value / 1e6:,.1f}M"


def plan_meta(tables: PlanTables) -> list[str]:
    plan = tables.plan
    gap = "-" if plan.solver.gap_pct is None else f"{plan.solver.gap_pct:.3g} %"
    audit = "not audited" if plan.audit is None else ("audit passed" if plan.audit.passed else "AUDIT FAILED")
    return [
        f"Instance {plan.provenance.instance_name}: {plan.months[0]} to {plan.months[-1]} "
        f"({len(plan.months)} months), scenarios {', '.join(tables.scenarios)}",
        f"Expected NPV {_usd_m(plan.npv_usd)} (USD {plan.npv_usd:,.0f}); solver {plan.solver.status}, "
        f"gap {gap}; {audit}",
    ]


def plan_report_html(tables: PlanTables) -> str:
    """report.html of a plan directory."""
    sections = [(anchor, heading, chart_html(anchor, figure))
                for anchor, heading, figure in plan_figures(tables)]
    signings = signings_table(tables.plan)
    signed = (html_table(signings, SIGNING_COLUMNS, "signings") if len(signings)
              else "<p>No lease is signed in this plan.</p>")
    kpis = kpi_table(tables.plan)
    kpi_headers = {"kpi": "KPI (unit)", **{s: f"Scenario {s}" for s in tables.scenarios}}
    # One table, many units: each row's digits follow the unit in its label.
    kpi_rows = []
    for label, record in zip(KPI_ROWS.values(), kpis.astype(object).to_dict("records"), strict=True):
        digits = decimals(label)
        cells = "".join(cell(record[s], digits) for s in tables.scenarios)
        kpi_rows.append(f"<tr><td>{html.escape(label)}</td>{cells}</tr>")
    head = "".join(f"<th>{html.escape(kpi_headers[c])}</th>" for c in kpi_headers)
    kpi_html = (f'<div class="scroll"><table class="data" id="kpis"><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(kpi_rows)}</tbody></table></div>")
    yearly = html_table(yearly_kpis(tables), YEARLY_COLUMNS, "yearly")
    sections += [
        ("signings", "Signings", signed),
        ("kpis", "Scenario KPIs", kpi_html),
        ("yearly", "Yearly KPIs", yearly),
    ]
    return page(f"capalloc plan report: {tables.plan.provenance.instance_name}", plan_meta(tables), sections)
