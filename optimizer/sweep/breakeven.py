"""Break-even search: the value of one parameter at which a decision of the optimal plan flips.

The parameter (a path as in sweep specs; every value it names is set to the trial value) is
bisected between LO and HI, re-solving at each midpoint with a PointSolver, until the bracket
is no wider than the tolerance. Decisions:

- ``signed:SITE/PHASE``: the phase is signed at all;
- ``signed_by:SITE/PHASE:YYYY-MM``: it is signed no later than that month;
- ``npv_positive``: the plan's NPV is above zero.

A point without a plan (infeasible, time limit) counts as its own state. Bisection finds one
flip; if the decision flips more than once inside the range it reports one of them. Near the
flip the two decisions' NPVs are close, so a MIP gap larger than their difference can blur the
answer: use ``--mip-gap 0`` for a sharp break-even.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capalloc.models.common import MONTH_PATTERN, month_ordinal
from capalloc.models.instance import Instance
from capalloc.models.loader import InstanceError, Problem, load_instance, validate_instance_data
from capalloc.optimizer.sweep.paths import PathError, apply_level, resolve
from capalloc.optimizer.sweep.worker import PointSolver, ResultRow


class BreakevenError(InstanceError):
    """Bad break-even input, or a decision that does not differ at LO and HI (CLI exit 2)."""


@dataclass(frozen=True)
class Decision:
    text: str
    kind: str
    site: str = ""
    phase: str = ""
    month: str = ""

    def state(self, row: ResultRow) -> str:
        if not row.solved:
            return f"no plan ({row.status})"
        if self.kind == "npv_positive":
            return "NPV > 0" if (row.npv_usd or 0.0) > 0 else "NPV <= 0"
        signed = row.signing_month(self.site, self.phase)
        if self.kind == "signed":
            return f"signed ({signed})" if signed else "not signed"
        if signed and month_ordinal(signed) <= month_ordinal(self.month):
            return f"signed by {self.month}"
        return f"not signed by {self.month}"

    def key(self, row: ResultRow) -> str:
        """The state compared across the bracket (signing month details left out)."""
        state = self.state(row)
        return "signed" if state.startswith("signed (") else state


_DECISION = re.compile(r"^(signed|signed_by):([^/:]+)/([^/:]+)(?::(.+))?$")


def parse_decision(text: str, instance: Instance) -> Decision:
    source = "--watch"
    if text == "npv_positive":
        return Decision(text, "npv_positive")
    match = _DECISION.match(text)
    if not match:
        raise BreakevenError(source, [Problem("--watch", f"{text!r} is not a decision", (
            "use signed:SITE/PHASE, signed_by:SITE/PHASE:YYYY-MM or npv_positive"))])
    kind, site, phase, month = match.groups()
    sites = {s.id: s for s in instance.sites}
    if site not in sites:
        raise BreakevenError(source, [Problem("--watch", f"unknown site {site!r}",
                                              f"sites: {', '.join(sites)}")])
    phases = [p.id for p in sites[site].ai_phases]
    if phase not in phases:
        raise BreakevenError(source, [Problem("--watch", f"site {site} has no AI phase {phase!r}",
                                              f"phases: {', '.join(phases) or 'none'}")])
    if kind == "signed" and month:
        raise BreakevenError(source, [Problem("--watch", "signed takes no month",
                                              "use signed_by:SITE/PHASE:YYYY-MM")])
    if kind == "signed_by" and not (month and re.match(MONTH_PATTERN, month)):
        raise BreakevenError(source, [Problem("--watch", "signed_by needs a month YYYY-MM",
                                              "e.g. signed_by:georgia/phase1:2027-12")])
    return Decision(text, kind, site, phase, month or "")


@dataclass
class Step:
    value: float
    state: str
    npv_usd: float | None
    status: str


@dataclass
class BreakevenResult:
    param: str
    decision: str
    low: float
    high: float
    state_low: str
    state_high: str
    npv_low_usd: float | None
    npv_high_usd: float | None
    tolerance: float
    steps: list[Step] = field(default_factory=list)

    @property
    def value(self) -> float:
        return (self.low + self.high) / 2

    def as_dict(self) -> dict[str, Any]:
        return {"param": self.param, "decision": self.decision, "breakeven": self.value,
                "low": self.low, "high": self.high, "tolerance": self.tolerance,
                "state_low": self.state_low, "state_high": self.state_high,
                "npv_low_usd": self.npv_low_usd, "npv_high_usd": self.npv_high_usd,
                "solves": len(self.steps),
                "steps": [s.__dict__ for s in self.steps]}


class ParameterAt:
    """Instances of a base file with every value at ``param`` set to a trial value."""

    def __init__(self, instance_path: str | Path, param: str):
        self.path = Path(instance_path)
        self.base = load_instance(self.path)
        self.data = self.base.model_dump(mode="python")
        self.param = param
        try:
            targets = resolve(self.data, param)
        except (PathError, ValueError) as error:
            raise BreakevenError("--param", [Problem("--param", str(error))]) from None
        for target in targets:
            value = target.value
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            series = isinstance(value, dict) and value.get("kind") in ("growth", "csv")
            if not (numeric or series):
                raise BreakevenError("--param", [Problem("--param", (
                    f"{target.label} does not hold a number (a break-even needs a numeric "
                    "parameter)"))])
        self.integer = all(isinstance(t.value, int) and not isinstance(t.value, bool) for t in targets)

    def instance(self, value: float) -> Instance:
        data = copy.deepcopy(self.data)
        for target in resolve(data, self.param):
            apply_level(target, "value", value, sampled=True)
        return validate_instance_data(data, f"{self.path} with {self.param}={value:g}",
                                      base_dir=self.path.resolve().parent)


def find_breakeven(
    instance_path: str | Path, param: str, low: float, high: float, watch: str, *,
    tol: float | None = None, time_limit: float | None = None, mip_gap: float | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> BreakevenResult:
    """Bisect ``param`` in [low, high] until the value where ``watch`` flips is bracketed."""
    if not high > low:
        raise BreakevenError("--range", [Problem("--range", f"LO ({low:g}) must be below HI ({high:g})")])
    family = ParameterAt(instance_path, param)
    decision = parse_decision(watch, family.base)
    if family.integer:
        low, high = float(round(low)), float(round(high))
        tol = max(1.0, float(round(tol))) if tol is not None else 1.0
    elif tol is None:
        tol = (high - low) / 1000.0
    if not tol > 0:
        raise BreakevenError("--tol", [Problem("--tol", "must be > 0")])
    ends = {}
    for value in (low, high):  # both ends valid before any solve
        try:
            ends[value] = family.instance(value)
        except InstanceError as error:
            raise BreakevenError(error.source, error.problems) from None
    if time_limit is not None and not 0 < time_limit < math.inf:  # NaN fails this too
        raise BreakevenError("--time-limit", [Problem("--time-limit", "must be a finite number > 0 seconds")])
    if mip_gap is not None and not 0 <= mip_gap <= 1:
        raise BreakevenError("--mip-gap", [Problem("--mip-gap", "must be between 0 and 1 (0.001 = 0.1 %)")])
    solver = PointSolver(time_limit=time_limit, mip_gap=mip_gap)
    steps: list[Step] = []
    rows: dict[float, ResultRow] = {}

    def evaluate(value: float) -> str:
        instance = ends.get(value) or family.instance(value)
        row = solver.solve(f"v{len(steps)}", instance, {param: value})
        rows[value] = row
        step = Step(value, decision.state(row), row.npv_usd, row.status)
        steps.append(step)
        if on_step:
            on_step(step)
        return decision.key(row)

    key_low, key_high = evaluate(low), evaluate(high)
    if key_low == key_high:
        raise BreakevenError("--watch", [Problem("--watch", (
            f"{watch} is the same at LO={low:g} and HI={high:g}: {steps[0].state}"),
            "widen the range or watch another decision")])
    while high - low > tol:
        mid = (low + high) / 2
        if family.integer:
            mid = float(int((low + high) // 2))
            if mid in (low, high):
                break
        if evaluate(mid) == key_low:
            low = mid
        else:
            high = mid
    row_low, row_high = rows[low], rows[high]
    return BreakevenResult(param, watch, low, high, decision.state(row_low), decision.state(row_high),
                           row_low.npv_usd, row_high.npv_usd, tol, steps)
