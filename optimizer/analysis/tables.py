"""The terminal view of explain.json and of a set of alternatives (rich tables)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from capalloc.optimizer.outputs.report import usd


def _money(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{usd(value)}{unit}"


def _threshold(entry: dict[str, Any] | None, fmt: str) -> Text:
    """The value and how it was found; the notes are printed under the table."""
    if entry is None:
        return Text("-")
    if entry["value"] is None:
        return Text("none")
    return Text(f"{format(entry['value'], fmt)} ({entry['method']})")


def print_explain(console: Console, data: dict[str, Any]) -> None:
    console.print(Text(f"{data['instance_name']}: plan NPV {usd(data['plan_npv_usd'])}, with its integer "
                       f"decisions held the LP gives {usd(data['held_lp_npv_usd'])}"))
    power = Table(title="Value of 1 MW more contracted power (NPV per MW, decisions held)",
                  box=box.SIMPLE_HEAD)
    for column in ("site", "year", "per MW", "power rows", "fixed charge", "binding months"):
        power.add_column(column, justify="left" if column == "site" else "right")
    for row in data["contracted_power"]:
        power.add_row(Text(row["site"]), str(row["year"]), _money(row["value_usd_per_mw"]),
                      _money(row["capacity_usd_per_mw"]), _money(row["fixed_charge_usd_per_mw"]),
                      str(row["binding_months"]))
    console.print(power)
    liquidity = data["liquidity"]
    months = sorted(liquidity["months"], key=lambda m: -m["value_usd_per_usd"])[:6]
    shown = ", ".join(f"{m['month']} ({m['scenario']}) {m['value_usd_per_usd']:.4f}" for m in months)
    total = liquidity["total_usd_per_usd"]
    console.print(Text(f"Liquidity: $1 less minimum cash in every month is worth ${total:.4f} of NPV; "
                       f"the dearest months: {shown or 'none'}"))
    if data["signing_capacity"]:
        cap = Table(title="Yearly signing capacity", box=box.SIMPLE_HEAD)
        for column in ("year", "cap MW", "signed MW", "NPV per MW more", "blocked moves"):
            cap.add_column(column, justify="left" if column == "blocked moves" else "right")
        for row in data["signing_capacity"]:
            cap.add_row(str(row["year"]), f"{row['cap_mw']:g}", f"{row['signed_mw']:g}",
                        _money(row["value_usd_per_mw"]), Text("; ".join(row["blocked_moves"]) or "-"))
        console.print(cap)
    phases = Table(title="Phases (thresholds: other decisions held; now/never: MIP re-solves)",
                   box=box.SIMPLE_HEAD)
    for column in ("phase", "signed", "status", "lease >= $/kW-mo", "capex <= $/MW", "NPV now", "NPV never"):
        phases.add_column(column, overflow="fold")
    notes = []
    for row in data["phases"]:
        now, never = row["sign_now"], row["never"]
        label = f"{row['site']}/{row['phase']}"
        lease, capex = row["lease_threshold_usd_per_kw_month"], row["capex_threshold_usd_per_mw_it"]
        phases.add_row(Text(label), row["signed_month"] or "-", Text(row["status"]),
                       _threshold(lease, ",.2f"), _threshold(capex, ",.0f"),
                       _money(now["npv_usd"]) if now else "-", _money(never["npv_usd"]) if never else "-")
        said = [row["note"]] if row["note"] else []
        said += [f"{what}: {entry['note']}" for what, entry in (("lease", lease), ("capex", capex))
                 if entry and entry["note"]]
        if said:
            notes.append(f"  {label}: " + "; ".join(said))
    console.print(phases)
    for note in notes:
        console.print(Text(note))


def print_alternatives(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="Near-optimal alternatives", box=box.SIMPLE_HEAD)
    for column in ("plan", "NPV (audited)", "below optimum", "months apart (min)", "signings"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(Text(row["name"]), usd(row["npv_usd"]), f"{row['gap_to_optimum_pct']:.3f} %",
                      Text(str(row["min_distance"]) if row["min_distance"] is not None else "-"),
                      Text(", ".join(row["signings"]) or "nothing signed"))
    console.print(table)
