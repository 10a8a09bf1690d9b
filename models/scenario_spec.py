"""The scenario-tree generator's spec file (`capalloc scenarios INSTANCE --spec SPEC`).

A spec says how to turn one market scenario of an instance into a tree: BTC price as a
geometric Brownian motion, network hashrate as a second one correlated with it, optional
lead-time slips, the months where the tree branches and how many branches each stage has,
and how many sample paths are reduced to the tree. Checks that need the instance (a
branching month inside the horizon, a named phase) are made by the generator.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from capalloc.models.common import Identifier, Month, Strict, month_ordinal
from capalloc.models.loader import InstanceError, Problem, friendly_path, read_parsed

MAX_STAGES = 4
MAX_SCENARIOS = 500
MIN_SAMPLES_PER_NODE = 10


class ScenarioSpecError(InstanceError):
    """A spec (or a spec that does not fit its instance) that cannot be used; CLI exit 2."""


def _int_keys(value: Any) -> Any:
    """JSON writes mapping keys as text: accept "2" for 2 so that both formats read alike."""
    if isinstance(value, dict):
        return {int(k) if isinstance(k, str) and k.strip().isdigit() else k: v for k, v in value.items()}
    return value


class LeadTimeSlips(Strict):
    """Delays of AI builds, common to the listed phases, learnt at one branching month."""

    probability_by_slip_months: Annotated[
        dict[Annotated[int, Field(ge=0, le=36)], Annotated[float, Field(gt=0, le=1)]],
        BeforeValidator(_int_keys),
    ] = Field(
        min_length=1,
        description=(
            "Probability of each delay in months added to the phases' lead time, e.g. "
            "{0: 0.5, 2: 0.3, 4: 0.2}; probabilities sum to 1. Delays are 0 to 36 months."
        ),
    )
    learnt_at: Month | None = Field(
        None,
        description=(
            "Branching month at which the delay becomes known; each tree node of that stage is "
            "split once per delay (independent of the market). Default: the first branching month."
        ),
    )
    phases: list[Annotated[str, Field(pattern=r"^[^.]+\.[^.]+$")]] | None = Field(
        None,
        description=(
            "Phases that slip, written site.phase (e.g. georgia.ga1); they all slip by the same "
            "months in a scenario (a shared cause: equipment, utility works). Default: every phase."
        ),
    )

    @model_validator(mode="after")
    def _sums_to_one(self) -> LeadTimeSlips:
        total = math.fsum(self.probability_by_slip_months.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"probability_by_slip_months: probabilities sum to {total:.10g}, not 1")
        return self


class ScenarioTreeSpec(Strict):
    """How `capalloc scenarios` samples market paths and reduces them to a scenario tree."""

    seed: int = Field(ge=0, le=2**63 - 1, description="Seed of numpy's random generator (PCG64).")
    base_scenario: Identifier | None = Field(
        None,
        description=(
            "Scenario of the instance whose first-month BTC price and hashrate start the paths and "
            "whose fees (and share price) every generated scenario keeps. Default: the only one."
        ),
    )
    branching_months: list[Month] = Field(
        min_length=1, max_length=MAX_STAGES,
        description=(
            "Months (YYYY-MM) where the tree branches, strictly increasing, after the plan's first "
            "month and inside the horizon. Scenarios sharing a branch through a month share every "
            "input before the next branching month."
        ),
    )
    branches_per_stage: list[Annotated[int, Field(ge=1, le=20)]] = Field(
        description=(
            "Market branches of each node at each branching month, e.g. [3, 3]: a 3 x 3 tree "
            "(one entry per branching month; 1 keeps the market path and lets only slips branch)."
        ),
    )
    btc_drift_pct_per_year: float = Field(
        ge=-100, le=200,
        description=(
            "Drift mu of BTC price, continuously compounded, % per year: E[S_t] = S_0 exp(mu t) "
            "(10 % gives 10.5 % a year in expectation)."
        ),
    )
    btc_volatility_pct_per_year: float = Field(
        gt=0, le=300, description="Volatility sigma of BTC's log price, % per square-root year."
    )
    hashrate_drift_pct_per_year: float = Field(
        ge=-100, le=200,
        description="Drift of network hashrate, continuously compounded, % per year (as for BTC).",
    )
    hashrate_volatility_pct_per_year: float = Field(
        ge=0, le=300, description="Volatility of network hashrate's log, % per square-root year."
    )
    hashrate_btc_correlation: float = Field(
        ge=-1, le=1,
        description="Correlation of the monthly log-returns of network hashrate and BTC price.",
    )
    lead_time_slips: LeadTimeSlips | None = Field(
        None, description="Delays of AI builds by scenario. Default: none (lead times as written)."
    )
    samples: int = Field(
        10000, ge=100, le=100_000,
        description="Sample paths drawn before the reduction to the tree (at least 10 per tree node).",
    )
    reduction: Literal["quantile", "kmeans"] = Field(
        "quantile",
        description=(
            "quantile: each node's paths sorted by the log price at the end of the stage and cut "
            "into equally likely branches; kmeans: k-means on the stage's log-price paths "
            "(branch probabilities = their share of the paths). Both then match the mean and "
            "variance of log price in every month to the closed form."
        ),
    )

    moment_matching: Literal["log", "level"] = Field(
        "log",
        description=(
            "log: the tree's mean and variance of ln(BTC price) equal the closed form in every month "
            "from the first branching month; level: the variance of ln(price) and the mean price "
            "E[S_t] = S_0 exp(mu t) (a few branches cannot carry the lognormal's right tail: with "
            "log the tree's mean price falls short of E[S_t] at long horizons, with level its median "
            "is too high)."
        ),
    )

    @model_validator(mode="after")
    def _shape(self) -> ScenarioTreeSpec:
        ordinals = [month_ordinal(m) for m in self.branching_months]
        if any(b <= a for a, b in zip(ordinals, ordinals[1:], strict=False)):
            raise ValueError("branching_months: must be strictly increasing")
        if len(self.branches_per_stage) != len(self.branching_months):
            raise ValueError(f"branches_per_stage: has {len(self.branches_per_stage)} entries for "
                             f"{len(self.branching_months)} branching month(s); give one per month")
        slips = self.lead_time_slips
        if slips is not None and slips.learnt_at is not None and slips.learnt_at not in self.branching_months:
            raise ValueError(f"lead_time_slips.learnt_at: {slips.learnt_at} is not one of the "
                             f"branching_months ({', '.join(self.branching_months)})")
        if self.scenario_count > MAX_SCENARIOS:
            raise ValueError(f"branches_per_stage: the tree would have {self.scenario_count} scenarios, "
                             f"more than {MAX_SCENARIOS}; use fewer branches or slips")
        if self.samples < MIN_SAMPLES_PER_NODE * self.market_leaf_count:
            raise ValueError(f"samples: {self.samples} paths for {self.market_leaf_count} market leaves; "
                             f"draw at least {MIN_SAMPLES_PER_NODE * self.market_leaf_count}")
        if max(self.branches_per_stage) == 1 and slips is None:
            raise ValueError("branches_per_stage: every stage has 1 branch and there are no slips; "
                             "nothing would branch")
        return self

    @property
    def market_leaf_count(self) -> int:
        return math.prod(self.branches_per_stage)

    @property
    def scenario_count(self) -> int:
        slips = self.lead_time_slips
        return self.market_leaf_count * (len(slips.probability_by_slip_months) if slips else 1)

    @property
    def slip_stage(self) -> int | None:
        """0-based index of the branching month where slips are learnt, None without slips."""
        if self.lead_time_slips is None:
            return None
        learnt = self.lead_time_slips.learnt_at
        return 0 if learnt is None else self.branching_months.index(learnt)


def validate_spec_data(data: Any, source: str = "<spec>") -> ScenarioTreeSpec:
    """Validate parsed spec data; ScenarioSpecError listing every problem."""
    if not isinstance(data, dict):
        raise ScenarioSpecError(source, [Problem("", "the file must hold a mapping of fields")])
    try:
        return ScenarioTreeSpec.model_validate(data)
    except ValidationError as error:
        problems: list[Problem] = []
        for item in error.errors(include_url=False):
            message = item["msg"].removeprefix("Value error, ")
            loc = tuple(part for part in item["loc"] if part != "[key]")  # a mapping key: its own path
            path = friendly_path(loc, data, ("function-after", "function-before"))
            field, _, rest = message.partition(": ")
            if rest and " " not in field:  # a rule over several fields names the one to fix first
                path, message = f"{path}.{field}" if path else field, rest
            if Problem(path, message) not in problems:
                problems.append(Problem(path, message))
        raise ScenarioSpecError(source, problems) from None


def load_scenario_spec(path: str | Path) -> ScenarioTreeSpec:
    """Read and validate a spec file (YAML, or JSON by its suffix)."""
    return validate_spec_data(read_parsed(Path(path), ScenarioSpecError).data, str(path))
