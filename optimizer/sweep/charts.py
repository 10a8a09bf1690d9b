"""Charts and tables written at the end of a sweep (matplotlib, Agg; PNG + CSV, atomically).

- ``summary.csv``: status counts, spread of NPV, minimum cash, peak debt, MW signed, and the
  range of each site's first signing month.
- ``decision_map.csv/.png``: for each site (rows) the first signing month at each point.
- one-at-a-time designs: ``tornado.csv/.png``: NPV at each parameter's lowest and highest level.
- 2-parameter grids: ``heatmap_npv.csv/.png`` and ``heatmap_<decision>.csv/.png`` (the decision
  is ``charts.decision`` of the spec, default the first signing month of the first AI site).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from capalloc.models.common import month_ordinal, ordinal_to_month  # noqa: E402
from capalloc.models.instance import Instance  # noqa: E402
from capalloc.models.sweep import SweepSpec  # noqa: E402
from capalloc.optimizer.sweep.store import atomic_write, csv_text  # noqa: E402
from capalloc.optimizer.sweep.tables import (  # noqa: E402
    SUMMARY_COLUMNS,
    TORNADO_COLUMNS,
    decision_columns,
    default_decision,
    pivot,
    pivot_records,
    solved,
    summary_rows,
    tornado_rows,
)
from capalloc.optimizer.sweep.worker import PARAM_PREFIX  # noqa: E402

MONTH = re.compile(r"^\d{4}-\d{2}$")


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    os.replace(tmp, path)
    return path


def _musd(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:,.1f}"


def _level(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def write_tornado(out: Path, rows: list[dict[str, Any]]) -> list[Path]:
    atomic_write(out / "tornado.csv", csv_text(rows, TORNADO_COLUMNS))
    if not rows:
        return [out / "tornado.csv"]
    fig = Figure(figsize=(9, 1.2 + 0.6 * len(rows)))
    ax = fig.add_subplot()
    base = rows[0]["npv_base_usd"] / 1e6
    for y, row in enumerate(reversed(rows)):
        low, high = row["npv_low_usd"] / 1e6, row["npv_high_usd"] / 1e6
        ax.barh(y, low - base, left=base, color="#4C72B0", height=0.6)
        ax.barh(y, high - base, left=base, color="#DD8452", height=0.6)
        ax.text(low, y, f" {_level(row['level_low'])} ", va="center",
                ha="right" if low < base else "left", fontsize=8)
        ax.text(high, y, f" {_level(row['level_high'])} ", va="center",
                ha="left" if high >= base else "right", fontsize=8)
    ax.axvline(base, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [r["parameter"] for r in reversed(rows)], fontsize=8)
    ax.set_xlabel("NPV, $M (blue: lowest level, orange: highest level)")
    ax.set_title(f"Tornado: NPV around the base ({base:,.1f} $M)")
    ax.margins(x=0.15)
    return [out / "tornado.csv", _save(fig, out / "tornado.png")]


def _as_number(value: Any, start: str) -> float:
    """Cell value for colouring: months become months since the plan start."""
    if value is None:
        return math.nan
    if isinstance(value, str) and MONTH.match(value):
        return float(month_ordinal(value) - month_ordinal(start))
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _ink(value: float, low: float, high: float) -> str:
    """Readable text colour on a viridis cell (dark cells get white text)."""
    if math.isnan(value):
        return "black"
    share = 0.5 if high <= low else (value - low) / (high - low)
    return "white" if share < 0.6 else "black"


def _cell_text(value: Any, column: str) -> str:
    if value is None:
        return "never" if column.startswith(("first_signing.", "signing.")) else "-"
    if column.endswith("_usd") and isinstance(value, int | float):
        return _musd(float(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def write_heatmap(out: Path, spec: SweepSpec, records: list[dict[str, Any]], column: str,
                  start: str, name: str, *, every_point: bool = False) -> list[Path]:
    rows, cols, cells = pivot(records, spec, column, every_point=every_point)
    table, columns = pivot_records(spec, rows, cols, cells)
    atomic_write(out / f"{name}.csv", csv_text(table, columns))
    fig = Figure(figsize=(1.6 + 1.1 * len(cols), 1.4 + 0.6 * len(rows)))
    ax = fig.add_subplot()
    data = [[_as_number(v, start) for v in line] for line in cells]
    finite = [v for line in data for v in line if not math.isnan(v)]
    import numpy as np

    grid = np.ma.masked_invalid(np.array(data, dtype=float))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d0d0d0")
    image = ax.imshow(grid, cmap=cmap, aspect="auto",
                      vmin=min(finite) if finite else 0, vmax=max(finite) if finite else 1)
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    for i, line in enumerate(cells):
        for j, value in enumerate(line):
            ax.text(j, i, _cell_text(value, column), ha="center", va="center", fontsize=8,
                    color=_ink(data[i][j], low, high))
    p1, p2 = spec.parameters[0], spec.parameters[1]
    ax.set_xticks(range(len(cols)), [_level(c) for c in cols], fontsize=8)
    ax.set_yticks(range(len(rows)), [_level(r) for r in rows], fontsize=8)
    ax.set_xlabel(f"{p2.label} ({p2.mode})")
    ax.set_ylabel(f"{p1.label} ({p1.mode})")
    unit = " ($M)" if column.endswith("_usd") else ""
    months = any(isinstance(v, str) and MONTH.match(v) for line in cells for v in line)
    ax.set_title(f"{column}{unit}" + (" (colour: months from start; grey: never)" if months else ""))
    if finite and not months:
        bar = fig.colorbar(image, ax=ax)
        if column.endswith("_usd"):
            bar.ax.yaxis.set_major_formatter(
                matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:,.0f}"))
    return [out / f"{name}.csv", _save(fig, out / f"{name}.png")]


def write_decision_map(out: Path, records: list[dict[str, Any]], instance: Instance,
                       spec: SweepSpec) -> list[Path]:
    columns = decision_columns(instance)
    params = [PARAM_PREFIX + p.label for p in spec.parameters]
    table = [{k: r.get(k) for k in ["point_id", "status", *params, *columns]} for r in records]
    atomic_write(out / "decision_map.csv", csv_text(table, ["point_id", "status", *params, *columns]))
    paths = [out / "decision_map.csv"]
    if not columns or not records:
        return paths
    start = instance.start
    data = [[_as_number(r.get(c) if r.get("status") in ("optimal", "time_limit") else None, start)
             for r in records] for c in columns]
    import numpy as np

    grid = np.ma.masked_invalid(np.array(data, dtype=float))
    fig = Figure(figsize=(min(18, 2.5 + 0.35 * len(records)), 1.5 + 0.5 * len(columns)))
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d0d0d0")
    image = ax.imshow(grid, cmap=cmap, aspect="auto", vmin=0, vmax=max(1, instance.horizon_months - 1))
    ax.set_yticks(range(len(columns)), [c.split(".", 1)[1] for c in columns], fontsize=8)
    if len(records) <= 60:
        labels = [r["point_id"] for r in records]
        ax.set_xticks(range(len(records)), labels, rotation=90, fontsize=7)
    if len(records) <= 30:
        top = max(1, instance.horizon_months - 1)
        for i, line in enumerate(data):
            for j, value in enumerate(line):
                text = "" if math.isnan(value) else ordinal_to_month(month_ordinal(start) + int(value))
                ax.text(j, i, text, ha="center", va="center", rotation=90, fontsize=6,
                        color=_ink(value, 0, top))
    ax.set_xlabel("point (see decision_map.csv for its parameter values)")
    ax.set_title("First signing month per site (grey: never signed or no plan)")
    bar = fig.colorbar(image, ax=ax)
    first = month_ordinal(start)
    bar.ax.yaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda v, _: ordinal_to_month(first + int(round(v)))))
    paths.append(_save(fig, out / "decision_map.png"))
    return paths


def write_charts(out_dir: str | Path, spec: SweepSpec, records: list[dict[str, Any]],
                 instance: Instance) -> list[Path]:
    """Every table and chart for the finished rows; returns the files written."""
    out = Path(out_dir)
    paths: list[Path] = []
    atomic_write(out / "summary.csv", csv_text(summary_rows(records, instance), SUMMARY_COLUMNS))
    paths.append(out / "summary.csv")
    paths += write_decision_map(out, records, instance, spec)
    if spec.design == "oat":
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        paths += write_tornado(out, tornado_rows(records, spec, instance, manifest["points"]))
    if spec.design in ("grid", "stress") and len(spec.parameters) == 2 and solved(records):
        paths += write_heatmap(out, spec, records, "npv_usd", instance.start, "heatmap_npv")
        if spec.design == "stress":  # defined at every point, where the floor holds or not
            paths += write_heatmap(out, spec, records, "highest_floor_usd", instance.start,
                                   "heatmap_highest_floor", every_point=True)
        decision = default_decision(spec, instance)
        if decision:
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", decision)
            paths += write_heatmap(out, spec, records, decision, instance.start, f"heatmap_{safe}")
    return paths


PRINTED = ["metric", "n", "min", "median", "max", "note"]


def print_summary(console: Any, records: list[dict[str, Any]], instance: Instance) -> None:
    """The summary table on the terminal (rich); money in $M; p10/p90 are in summary.csv."""
    from rich.table import Table

    table = Table(title="sweep summary (USD in $M; p10/p90 in summary.csv)")
    for column in PRINTED:
        table.add_column(column, justify="left" if column in ("metric", "note") else "right",
                         no_wrap=column != "note")
    for row in summary_rows(records, instance):
        cells = []
        for column in PRINTED:
            value = row.get(column)
            if isinstance(value, float) and row["metric"].endswith("_usd"):
                cells.append(_musd(value))
            elif isinstance(value, float):
                cells.append(f"{value:,.4g}")
            else:
                cells.append("" if value is None else str(value))
        table.add_row(*cells)
    console.print(table)
