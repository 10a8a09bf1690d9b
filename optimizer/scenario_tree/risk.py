"""The risk measures of a distribution of scenario NPVs (pure functions, shared by the plan,
the audit and the value of information).

CVaR_alpha is the mean NPV of the worst (1 - alpha) of probability (DESIGN.md, "Trees"): sort
the scenarios by NPV, take the worst ones until their probability reaches 1 - alpha (the last
one in part). It equals Rockafellar and Uryasev's max over eta of eta - E[(eta - NPV)+]/(1 - alpha),
the form the extensive form maximizes."""

from __future__ import annotations

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)


def cvar(values: list[float], probabilities: list[float], alpha: float) -> float:
    """Mean of the worst (1 - alpha) of probability, by a sort of the outcomes."""
    tail = 1.0 - alpha
    taken = total = 0.0
    for value, p in sorted(zip(values, probabilities, strict=True)):
        share = min(p, tail - taken)
        if share <= 0.0:
            break
        total += share * value
        taken += share
    return total / tail


def expected(values: list[float], probabilities: list[float]) -> float:
    return sum(v * p for v, p in zip(values, probabilities, strict=True))


def risk_objective(values: list[float], probabilities: list[float], weight: float, alpha: float) -> float:
    """(1 - w) x E[NPV] + w x CVaR_alpha(NPV): what a tree's plan maximizes."""
    mean = expected(values, probabilities)
    if weight <= 0.0:
        return mean
    return (1.0 - weight) * mean + weight * cvar(values, probabilities, alpha)


def percentile(values: list[float], probabilities: list[float], q: float) -> float:
    """The smallest outcome whose cumulative probability reaches q % (a discrete quantile)."""
    running = 0.0
    ordered = sorted(zip(values, probabilities, strict=True))
    for value, p in ordered:
        running += p
        if running >= q / 100.0 - 1e-12:
            return value
    return ordered[-1][0]
