"""The tables a planner reads after a sweep: summary, tornado rows, 2-parameter pivots,
decision map. Pure functions of the result rows (dicts as stored in the part files)."""

from __future__ import annotations

import math
from typing import Any

from capalloc.models.common import month_ordinal, ordinal_to_month
from capalloc.models.instance import Instance
from capalloc.models.sweep import SweepSpec
from capalloc.optimizer.sweep.worker import PARAM_PREFIX

SOLVED = ("optimal", "time_limit")
NUMERIC_METRICS = ("npv_usd", "minimum_cash_usd", "peak_debt_usd", "mw_signed_total")


def solved(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") in SOLVED]


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile of an already sorted list."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def site_ids(instance: Instance) -> list[str]:
    return [s.id for s in instance.sites if s.ai_phases]


SUMMARY_COLUMNS = ["metric", "n", "min", "p10", "median", "p90", "max", "note"]


def summary_rows(records: list[dict[str, Any]], instance: Instance) -> list[dict[str, Any]]:
    """Status counts, spread of the headline numbers, and when each site signs."""
    rows: list[dict[str, Any]] = []
    total = len(records)
    for status in ("optimal", "time_limit", "infeasible", "no_plan", "error"):
        count = sum(1 for r in records if r.get("status") == status)
        if count:
            rows.append({"metric": f"status.{status}", "n": count, "note": f"of {total} points"})
    ok = solved(records)
    metrics = list(NUMERIC_METRICS) + [f"mw_signed.{s}" for s in site_ids(instance)]
    for metric in metrics:
        values = sorted(float(r[metric]) for r in ok if r.get(metric) is not None)
        if not values:
            continue
        rows.append({"metric": metric, "n": len(values), "min": values[0],
                     "p10": _quantile(values, 0.1), "median": _quantile(values, 0.5),
                     "p90": _quantile(values, 0.9), "max": values[-1], "note": ""})
    for site in site_ids(instance):
        column = f"first_signing.{site}"
        months = sorted(month_ordinal(r[column]) for r in ok if r.get(column))
        row: dict[str, Any] = {"metric": column, "n": len(months),
                               "note": f"signed at {len(months)} of {len(ok)} solved points"}
        if months:
            row.update({"min": ordinal_to_month(months[0]),
                        "p10": ordinal_to_month(round(_quantile(months, 0.1))),
                        "median": ordinal_to_month(round(_quantile(months, 0.5))),
                        "p90": ordinal_to_month(round(_quantile(months, 0.9))),
                        "max": ordinal_to_month(months[-1])})
        rows.append(row)
    return rows


TORNADO_COLUMNS = ["parameter", "mode", "level_low", "level_high", "npv_low_usd", "npv_high_usd",
                   "npv_base_usd", "npv_min_usd", "npv_max_usd", "swing_usd", "decisions_changed"]


def _sort_key(level: Any) -> tuple[int, Any]:
    if isinstance(level, int | float) and not isinstance(level, bool):
        return (0, float(level))
    return (1, str(level))


def _decision(record: dict[str, Any], sites: list[str]) -> dict[str, str]:
    return {s: record.get(f"first_signing.{s}") or "never" for s in sites}


def tornado_rows(records: list[dict[str, Any]], spec: SweepSpec, instance: Instance,
                 points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per parameter of a one-at-a-time sweep: NPV at its lowest and highest level.

    ``points`` is the manifest's point list; a point that changes only parameter k belongs to k.
    """
    by_id = {r["point_id"]: r for r in solved(records)}
    base_id = points[0]["point_id"] if points else None
    base = by_id.get(base_id)
    if base is None:
        return []
    sites = site_ids(instance)
    base_levels = points[0]["params"]
    rows = []
    for p in spec.parameters:
        label = p.label
        mine = [(pt["params"][label], by_id[pt["point_id"]]) for pt in points[1:]
                if pt["point_id"] in by_id and all(
                    pt["params"][k] == v for k, v in base_levels.items() if k != label)
                and pt["params"][label] != base_levels[label]]
        if not mine:
            continue
        mine.sort(key=lambda item: _sort_key(item[0]))
        (low, r_low), (high, r_high) = mine[0], mine[-1]
        npvs = [r["npv_usd"] for _, r in mine] + [base["npv_usd"]]
        changed = []
        base_decision = _decision(base, sites)
        for level, record in mine:
            decision = _decision(record, sites)
            for site in sites:
                if decision[site] != base_decision[site]:
                    changed.append(f"{label}={level}: {site} {base_decision[site]}->{decision[site]}")
        rows.append({
            "parameter": label, "mode": p.mode, "level_low": low, "level_high": high,
            "npv_low_usd": r_low["npv_usd"], "npv_high_usd": r_high["npv_usd"],
            "npv_base_usd": base["npv_usd"], "npv_min_usd": min(npvs), "npv_max_usd": max(npvs),
            "swing_usd": max(npvs) - min(npvs), "decisions_changed": "; ".join(changed),
        })
    rows.sort(key=lambda r: (-r["swing_usd"], r["parameter"]))
    return rows


def pivot(records: list[dict[str, Any]], spec: SweepSpec, column: str, *, every_point: bool = False
          ) -> tuple[list[Any], list[Any], list[list[Any]]]:
    """Rows = levels of parameter 1, columns = levels of parameter 2, cells = ``column``
    (a point without a plan shows its status, unless ``every_point``: a column every row has)."""
    p1, p2 = spec.parameters[0], spec.parameters[1]
    rows, cols = p1.levels, p2.levels
    index = {(_key(r.get(PARAM_PREFIX + p1.label)), _key(r.get(PARAM_PREFIX + p2.label))): r
             for r in records}
    cells = []
    for a in rows:
        line = []
        for b in cols:
            record = index.get((_key(a), _key(b)))
            ok = record is not None and (every_point or record.get("status") in SOLVED)
            if ok:
                line.append(record.get(column))
            else:  # no plan here: say why instead of a value
                line.append(record.get("status") if record is not None else "missing")
        cells.append(line)
    return rows, cols, cells


def _key(value: Any) -> str:
    return repr(float(value)) if isinstance(value, int | float) and not isinstance(value, bool) \
        else repr(value)


def pivot_records(spec: SweepSpec, rows: list[Any], cols: list[Any], cells: list[list[Any]]
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    p1, p2 = spec.parameters[0].label, spec.parameters[1].label
    header = f"{p1} \\ {p2}"
    columns = [header] + [str(c) for c in cols]
    out = []
    for level, line in zip(rows, cells, strict=True):
        record = {header: level}
        record.update({str(c): v for c, v in zip(cols, line, strict=True)})
        out.append(record)
    return out, columns


def decision_columns(instance: Instance) -> list[str]:
    return [f"first_signing.{s}" for s in site_ids(instance)]


def default_decision(spec: SweepSpec, instance: Instance) -> str | None:
    if spec.charts.decision:
        return spec.charts.decision
    columns = decision_columns(instance)
    return columns[0] if columns else None
