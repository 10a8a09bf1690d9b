"""Plans on disk: one directory, written under the output contract (optimizer.output_dir)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from models.plan import Plan
from optimizer.extract import PlanResult
from optimizer.output_dir import OutputClaim, check_output, resolve_file

PLAN_FILES = ("plan.json", "sites_monthly.csv", "cashflow_monthly.csv", "leases.csv", "fleet_monthly.csv",
              "debt_monthly.csv")
RUN_FILE = "run.json"
"""Wall-clock timings: useful, but never byte-stable, so kept out of plan.json."""
OWNED_FILES = (*PLAN_FILES, RUN_FILE)
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
    files[RUN_FILE] = json.dumps(run_info, indent=2, sort_keys=True) + "\n"
    return files


def claim_plan_dir(directory: str | Path, *, force: bool = False) -> OutputClaim:
    """The plan directory, checked, created and locked (optimizer.output_dir): enter it
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


def read_table(directory: str | Path, name: str) -> pd.DataFrame:
    return pd.read_csv(resolve_file(directory, name))
