"""The sweep spec: which instance to vary, which parameters, how, and in what design.

A sweep spec is a YAML (or JSON) file::

    base: ../two_sites.yaml            # the base instance, relative to this file
    design: grid                       # grid | oat | lhs | random
    parameters:
      - name: btc                      # column label (default: the path)
        path: market.scenarios[base].btc_price_usd
        factors: [0.7, 1.0, 1.3]
      - path: sites[georgia].ai_phases[*].capex_usd_per_mw_it
        values: [8.0e6, 10.0e6]

Paths address the *normalized* instance data, i.e. what ``Instance.model_dump()`` gives:
every default is present, and ``market.btc_price_usd`` written as a shorthand lives at
``market.scenarios[base].btc_price_usd``. A path is dot-separated field names; after a list
field, ``[name]`` selects the element whose ``id`` (or ``name``) is ``name``, ``[*]`` selects
every element and ``[0]`` selects by position. One path may thus address several values
(``sites[*].power_price_usd_per_mwh``); each is varied the same way.

How a level changes the value(s) at a path:

- ``values``: the value is replaced (a number, a text such as a month, or a series mapping);
  a number written over a series makes it a constant series.
- ``factors``: the value is multiplied. A constant series is multiplied, a growth series
  ``{start_value, growth_pct_per_year}`` has its start value multiplied (so every month is
  multiplied, growth unchanged), a CSV series has every month multiplied.
- ``shifts``: the value is increased by the shift. For a series every month is shifted by the
  same amount (a growth or CSV series becomes a derived monthly series); to shift a growth
  rate, address it: ``...btc_price_usd.growth_pct_per_year``.

Integer fields (e.g. ``lead_time_months``) are rounded to the nearest whole number after a
factor, shift or sample. Parameters are applied in the order listed; two parameters may
address the same value (their changes compose).

Designs:

- ``grid``: the full factorial of every parameter's levels (first parameter varies slowest).
- ``oat``: one at a time around the base: point ``p0000`` is the base instance, then each
  parameter takes each of its levels while every other parameter stays at its base (a level
  that leaves the instance unchanged is skipped: it is the base point). Gives the tornado chart.
- ``stress``: the ``grid`` of shocks (e.g. every lead time shifted by 0, 1, 2 months x BTC
  price factors), each point run against the plan directory ``plan``: its signings, fleet
  orders and sales, halls and issuance fixed (``capalloc evaluate``), operations
  re-optimized. A row gives the NPV where the floor holds, else status ``infeasible`` with the
  short months, the worst shortfall and the least extra starting cash that cures it; every
  row gives the highest floor the plan can hold there.
- ``lhs`` / ``random``: ``samples`` points; each parameter draws from its ``distribution``
  (Latin hypercube: one draw per equal-probability stratum, strata shuffled independently per
  parameter; random: independent draws), reproducibly from ``seed``, and ``apply`` says
  whether the draw is a value, a factor or a shift.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from capalloc.models.common import Strict
from capalloc.models.loader import InstanceError, Problem, friendly_path, read_parsed

# ----------------------------------------------------------------------------- paths

_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
_SELECTOR = r"\[(\*|\d+|[A-Za-z][A-Za-z0-9_\-]*)\]"
_SEGMENT = re.compile(rf"^({_NAME})((?:{_SELECTOR})*)$")
_SELECTORS = re.compile(_SELECTOR)


@dataclass(frozen=True)
class PathStep:
    """One step of a parameter path: a field name, or a selector inside a list."""

    kind: Literal["field", "all", "index", "id"]
    key: str | int = ""

    def __str__(self) -> str:
        if self.kind == "field":
            return f".{self.key}"
        return "[*]" if self.kind == "all" else f"[{self.key}]"


def parse_path(path: str) -> tuple[PathStep, ...]:
    """``sites[georgia].ai_phases[*].capex_usd_per_mw_it`` -> steps; ValueError if malformed."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("the path is empty")
    steps: list[PathStep] = []
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if not match:
            raise ValueError(
                f"{segment!r} in {path!r} is not a field name optionally followed by [id], [*] "
                "or [index]"
            )
        steps.append(PathStep("field", match.group(1)))
        for selector in _SELECTORS.findall(match.group(2)):
            if selector == "*":
                steps.append(PathStep("all"))
            elif selector.isdigit():
                steps.append(PathStep("index", int(selector)))
            else:
                steps.append(PathStep("id", selector))
    return tuple(steps)


def format_path(steps: tuple[PathStep, ...] | list[PathStep]) -> str:
    return "".join(str(s) for s in steps).lstrip(".")


# ----------------------------------------------------------------------------- distributions


class Uniform(Strict):
    """Uniform between low and high."""

    kind: Literal["uniform"] = Field(description="Uniform distribution.")
    low: float = Field(description="Lower bound.")
    high: float = Field(description="Upper bound (> low).")

    @model_validator(mode="after")
    def _range(self) -> Uniform:
        if not self.high > self.low:
            raise ValueError(f"empty range: high ({self.high:g}) must exceed low ({self.low:g})")
        return self


class _Truncatable(Strict):
    low: float | None = Field(None, description="Optional lower truncation bound.")
    high: float | None = Field(None, description="Optional upper truncation bound.")

    @model_validator(mode="after")
    def _range(self):
        if self.low is not None and self.high is not None and not self.high > self.low:
            raise ValueError(f"empty range: high ({self.high:g}) must exceed low ({self.low:g})")
        return self


class Normal(_Truncatable):
    """Normal with mean and standard deviation, optionally truncated to [low, high]."""

    kind: Literal["normal"] = Field(description="Normal distribution.")
    mean: float = Field(description="Mean.")
    std: float = Field(gt=0, description="Standard deviation (> 0).")


class LogNormal(_Truncatable):
    """Lognormal: ln(x) is normal with mean mu and standard deviation sigma (median e^mu)."""

    kind: Literal["lognormal"] = Field(description="Lognormal distribution.")
    mu: float = Field(description="Mean of ln(x); the median of x is exp(mu).")
    sigma: float = Field(gt=0, description="Standard deviation of ln(x) (> 0).")


class Triangular(Strict):
    """Triangular between low and high with its peak at mode."""

    kind: Literal["triangular"] = Field(description="Triangular distribution.")
    low: float = Field(description="Lower bound.")
    mode: float = Field(description="Most likely value (low <= mode <= high).")
    high: float = Field(description="Upper bound (> low).")

    @model_validator(mode="after")
    def _range(self) -> Triangular:
        if not self.high > self.low:
            raise ValueError(f"empty range: high ({self.high:g}) must exceed low ({self.low:g})")
        if not self.low <= self.mode <= self.high:
            raise ValueError(f"mode ({self.mode:g}) must lie between low and high")
        return self


Distribution = Annotated[Uniform | Normal | LogNormal | Triangular, Field(discriminator="kind")]

# ----------------------------------------------------------------------------- spec

MAX_POINTS = 1_000_000
"""The largest max_points a spec may set: a million solves is already weeks of computing."""

Scalar = float | int | str | bool
LevelValue = Scalar | dict[str, Any] | None


class Parameter(Strict):
    """One varied input: where it is (path) and how it varies (exactly one of the four)."""

    path: str = Field(description="Where in the instance, e.g. sites[georgia].ai_phases[*].pue.")
    name: str | None = Field(
        None, description="Short label used in result columns and charts. Default: the path."
    )
    values: list[LevelValue] | None = Field(
        None, description="Absolute values to take (grid/oat)."
    )
    factors: list[float] | None = Field(
        None, description="Multipliers of the base value(s) (grid/oat); 1.0 is the base."
    )
    shifts: list[float] | None = Field(
        None, description="Amounts added to the base value(s), every month of a series (grid/oat)."
    )
    distribution: Distribution | None = Field(
        None, description="Distribution sampled by lhs/random designs."
    )
    apply: Literal["value", "factor", "shift"] = Field(
        "value", description="With a distribution: the draw is a value, a factor or a shift."
    )

    @field_validator("path")
    @classmethod
    def _path_syntax(cls, path: str) -> str:
        parse_path(path)
        return path

    @field_validator("values", "factors", "shifts")
    @classmethod
    def _non_empty(cls, levels: list | None) -> list | None:
        if levels is not None and len(levels) == 0:
            raise ValueError("empty range: give at least one level")
        if levels is not None:
            for level in levels:
                if isinstance(level, float) and not math.isfinite(level):
                    raise ValueError("levels must be finite numbers")
        return levels

    @model_validator(mode="after")
    def _one_way(self) -> Parameter:
        given = [k for k in ("values", "factors", "shifts", "distribution") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of values, factors, shifts or distribution"
                + (f" (found {', '.join(given)})" if given else "")
            )
        if self.distribution is None and "apply" in self.model_fields_set:
            raise ValueError("apply is only used with a distribution")
        return self

    @property
    def label(self) -> str:
        return self.name or self.path

    @property
    def mode(self) -> Literal["value", "factor", "shift"]:
        if self.values is not None:
            return "value"
        if self.factors is not None:
            return "factor"
        if self.shifts is not None:
            return "shift"
        return self.apply

    @property
    def levels(self) -> list[Any]:
        return list(self.values if self.values is not None else self.factors or self.shifts or [])


class SolverOverrides(Strict):
    """Solver settings applied to every point (they become part of each point's instance)."""

    time_limit_seconds: float | None = Field(None, gt=0, description="HiGHS time limit per point, s.")
    mip_rel_gap: float | None = Field(None, ge=0, le=1, description="Relative MIP gap per point.")


class ChartSettings(Strict):
    """What the charts show."""

    decision: str | None = Field(
        None,
        description=(
            "Result column drawn in the decision heatmap of a 2-parameter grid, e.g. "
            "first_signing.georgia or mw_signed.georgia. Default: first_signing of the first "
            "site with AI phases."
        ),
    )


class SweepSpec(Strict):
    """A sensitivity sweep over one base instance."""

    base: str = Field(description="Base instance file, relative to the spec file's folder.")
    description: str = Field("", description="Free text.")
    design: Literal["grid", "oat", "lhs", "random", "stress"] = Field(
        description=(
            "grid: full factorial; oat: one at a time (tornado); lhs/random: sampled; stress: "
            "the grid of shocks run against a committed plan (``plan``) as `capalloc evaluate` does."
        )
    )
    plan: str | None = Field(
        None,
        description=(
            "Plan directory (`capalloc solve -o`) whose investment and financing decisions a "
            "stress design holds fixed at every point, relative to the spec file's folder."
        ),
    )
    parameters: list[Parameter] = Field(min_length=1, description="The varied inputs.")
    samples: int | None = Field(None, ge=1, description="Number of points of an lhs/random design.")
    seed: int = Field(0, ge=0, description="Random seed of an lhs/random design.")
    max_points: int = Field(
        20000,
        ge=1,
        le=MAX_POINTS,
        description="Refuse designs with more points than this (a typo guard).",
    )
    solver: SolverOverrides = Field(
        default_factory=SolverOverrides, description="Per-point solver settings."
    )
    charts: ChartSettings = Field(default_factory=ChartSettings, description="Chart choices.")

    @model_validator(mode="after")
    def _design_fits(self) -> SweepSpec:
        sampled = self.design in ("lhs", "random")
        for i, p in enumerate(self.parameters):
            if sampled and p.distribution is None:
                raise ValueError(f"parameters[{i}] ({p.label}): a {self.design} design needs a "
                                 "distribution for every parameter")
            if not sampled and p.distribution is not None:
                raise ValueError(f"parameters[{i}] ({p.label}): a {self.design} design takes "
                                 "values, factors or shifts, not a distribution")
        if sampled and self.samples is None:
            raise ValueError(f"a {self.design} design needs samples (the number of points)")
        if not sampled and self.samples is not None:
            raise ValueError(f"samples is only used by lhs/random designs, not {self.design}")
        if self.design == "stress" and self.plan is None:
            raise ValueError("a stress design needs plan (the plan directory to hold fixed)")
        if self.design != "stress" and self.plan is not None:
            raise ValueError(f"plan is only used by a stress design, not {self.design}")
        if sampled and self.samples > self.max_points:  # before drawing: memory grows with samples
            raise ValueError(f"samples ({self.samples}) exceeds max_points ({self.max_points}); "
                             "raise max_points or draw fewer samples")
        labels = [p.label for p in self.parameters]
        dups = sorted({x for x in labels if labels.count(x) > 1})
        if dups:
            raise ValueError(f"parameter names must be unique: {', '.join(dups)} repeated "
                             "(give each a name)")
        return self


class SweepSpecError(InstanceError):
    """A sweep spec that cannot be run; ``problems`` names each problem (CLI exit 2)."""


_DISTRIBUTION_TAGS = ("uniform", "normal", "lognormal", "triangular")
# The members of a level's union (LevelValue): a level that fits none gets one error per member.
_LEVEL_MEMBERS = ("float", "int", "str", "bool", "dict")
_TYPE_MISMATCHES = ("float_type", "int_type", "string_type", "bool_type", "dict_type")


def validate_sweep_data(data: Any, source: str = "<sweep>") -> SweepSpec:
    """Validate parsed sweep-spec data; raise SweepSpecError listing every problem."""
    if not isinstance(data, dict):
        raise SweepSpecError(source, [Problem("", "the file must hold a mapping of fields")])
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as error:
        raw = [
            (friendly_path(tuple(item["loc"]), data, _DISTRIBUTION_TAGS + _LEVEL_MEMBERS),
             item["msg"].removeprefix("Value error, "), item["type"])
            for item in error.errors(include_url=False)
        ]
        # A level that is a number but not a finite one needs that said, not five type mismatches.
        explained = {path for path, _, kind in raw if kind not in _TYPE_MISMATCHES}
        problems = []
        for path, message, kind in raw:
            problem = Problem(path, message)
            if (kind in _TYPE_MISMATCHES and path in explained) or problem in problems:
                continue
            problems.append(problem)
        raise SweepSpecError(source, problems) from None


def load_sweep_spec(path: str | Path) -> tuple[SweepSpec, Path]:
    """Read a sweep spec file; return it and the resolved base instance path."""
    file = Path(path)
    data = read_parsed(file, SweepSpecError).data
    spec = validate_sweep_data(data, str(path))
    base = (file.resolve().parent / spec.base).resolve()
    if not base.is_file():
        raise SweepSpecError(str(path), [Problem("base", f"instance file {spec.base!r} not found "
                                                 f"(looked for {base})", "the path is relative "
                                                 "to the spec file's folder")])
    return spec, base
