"""Per phase: what would make it be signed earlier, and what signing it now or never is worth.

- Thresholds (optimizer.analysis.thresholds) compare the plan with the phase moved one
  month earlier (unsigned: signed in its best month), every other integer decision held.
- "Now" and "never" are whole MIP re-solves (solve pipeline, the same settings as a plain
  solve) with that phase's 'signed by' binaries bounded on a fresh model of our own: now =
  signed in the first month it may be signed (the phases before it at the site follow by
  the ordering rule), never = not signed in the horizon (nor, by the same rule, the phases
  after it at its site).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pyomo.core as pyo

from capalloc.models.instance import Instance
from capalloc.optimizer.analysis.fixed_lp import Assignment, FixedLP
from capalloc.optimizer.analysis.thresholds import (
    CANDIDATES_UNSIGNED,
    KNOBS,
    REFINED_UNSIGNED,
    PhaseThresholds,
    Threshold,
    ThresholdFinder,
)
from capalloc.optimizer.formulation import build_model
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.solving.solve import SolveSettings, run_highs

CAP_ROWS = ("signing_cap", "signing_count")


def previous_phase(lp: FixedLP, key: tuple[str, str]) -> tuple[str, str] | None:
    window = lp.windows[key]
    for other in lp.windows.values():
        if other.site == window.site and other.order == window.order - 1:
            return other.key
    return None


def _order_allows(lp: FixedLP, assignment: Assignment, key, month: int) -> bool:
    before = previous_phase(lp, key)
    if before is None:
        return True
    signed = assignment.get(before)
    return signed is not None and signed <= month


def thresholds_for(lp: FixedLP, plan: Assignment, finder: ThresholdFinder) -> list[PhaseThresholds]:
    """Every late or unsigned signable phase's lease and capex thresholds."""
    labels = lp.built.context.calendar.labels
    out = []
    for key, window in lp.windows.items():
        month = plan.get(key)
        if not window.signable or (month is not None and month <= window.first):
            continue
        if month is not None:
            out.append(_late(lp, plan, finder, key, month - 1, labels))
        else:
            out.append(_unsigned(lp, plan, finder, key, labels))
    lp.reset_scales()
    return out


def _moved(plan: Assignment, key, month: int) -> Assignment:
    return {**plan, key: month}


def _blocked(lp: FixedLP, plan: Assignment, moved: Assignment, key, month: int,
             result: PhaseThresholds) -> bool:
    """Whether the move is infeasible with the others held; says why in ``result``."""
    lp.hold(moved)
    if lp.solve().feasible:
        return False
    relaxed = lp.solve(CAP_ROWS)
    year = lp.built.context.calendar.years[month]
    if relaxed.feasible:
        lp.hold(plan)
        base = lp.solve()
        gain = relaxed.npv_usd - base.npv_usd
        result.note = (f"signing in {lp.built.context.calendar.labels[month]} needs signing capacity in "
                       f"{year} (signing_cap_mw_per_year)")
        result.blocked_by_cap = (year, gain, lp.windows[key].phase.critical_it_mw)
    else:
        result.note = (f"signing in {lp.built.context.calendar.labels[month]} breaks a limit (liquidity "
                       "floor, power, covenant) with the other decisions held")
    return True


def _late(lp, plan, finder, key, month: int, labels) -> PhaseThresholds:
    """A signed phase: the rates at which some earlier month beats the plan's."""
    result = PhaseThresholds(key[0], key[1], "late", labels[month])
    if not _order_allows(lp, plan, key, month):
        result.note = "the phase before it at the site is signed in the same month (phases sign in order)"
        return result
    _blocked(lp, plan, _moved(plan, key, month), key, month, result)
    window = lp.windows[key]
    months = [m for m in range(window.first, month + 1) if _order_allows(lp, plan, key, m)]
    return _best_crossings(lp, plan, finder, key, months, labels, result)


def _unsigned(lp, plan, finder, key, labels) -> PhaseThresholds:
    """An unsigned phase: the rates at which signing it in some month beats the plan."""
    window = lp.windows[key]
    months = [m for m in range(window.first, window.last + 1) if _order_allows(lp, plan, key, m)]
    result = PhaseThresholds(key[0], key[1], "unsigned", None)
    if not months:
        result.note = "the phase before it at the site is never signed (phases sign in order)"
        return result
    return _best_crossings(lp, plan, finder, key, months, labels, result)


def _best_crossings(lp, plan, finder, key, months: list[int], labels, result: PhaseThresholds
                    ) -> PhaseThresholds:
    """Over the candidate months (evenly thinned), the lowest lease rate and the highest
    capex at which signing in one of them beats the plan. Each month's linear estimate
    (from the reduced-cost slopes) ranks it; the best few are refined exactly."""
    stride = max(1, -(-len(months) // CANDIDATES_UNSIGNED))
    candidates = months[::-1][::stride][::-1]  # the month next to the plan's is always tried
    lp.hold(plan)
    base = lp.solve()
    estimates: dict[str, list[tuple[float, int]]] = {"lease": [], "capex": []}
    infeasible = 0
    for month in candidates:
        lp.hold(_moved(plan, key, month))
        moved = lp.solve()
        if not moved.feasible:
            infeasible += 1
            continue
        for kind in estimates:
            knob = KNOBS[kind]
            step = finder.slopes.slope_usd(knob, key, moved) - finder.slopes.slope_usd(knob, key, base)
            if step != 0.0:
                estimates[kind].append((1.0 + (base.npv_usd - moved.npv_usd) / step, month))
            elif moved.npv_usd >= base.npv_usd:
                estimates[kind].append((1.0, month))
    for kind, pick in (("lease", min), ("capex", max)):
        # Signing earlier pays from a high enough lease rate (the lowest crossing over the
        # months) or a low enough capex (the highest crossing).
        found = [(f, m) for f, m in estimates[kind] if f >= 0.0]
        found.sort(reverse=pick is max)
        exact = []
        for _, month in found[:REFINED_UNSIGNED]:
            threshold = finder.crossing(kind, key, _moved(plan, key, month))
            if threshold.factor is not None:
                exact.append((threshold, month))
        if exact:
            threshold, month = pick(exact, key=lambda item: item[0].factor)
            threshold.note = f"signed in {labels[month]}" + (f"; {threshold.note}" if threshold.note else "")
            setattr(result, kind, threshold)
        elif infeasible == len(candidates):
            setattr(result, kind, Threshold(None, "none", "no month tried is feasible with the other "
                                                          "decisions held"))
        else:
            setattr(result, kind, Threshold(None, "none", "no month's signing beats the plan at any rate"))
    if infeasible and not result.note:
        result.note = f"{infeasible} of {len(candidates)} months tried break a limit with the others held"
    return result


@dataclasses.dataclass
class WhatIf:
    label: str  # "now" or "never"
    month: str | None
    npv_usd: float | None
    status: str
    signings: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, "npv_usd": None if self.npv_usd is None else round(self.npv_usd, 2),
                "status": self.status, "signings": self.signings}


def what_if(instance: Instance, key: tuple[str, str], now: bool, settings: SolveSettings) -> WhatIf:
    """Re-solve the MIP with the phase signed in its first month (``now``) or never."""
    built = build_model(instance)
    window = next(w for w in built.context.phase_windows if w.key == key)
    z = built.model.signed_by
    month = window.first if now else None
    for t in range(window.first, window.last + 1):
        value = 1.0 if now else 0.0  # signed by its first month: signed by every later one too
        z[key[0], key[1], t].setlb(value)
        z[key[0], key[1], t].setub(value)
    run = run_highs(built, settings)
    if run.interrupted:
        raise KeyboardInterrupt
    label = "now" if now else "never"
    labels = built.context.calendar.labels
    month_label = labels[month] if month is not None else None
    if not run.has_solution:
        status = run.termination
        if status in ("provenInfeasible", "infeasibleOrUnbounded"):
            status = "infeasible: no plan signs it so (signing cap, phase order, cash floor)"
        return WhatIf(label, month_label, None, status, [])
    model = built.model
    signings = []
    for w in built.context.phase_windows:
        if not w.signable:
            continue
        signed = next((t for t in range(w.first, w.last + 1) if pyo.value(z[w.site, w.phase.id, t]) > 0.5),
                      None)
        if signed is not None:
            signings.append(f"{w.site}/{w.phase.id} {labels[signed]}")
    npv = pyo.value(model.npv_without_tie_break) * USD_PER_MODEL_UNIT
    status = "optimal" if run.optimal else run.termination
    if run.gap is not None and not run.optimal:
        status += f" (gap {run.gap:.3%})"
    return WhatIf(label, month_label, npv, status, signings)


def what_ifs(instance: Instance, plan: Assignment, lp: FixedLP, settings: SolveSettings, plan_npv: float,
             on_step: Callable[[str], None] | None = None) -> dict[tuple[str, str], dict[str, WhatIf]]:
    """Now and never for every signable phase (the plan's own choice is not re-solved)."""
    labels = lp.built.context.calendar.labels
    out = {}
    for key, window in lp.windows.items():
        if not window.signable:
            continue
        pair = {}
        for now in (True, False):
            if (now and plan.get(key) == window.first) or (not now and plan.get(key) is None):
                month = labels[window.first] if now else None
                signings = [f"{k[0]}/{k[1]} {labels[m]}" for k, m in plan.items() if m is not None]
                pair["now" if now else "never"] = WhatIf("now" if now else "never", month, plan_npv,
                                                         "the plan", signings)
                continue
            if on_step:
                on_step(f"{key[0]}/{key[1]}: {'sign now' if now else 'never sign'}")
            pair["now" if now else "never"] = what_if(instance, key, now, settings)
        out[key] = pair
    return out
