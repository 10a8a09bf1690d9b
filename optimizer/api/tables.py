"""capalloc.PlanTables: a solved plan with its tables as pandas DataFrames."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from capalloc.optimizer.outputs.extract import PlanResult


@dataclass
class PlanTables(PlanResult):
    """A plan with its tables as DataFrames: the PlanResult a solve extracts (``plan``, the
    pydantic Plan of plan.json; ``sites_monthly``, ``cashflow_monthly`` in USD with outflows
    negative, ``leases``, and ``fleet_monthly``/``debt_monthly`` where the instance has fleet
    decisions or debt; ``instance``), plus ``out_dir`` when a plan directory was written or
    read, the stage ``timings_seconds``, and ``kpis`` with one row per scenario."""

    out_dir: Path | None = None
    timings_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def npv_usd(self) -> float:
        return self.plan.npv_usd

    @property
    def status(self) -> str:
        return self.plan.solver.status

    @property
    def kpis(self) -> pd.DataFrame:
        return pd.DataFrame([k.model_dump() for k in self.plan.kpis])
