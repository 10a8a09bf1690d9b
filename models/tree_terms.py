"""Terms of deciding under uncertainty (issue 15): the scenario tree's branching months and
paths, lead times that differ by scenario, and the risk measure of the objective. Each has a
neutral default, so an instance without them keeps its plan (DESIGN.md, "Uncertainty, waited
out where the business can wait")."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from capalloc.models.common import Identifier, Month, Strict

LeadTimeMonths = Annotated[int, Field(ge=1, le=60)]
"""A phase's lead time in one scenario: months from signing to the first month of rent."""

BRANCHING_MONTHS_DOC = (
    "Months (YYYY-MM, strictly increasing, inside the horizon and after its first month) at "
    "which the scenarios branch: a decision of month t is common to every scenario whose "
    "tree_path agrees at every branching month <= t. Default none: a flat list, where "
    "investment and financing decisions are common to every scenario and operations follow "
    "each scenario."
)

TREE_PATH_DOC = (
    "One node label per branching month (market.branching_months): the branch this scenario "
    "takes at each. Scenarios with the same labels up to a branching month share history "
    "until the next one and must have the same inputs there. Default none (a flat list)."
)

LEAD_TIME_BY_SCENARIO_DOC = (
    "The phase's lead time in the named scenarios, months (others: lead_time_months). It "
    "delays the rent start and the project debt's amortization, not the capex, which stays "
    "on the nominal lead time's profile; it is learnt when the scenarios branch, never "
    "before signing. Default none."
)


class Risk(Strict):
    """Risk aversion: the objective is (1 - w) x expected NPV + w x CVaR_alpha(NPV)."""

    cvar_weight: float = Field(
        0.0, ge=0, le=1,
        description=(
            "Weight w of the CVaR in the objective, 0 to 1 (default 0: expected NPV only; 1: "
            "the mean of the worst outcomes only)."
        ),
    )
    cvar_alpha: float = Field(
        0.8, gt=0, lt=1,
        description=(
            "CVaR level alpha, strictly between 0 and 1: CVaR is the mean NPV of the worst "
            "(1 - alpha) of probability (default 0.8: the worst 20 %)."
        ),
    )


TreeLabel = Identifier
"""A node label of a tree path, e.g. bull, slip4."""

__all__ = ["BRANCHING_MONTHS_DOC", "LEAD_TIME_BY_SCENARIO_DOC", "TREE_PATH_DOC", "LeadTimeMonths",
           "Month", "Risk", "TreeLabel"]


def divergence_month(path_a: list[str], path_b: list[str], branching: list[int], months: int) -> int:
    """The first month index at which two scenarios' histories may differ: the first
    branching month whose labels differ (``months``, the horizon, when none does). Without
    branching months (a flat list) it is 0: only investment and financing are common."""
    if not branching:
        return 0
    for t, a, b in zip(branching, path_a, path_b, strict=False):
        if a != b:
            return t
    return months


def node_at(path: list[str], branching: list[int], t: int) -> tuple[str, ...]:
    """The tree node a scenario is in at month t: its labels at the branching months <= t."""
    return tuple(label for b, label in zip(branching, path, strict=False) if b <= t)
