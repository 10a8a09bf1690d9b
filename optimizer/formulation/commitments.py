"""Commitments (models.commitments): pinned decisions become bounds on their variables.

Bounds, not Pyomo's ``fix()``: a bounded variable stays a HiGHS column, so the first plan's
dive, the narrowing (which reads the columns' bounds) and the extraction see it like any
other; HiGHS's presolve removes it. A signing pins the cumulative 'signed by' binaries
z[phase, t] (formulation.ai_phases): in month m means z = 0 before m and 1 from m on; by m,
z[m] = 1; not before m, z[m - 1] = 0; never, z = 0 throughout. Sizes are pinned on the
order, lot, sale, hall, note and equity columns, and ``unlisted: none`` pins every other
column of those kinds to 0.
"""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.models.commitments import Commitments
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext


def add_commitments(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    c = ctx.instance.commitments
    if c is None or c.empty:
        return
    _pin_signings(ctx, c)
    index = ctx.calendar.index
    lots = {g.id: g.purchase.lot_mw for g in ctx.instance.fleet if g.purchase is not None}

    orders = {}
    for o in c.fleet_orders:
        lot = lots.get(o.generation)
        orders[(o.generation, index(o.month))] = round(o.mw / lot) if lot else o.mw
    _pin(model.fleet_ordered_mw, orders, c.unlisted)
    _pin(model.fleet_lots, orders, c.unlisted)
    _pin(model.fleet_sold_mw, {(s.generation, index(s.month)): s.mw for s in c.fleet_sales}, c.unlisted)
    if hasattr(model, "hall_built_mw"):
        _pin(model.hall_built_mw, {(h.site, index(h.month)): h.mw for h in c.hall_builds}, c.unlisted)
    if hasattr(model, "notes_issued"):
        _pin(model.notes_issued, {(n.program, index(n.month)): n.usd / USD_PER_MODEL_UNIT
                                  for n in c.notes_issued}, c.unlisted)
    if hasattr(model, "equity_issued"):
        _pin(model.equity_issued, {index(e.month): e.usd / USD_PER_MODEL_UNIT for e in c.equity_issued},
             c.unlisted)


def _pin(var: pyo.Var, values: dict, unlisted: str) -> None:
    """Bound the listed members of ``var`` to their value; the others to 0 when unlisted is none.

    Validation (models.loader_commitments) has checked that each listed key is in the
    variable's window, so a key missing here belongs to another variable (lots vs. MW)."""
    for key in var:
        value = values.get(key)
        if value is None and unlisted == "none":
            value = 0.0
        if value is not None:
            # A plan's sizes are written rounded (models.plan): a limit met exactly may be
            # exceeded by the rounding, which must not make the commitment infeasible.
            lower, upper = var[key].bounds
            value = min(max(value, lower if lower is not None else value),
                        upper if upper is not None else value)
            var[key].setlb(value)
            var[key].setub(value)


def _pin_signings(ctx: BuildContext, c: Commitments) -> None:
    z = ctx.signed_by.z
    index = ctx.calendar.index
    rules = {(s.site, s.phase): s for s in c.signings}
    for window in ctx.phase_windows:
        if not window.signable:
            continue
        site, phase = window.key
        for t, (lower, upper) in _signing_bounds(rules.get(window.key), c.unlisted, index,
                                                  window.first, window.last).items():
            z[site, phase, t].setlb(lower)
            z[site, phase, t].setub(upper)


def _signing_bounds(rule, unlisted: str, index, first: int, last: int) -> dict[int, tuple[float, float]]:
    """Bounds of z[t] for t in first..last that a signing commitment implies (none: free)."""
    out: dict[int, tuple[float, float]] = {}
    if rule is None:
        return {t: (0.0, 0.0) for t in range(first, last + 1)} if unlisted == "none" else out
    earliest, latest = first, None  # signed not before month earliest, by month latest
    if rule.never:
        earliest = last + 1
    if rule.in_month is not None:
        earliest = latest = index(rule.in_month)
    if rule.by_month is not None:
        latest = min(index(rule.by_month), last)
    if rule.not_before_month is not None:
        earliest = max(earliest, index(rule.not_before_month))
    for t in range(first, last + 1):
        if t < earliest:
            out[t] = (0.0, 0.0)
        elif latest is not None and t >= latest:
            out[t] = (1.0, 1.0)
    return out
