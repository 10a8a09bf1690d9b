"""The report of a sweep folder: its tables (results, summary, tornado, heatmaps, decision map)
read back from the CSVs the sweep wrote (optimizer.sweep), drawn with plotly.

Only the sweep folder is read: not the base instance, which may have moved since."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from capalloc.models.common import month_ordinal, ordinal_to_month
from capalloc.optimizer import __version__
from capalloc.optimizer.outputs.report_charts import MILLION, TEMPLATE
from capalloc.optimizer.outputs.report_html import chart_html, html_table, page
from capalloc.optimizer.sweep.worker import PARAM_PREFIX

MONTH = re.compile(r"^\d{4}-\d{2}$")
SWEEP_TABLES = ("results", "summary", "tornado", "decision_map")
"""The sweep's CSVs in the order the report shows them; heatmap_*.csv follow."""


class SweepDirError(Exception):
    """A sweep folder that cannot be reported on; the message says what to do."""


@dataclass(frozen=True)
class SweepTables:
    path: Path
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]  # CSV name without .csv -> its rows, as pandas reads them

    def heatmaps(self) -> list[str]:
        return [name for name in self.tables if name.startswith("heatmap_")]


def open_sweep_dir(directory: Path) -> SweepTables:
    """A finished sweep of this capalloc (its manifest and results.csv), or SweepDirError."""
    manifest_path = directory / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SweepDirError(f"{directory}: a sweep folder without a readable manifest.json; rerun the "
                            "sweep (`capalloc sweep SPEC -o DIR`)") from None
    version = manifest.get("capalloc_version")
    if version != __version__:
        raise SweepDirError(f"{directory}: was written by capalloc {version}, this is capalloc "
                            f"{__version__}; rerun the sweep with this version")
    if not (directory / "results.csv").is_file():
        raise SweepDirError(f"{directory}: the sweep has not finished (no results.csv); finish it with "
                            "`capalloc sweep SPEC -o DIR --resume`")
    names = [n for n in SWEEP_TABLES if (directory / f"{n}.csv").is_file()]
    names += sorted(p.stem for p in directory.glob("heatmap_*.csv"))
    return SweepTables(directory, manifest, {n: pd.read_csv(directory / f"{n}.csv") for n in names})


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, height=height, hovermode="closest",
                      margin={"t": 70, "l": 60, "r": 30})
    return fig


def _level(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def tornado(frame: pd.DataFrame) -> go.Figure:
    """NPV at each parameter's lowest (blue) and highest (orange) level, around the base."""
    rows = frame.iloc[::-1]  # the CSV puts the widest swing first; plotly draws bottom-up
    base = float(frame["npv_base_usd"].iloc[0]) / MILLION
    fig = go.Figure()
    for side, colour in (("low", "#4C72B0"), ("high", "#DD8452")):
        npv = rows[f"npv_{side}_usd"] / MILLION
        fig.add_trace(go.Bar(
            orientation="h", y=rows["parameter"], x=npv - base, base=base, name=f"at its {side}est level",
            marker={"color": colour}, text=[_level(v) for v in rows[f"level_{side}"]],
            customdata=npv, hovertemplate="NPV $%{customdata:,.1f}M at %{text}<extra>%{y}</extra>"))
    fig.add_vline(x=base, line={"color": "black"})
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title_text="NPV, USD millions")
    return _layout(fig, f"Tornado: NPV around the base (${base:,.1f}M)", height=160 + 60 * len(frame))


def _month_cells(values: list[list[Any]]) -> tuple[list[list[float]], str | None]:
    """Months as months since the earliest one (for colour); None where no month."""
    months = [v for line in values for v in line if isinstance(v, str) and MONTH.match(v)]
    if not months:
        return [[math.nan] * len(line) for line in values], None
    first = min(month_ordinal(m) for m in months)
    z = [[float(month_ordinal(v) - first) if isinstance(v, str) and MONTH.match(v) else math.nan
          for v in line] for line in values]
    return z, ordinal_to_month(first)


def _months_title(first: str | None) -> str:
    return f"months from {first}" if first else ""


def _cell_text(value: Any, money: bool, signing: bool) -> str:
    """What a heatmap cell says: a status where the point has no plan, 'never' for a phase
    never signed, NPV in $M."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "never" if signing else "-"
    if money and isinstance(value, int | float):
        return f"{value / MILLION:,.1f}"
    return _level(value)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def heatmap(name: str, frame: pd.DataFrame) -> go.Figure:
    """A 2-parameter grid: rows the first parameter's levels, columns the second's; cells
    coloured by value (months: by months from the earliest), points without a plan blank."""
    header = str(frame.columns[0])
    rows = [_level(v) for v in frame[header]]
    cols = [str(c) for c in frame.columns[1:]]
    values = frame[frame.columns[1:]].astype(object).values.tolist()
    money = name == "heatmap_npv"
    signing = "signing" in name
    if any(isinstance(v, str) and MONTH.match(v) for line in values for v in line):
        z, first = _month_cells(values)
    else:
        z, first = [[_number(v) / (MILLION if money else 1.0) for v in line] for line in values], None
    text = [[_cell_text(v, money, signing) for v in line] for line in values]
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=rows, text=text, texttemplate="%{text}", colorscale="Viridis",
                               hovertemplate="%{y} \\ %{x}: %{text}<extra></extra>",
                               colorbar={"title": "$M" if money else _months_title(first)}))
    p1, _, p2 = header.partition(" \\ ")
    fig.update_xaxes(title_text=p2, type="category")
    fig.update_yaxes(title_text=p1, type="category")
    what = "NPV ($M)" if money else name.removeprefix("heatmap_") + (" (month; never: not signed)" if signing
                                                                     else "")
    return _layout(fig, f"Heatmap: {what}", height=220 + 50 * len(rows))


def decision_map(frame: pd.DataFrame) -> go.Figure | None:
    """First signing month per site (rows) at each point (columns); grey: never or no plan."""
    sites = [c for c in frame.columns if c.startswith("first_signing.")]
    if not sites or not len(frame):
        return None
    solved = frame["status"].isin(["optimal", "time_limit"])
    values = [[v if ok else None for v, ok in zip(frame[c].astype(object), solved, strict=True)]
              for c in sites]
    z, first = _month_cells(values)
    text = [[v if isinstance(v, str) else "never" for v in line] for line in values]
    fig = go.Figure(go.Heatmap(z=z, x=list(frame["point_id"]), y=[c.split(".", 1)[1] for c in sites],
                               text=text, texttemplate="%{text}", colorscale="Viridis",
                               hovertemplate="%{x} %{y}: %{text}<extra></extra>",
                               colorbar={"title": _months_title(first)}))
    fig.update_xaxes(title_text="point (see the results table for its parameters)", type="category")
    fig.update_yaxes(type="category")
    return _layout(fig, "Decision map: first signing month per site", height=200 + 50 * len(sites))


def npv_by_parameter(frame: pd.DataFrame) -> go.Figure | None:
    """NPV at every solved point against each numeric parameter."""
    params = [c for c in frame.columns if c.startswith(PARAM_PREFIX)
              and pd.api.types.is_numeric_dtype(frame[c])]
    solved = frame[frame["status"].isin(["optimal", "time_limit"])]
    if not params or not len(solved):
        return None
    fig = make_subplots(rows=1, cols=len(params), shared_yaxes=True,
                        subplot_titles=[p.removeprefix(PARAM_PREFIX) for p in params])
    for col, param in enumerate(params, start=1):
        fig.add_trace(go.Scatter(x=solved[param], y=solved["npv_usd"] / MILLION, mode="markers",
                                 name=param.removeprefix(PARAM_PREFIX), text=solved["point_id"],
                                 hovertemplate="%{text}: $%{y:,.1f}M at %{x}<extra></extra>"), row=1, col=col)
    fig.update_yaxes(title_text="NPV, USD millions", row=1, col=1)
    return _layout(fig, "NPV at each point against each parameter ($M)")


def sweep_figures(tables: SweepTables) -> list[tuple[str, str, go.Figure]]:
    figures: list[tuple[str, str, go.Figure]] = []
    t = tables.tables
    if "tornado" in t and len(t["tornado"]):
        figures.append(("tornado", "Tornado", tornado(t["tornado"])))
    for name in tables.heatmaps():
        heading = f"Heatmap {name.removeprefix('heatmap_')}"
        figures.append((name.replace(".", "-"), heading, heatmap(name, t[name])))
    if "decision_map" in t and (fig := decision_map(t["decision_map"])) is not None:
        figures.append(("decision-map", "Decision map", fig))
    if (fig := npv_by_parameter(t["results"])) is not None:
        figures.append(("npv-points", "NPV by parameter", fig))
    return figures


def _as_number(value: Any) -> Any:
    """A number written as text (in a column that also holds months) back to a number."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def sweep_meta(tables: SweepTables) -> list[str]:
    m = tables.manifest
    statuses = tables.tables["results"]["status"].value_counts().sort_index()
    return [
        f"Design {m.get('design')} over {', '.join(m.get('parameters', []))}: "
        f"{len(m.get('points', []))} point(s); " + ", ".join(f"{k} {v}" for k, v in statuses.items()),
        f"Base instance {m.get('base_instance')} (sha256 {str(m.get('base_sha256'))[:12]})",
    ]


def sweep_report_html(tables: SweepTables) -> str:
    sections = [(a, h, chart_html(a, f)) for a, h, f in sweep_figures(tables)]
    for name, heading in (("summary", "Summary"), ("tornado", "Tornado table"), ("results", "Results")):
        frame = tables.tables.get(name)
        if frame is not None and len(frame):
            # summary.csv mixes months and numbers in one column: pandas reads them all as text.
            frame = frame.map(_as_number)
            headers = {str(c): str(c) for c in frame.columns}
            sections.append((f"table-{name}", heading, html_table(frame, headers, name)))
    return page(f"capalloc sweep report: {tables.path.name}", sweep_meta(tables), sections)
