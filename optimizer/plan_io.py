"""Plans on disk: one directory, written atomically (temp directory + rename)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from models.plan import Plan
from optimizer.extract import PlanResult

PLAN_FILES = ("plan.json", "sites_monthly.csv", "cashflow_monthly.csv", "leases.csv", "fleet_monthly.csv",
              "debt_monthly.csv")
RUN_FILE = "run.json"
"""Wall-clock timings: useful, but never byte-stable, so kept out of plan.json."""


def _csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def write_plan_dir(result: PlanResult, directory: str | Path, run_info: dict[str, Any]) -> Path:
    """Write the plan directory so that a reader sees the old one or the new one, never half."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (staging / "plan.json").write_text(result.plan.model_dump_json(indent=2) + "\n")
        (staging / "sites_monthly.csv").write_text(_csv_text(result.sites_monthly))
        (staging / "cashflow_monthly.csv").write_text(_csv_text(result.cashflow_monthly))
        (staging / "leases.csv").write_text(_csv_text(result.leases))
        if result.fleet_monthly is not None:
            (staging / "fleet_monthly.csv").write_text(_csv_text(result.fleet_monthly))
        if result.debt_monthly is not None:
            (staging / "debt_monthly.csv").write_text(_csv_text(result.debt_monthly))
        (staging / RUN_FILE).write_text(json.dumps(run_info, indent=2, sort_keys=True) + "\n")
        for file in staging.iterdir():
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
        os.chmod(staging, 0o755)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.rmdir(retired)
            os.rename(target, retired)
            os.rename(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


class PlanDirError(Exception):
    """A plan directory that cannot be read."""


def read_plan(directory: str | Path) -> Plan:
    path = Path(directory)
    file = path / "plan.json" if path.is_dir() else path
    if not file.is_file():
        raise PlanDirError(f"{directory}: no plan.json found (is this a plan directory?)")
    try:
        return Plan.model_validate_json(file.read_text())
    except ValueError as error:
        raise PlanDirError(f"{file}: not a capalloc plan: {error}") from None


def read_table(directory: str | Path, name: str) -> pd.DataFrame:
    return pd.read_csv(Path(directory) / name)
