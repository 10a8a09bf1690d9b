"""`capalloc explain`: a plan's shadow prices and what-ifs, as explain.json and a table."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capalloc.optimizer import __version__
from capalloc.optimizer.analysis.fixed_lp import FixedLP, FixedLPError, plan_assignment, plan_lots
from capalloc.optimizer.analysis.phases import thresholds_for, what_ifs
from capalloc.optimizer.analysis.prices import liquidity_values, power_values, signing_capacity
from capalloc.optimizer.analysis.thresholds import PhaseThresholds, Threshold, ThresholdFinder
from capalloc.optimizer.outputs.output_dir import STAGING_PREFIX, OutputClaim
from capalloc.optimizer.outputs.plan_io import EXPLAIN_FILE, OWNED_FILES, PlanDir, PlanDirError
from capalloc.optimizer.solving.solve import SolveSettings

CONVENTIONS = {
    "contracted_power.value_usd_per_mw": (
        "NPV gained (USD) by 1 MW more energized contracted power at the site through that calendar "
        "year, every integer decision of the plan held: the site-power rows' duals less the fixed "
        "power charge the MW would pay. Positive: the MW is worth having; 0: the site has spare power."),
    "liquidity.value_usd_per_usd": (
        "NPV gained (USD) per $1 the minimum cash is lowered in that month only (the reduced cost of "
        "the month's cash at the floor, sign flipped): >= 0; 0 where cash sits above the floor."),
    "signing_capacity.value_usd_per_mw": (
        "NPV gained per MW of more yearly signing capacity: the best gain per phase MW of a one-month-"
        "earlier signing that only the cap blocks, other decisions held (by re-solving); 0 when none."),
    "phases.lease_threshold_usd_per_kw_month": (
        "Lease rate at or above which the phase is worth signing one month earlier (unsigned: at all, "
        "in the month named), every other decision held; capex_threshold_usd_per_mw_it: capex at or "
        "below which the same holds."),
    "phases.npv_sign_now_usd / npv_never_usd": (
        "Optimal NPV (MIP re-solve) with the phase signed in its first allowed month / never signed."),
}


def _usd(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _threshold(threshold: Threshold | None, base: float) -> dict[str, Any] | None:
    if threshold is None:
        return None
    value = None if threshold.factor is None else round(float(threshold.factor) * base, 6)
    return {"value": value, "method": threshold.method, "note": threshold.note, "lp_solves": threshold.solves}


def explain_plan(plan_dir: PlanDir, settings: SolveSettings | None = None, *, resolves: bool = True,
                 on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Everything explain.json holds, computed from the plan directory's plan and instance."""
    instance, plan = plan_dir.instance, plan_dir.plan
    settings = settings or SolveSettings.from_instance(instance)
    lp = FixedLP(instance)
    try:
        assignment = plan_assignment(plan, lp.built)
        lp.set_lots(plan_lots(plan, lp.built))
    except (FixedLPError, KeyError, IndexError) as error:
        raise PlanDirError(f"{plan_dir.path}: its plan does not fit its instance.json ({error}); "
                           "re-solve the instance") from None
    lp.hold(assignment)
    held = lp.solve()
    if not held.feasible:
        raise PlanDirError(f"{plan_dir.path}: its plan's decisions leave no feasible plan under its "
                           "instance.json; re-solve the instance")
    if on_step:
        on_step("shadow prices")
    power = power_values(lp, held)
    liquidity = liquidity_values(lp, held)
    finder = ThresholdFinder(lp, assignment)
    phases = thresholds_for(lp, assignment, finder)
    blocked: dict[int, list[tuple[str, float, float]]] = {}
    for p in phases:
        if p.blocked_by_cap is not None and p.blocked_by_cap[1] > 0:
            year, gain, mw = p.blocked_by_cap
            blocked.setdefault(year, []).append((f"{p.site}/{p.phase}", gain, mw))
    capacity = signing_capacity(lp, assignment, blocked)
    whatif = what_ifs(instance, assignment, lp, settings, plan.npv_usd, on_step) if resolves else {}
    labels = lp.built.context.calendar.labels
    by_key = {(p.site, p.phase): p for p in phases}
    phase_rows = []
    for key, window in lp.windows.items():
        month = assignment.get(key)
        found: PhaseThresholds | None = by_key.get(key)
        status = ("cannot be signed in the horizon" if not window.signable else
                  "unsigned" if month is None else "signed at the earliest" if month <= window.first
                  else "late")
        pair = whatif.get(key, {})
        phase_rows.append({
            "site": key[0], "phase": key[1], "critical_it_mw": window.phase.critical_it_mw,
            "signed_month": labels[month] if month is not None else None, "status": status,
            "earlier_month": found.earlier_month if found else None,
            "lease_usd_per_kw_month": window.phase.lease_usd_per_kw_month,
            "lease_threshold_usd_per_kw_month": _threshold(found.lease if found else None,
                                                           window.phase.lease_usd_per_kw_month),
            "capex_usd_per_mw_it": window.phase.capex_usd_per_mw_it,
            "capex_threshold_usd_per_mw_it": _threshold(found.capex if found else None,
                                                         window.phase.capex_usd_per_mw_it),
            "note": found.note if found else "",
            "sign_now": pair["now"].as_dict() if "now" in pair else None,
            "never": pair["never"].as_dict() if "never" in pair else None,
        })
    return {
        "capalloc_version": __version__,
        "instance_name": instance.name,
        "instance_sha256": plan.provenance.instance_sha256,
        "plan_npv_usd": plan.npv_usd,
        "held_lp_npv_usd": _usd(held.npv_usd),
        "conventions": CONVENTIONS,
        "contracted_power": [p.as_dict() for p in power],
        "liquidity": {
            "total_usd_per_usd": round(sum(v.value_usd_per_usd for v in liquidity), 9),
            "months": [v.as_dict() for v in liquidity if v.value_usd_per_usd != 0.0],
        },
        "signing_capacity": [c.as_dict() for c in capacity],
        "phases": phase_rows,
    }


def add_files(directory: Path, files: dict[str, str]) -> None:
    """Put files into a folder whose lock the caller holds, each atomically: staged in a
    .staging- folder (which capalloc's recovery removes if a kill leaves it) and renamed
    into place; the folder's other files stay as they are."""
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    try:
        for name, text in sorted(files.items()):
            target = staging / name
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(target, 0o644)
            os.replace(target, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_explain(directory: Path, data: dict[str, Any]) -> Path:
    """Add explain.json to the plan directory, under the folder's lock; the plan's own files
    stay as they are."""
    with OutputClaim(directory, "plan", OWNED_FILES) as claim:
        claim.commit({EXPLAIN_FILE: json.dumps(data, indent=2) + "\n"}, keep_others=True)
    return directory / EXPLAIN_FILE
