"""Plans on disk: one directory, written under the output contract (optimizer.outputs.output_dir)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from capalloc.models.instance import Instance
from capalloc.models.plan import Plan
from capalloc.optimizer import __version__
from capalloc.optimizer.outputs.extract import PlanResult
from capalloc.optimizer.outputs.output_dir import (
    OutputClaim,
    OutputDirError,
    check_output,
    read_marker,
    resolve_file,
)

PLAN_FILES = ("plan.json", "sites_monthly.csv", "cashflow_monthly.csv", "leases.csv", "fleet_monthly.csv",
              "debt_monthly.csv")
INSTANCE_FILE = "instance.json"
"""The validated instance, series expanded: what explain, evaluate and report re-read."""
RUN_FILE = "run.json"
"""Wall-clock timings: useful, but never byte-stable, so kept out of plan.json."""
REPORT_FILES = ("report.html", "plan.xlsx")
"""What `capalloc report` adds to a plan directory; a new solve there removes them (stale)."""
EXPLAIN_FILE = "explain.json"
"""Written by `capalloc explain` beside the plan (optimizer.analysis); a new solve removes it."""
OWNED_FILES = (*PLAN_FILES, INSTANCE_FILE, RUN_FILE, *REPORT_FILES, EXPLAIN_FILE)
"""Every file capalloc writes in a plan directory: all it may replace there."""


def _csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def plan_files(result: PlanResult, run_info: dict[str, Any]) -> dict[str, str]:
    """Every file of a plan directory by name, as text."""
    files = {
        "plan.json": result.plan.model_dump_json(indent=2) + "\n",
        "sites_monthly.csv": _csv_text(result.sites_monthly),
        "cashflow_monthly.csv": _csv_text(result.cashflow_monthly),
        "leases.csv": _csv_text(result.leases),
    }
    # Tables only some plans have: the fleet (issue 13) and the debt instruments (issue 14).
    for name in ("fleet_monthly", "debt_monthly"):
        table = getattr(result, name, None)
        if table is not None:
            files[f"{name}.csv"] = _csv_text(table)
    if result.instance is not None:
        files[INSTANCE_FILE] = result.instance.model_dump_json(indent=2) + "\n"
    files[RUN_FILE] = json.dumps(run_info, indent=2, sort_keys=True) + "\n"
    return files


def claim_plan_dir(directory: str | Path, *, force: bool = False) -> OutputClaim:
    """The plan directory, checked, created and locked (optimizer.outputs.output_dir): enter it
    before solving, ``commit`` the plan into it after."""
    return OutputClaim(directory, "plan", OWNED_FILES, force=force)


def check_plan_dir(directory: str | Path, *, force: bool = False) -> None:
    """Raise OutputDirError unless a plan may be written there; touches nothing."""
    check_output(directory, "plan", OWNED_FILES, force=force)


def write_plan_dir(result: PlanResult, directory: str | Path, run_info: dict[str, Any], *,
                   force: bool = False, claim: OutputClaim | None = None) -> Path:
    """Write the plan directory so that a reader sees the old one or the new one, never half.

    Only into a new or empty folder or a plan directory capalloc wrote (``force``: also one
    without the marker); anything else raises OutputDirError and is left untouched."""
    if claim is not None:
        return claim.commit(plan_files(result, run_info))
    with claim_plan_dir(directory, force=force) as fresh:
        return fresh.commit(plan_files(result, run_info))


class PlanDirError(Exception):
    """A plan directory that cannot be read."""


def read_plan(directory: str | Path) -> Plan:
    path = Path(directory)
    file = resolve_file(path, "plan.json") if path.is_dir() else path
    if not file.is_file():
        raise PlanDirError(f"{directory}: no plan.json found (is this a plan directory?)")
    try:
        return Plan.model_validate_json(file.read_text())
    except ValueError as error:
        raise PlanDirError(f"{file}: not a capalloc plan: {error}") from None


@dataclass(frozen=True)
class PlanDir:
    """A plan directory written by this capalloc: its plan and the instance it solves."""

    path: Path
    plan: Plan
    instance: Instance


def open_plan_dir(directory: str | Path) -> PlanDir:
    """The plan directory a plan command (explain, evaluate, report) reads, or PlanDirError
    saying what is wrong and what to do: a missing folder, a sweep folder, a plan written by
    another capalloc version (its numbers may follow other rules), or one without its instance."""
    path = Path(directory)
    if not path.exists():
        raise PlanDirError(f"{directory}: no such plan directory; give the -o folder of a `capalloc solve`")
    if not path.is_dir():
        raise PlanDirError(f"{directory}: is a file, not a plan directory; give the -o folder of a "
                           "`capalloc solve`")
    try:
        kind = read_marker(path)
    except OutputDirError as error:
        raise PlanDirError(str(error)) from None
    if kind == "sweep":
        raise PlanDirError(f"{directory}: is a sweep folder, not a plan directory; give one plan's folder "
                           "(or use the sweep commands)")
    plan = read_plan(path)
    if plan.provenance.capalloc_version != __version__:
        raise PlanDirError(
            f"{directory}: was written by capalloc {plan.provenance.capalloc_version}, this is capalloc "
            f"{__version__}; re-solve the instance with this version (`capalloc solve`)")
    file = resolve_file(path, INSTANCE_FILE)
    if not file.is_file():
        raise PlanDirError(f"{directory}: has no {INSTANCE_FILE} (written before plans carried their "
                           "instance); re-solve the instance with `capalloc solve`")
    try:
        instance = Instance.model_validate_json(file.read_text())
    except ValueError as error:
        raise PlanDirError(f"{file}: not a capalloc instance: {error}") from None
    return PlanDir(path, plan, instance)


def read_table(directory: str | Path, name: str) -> pd.DataFrame:
    return pd.read_csv(resolve_file(directory, name))
