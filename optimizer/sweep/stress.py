"""The stress design: a committed plan run across a grid of shocks (``capalloc evaluate`` at
every point). Each point's instance gets the plan's decisions as its commitments; the worker
re-optimizes operations and, where the floor cannot be held, reports the shortfall and the
least extra starting cash that cures it; every point reports the highest floor it can hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capalloc.models.instance import Instance
from capalloc.models.loader import InstanceError, Problem
from capalloc.models.plan import Plan
from capalloc.models.sweep import SweepSpec, SweepSpecError

STRESS_COLUMNS = ("short_months", "first_short_month", "worst_shortfall_usd", "worst_short_month",
                  "extra_starting_cash_usd", "highest_floor_usd")
"""Metric columns of a stress row (after the design's usual ones)."""


@dataclass
class StressPlan:
    """The plan a stress design holds fixed, with the instance it was solved from."""

    plan: Plan
    instance: Instance
    sha256: str

    def commit(self, instance: Instance, source: str) -> Instance:
        """A point's instance with the plan's decisions as its commitments; InstanceError
        naming what differs or which decision the point cannot make."""
        from capalloc.optimizer.analysis.evaluate import EvaluateError, committed_instance

        try:
            return committed_instance(self.plan, self.instance, instance)
        except EvaluateError as error:
            raise InstanceError(source, error.problems) from None


def open_stress_plan(spec: SweepSpec, plan_path: Path | None, source: str) -> StressPlan:
    from capalloc.optimizer.outputs.plan_io import PlanDirError, open_plan_dir

    if plan_path is None:
        raise SweepSpecError(source, [Problem("plan", "a stress design needs the plan directory")])
    try:
        opened = open_plan_dir(plan_path)
    except PlanDirError as error:
        raise SweepSpecError(source, [Problem("plan", str(error), "the path is relative to the spec "
                                              "file's folder")]) from None
    digest = hashlib.sha256(opened.plan.model_dump_json().encode()).hexdigest()
    return StressPlan(opened.plan, opened.instance, digest)


def stress_metrics(evaluation: Any | None, highest_floor_usd: float | None) -> dict[str, Any]:
    """The stress columns of a row: ``evaluation`` (optimizer.analysis.evaluate.Evaluation) where the
    floor cannot be held, None where it holds."""
    out: dict[str, Any] = dict.fromkeys(STRESS_COLUMNS)
    out["highest_floor_usd"] = highest_floor_usd
    if evaluation is None:
        out["short_months"], out["extra_starting_cash_usd"] = 0, 0.0
        return out
    short = evaluation.shortfalls
    out["short_months"] = len(short)
    if short:
        worst = max(short, key=lambda s: s.usd)
        out["first_short_month"] = min(s.month for s in short)
        out["worst_shortfall_usd"], out["worst_short_month"] = worst.usd, worst.month
    out["extra_starting_cash_usd"] = evaluation.extra_starting_cash_usd
    return out


def stress_message(evaluation: Any) -> str:
    short = evaluation.shortfalls
    months = ", ".join(sorted({s.month for s in short})[:6]) + (" ..." if len(short) > 6 else "")
    cash = evaluation.extra_starting_cash_usd
    return (f"the floor of ${evaluation.floor_usd:,.0f} breaks in {len(short)} month(s): {months}; "
            f"cure: ${cash:,.0f} more starting cash" if cash is not None else
            f"the floor of ${evaluation.floor_usd:,.0f} breaks in {len(short)} month(s): {months}")
