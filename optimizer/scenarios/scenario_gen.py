"""`capalloc scenarios`: a seeded scenario tree for one instance, as the scenarios it writes.

Takes a validated instance and a spec (models/scenario_spec.py), samples the market paths,
reduces them to a tree (optimizer/scenarios/scenario_sampling.py), crosses the tree with the lead-time
slips at the stage where they are learnt, and rounds the probabilities to millionths summing
to exactly 1. Writing the files is optimizer/scenarios/scenario_files.py's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from capalloc.models.common import month_ordinal, ordinal_to_month, series_values
from capalloc.models.instance import AIPhase, Instance, MarketScenario
from capalloc.models.loader import Problem
from capalloc.models.ranges import EH_PER_S, POSITIVE_USD_PER_BTC
from capalloc.models.scenario_spec import ScenarioSpecError, ScenarioTreeSpec
from capalloc.optimizer.scenarios.scenario_sampling import (
    PROBABILITY_UNITS,
    Gbm,
    build_market_tree,
    leaf_paths,
    leaf_shares,
    round_probabilities,
    sample_log_paths,
)

MAX_LEAD_TIME_MONTHS = 60  # AIPhase.lead_time_months' bound
BTC_DECIMALS, HASHRATE_DECIMALS = 2, 4  # written to the cent and to 0.1 PH/s


@dataclass(frozen=True)
class TreeScenario:
    """One scenario of the tree: its labels per branching month, probability in millionths,
    monthly BTC price and hashrate as written (rounded) and its lead-time slip."""

    tree_path: tuple[str, ...]
    probability_units: int
    btc_price_usd: tuple[float, ...]
    network_hashrate_ehs: tuple[float, ...]
    slip_months: int

    @property
    def name(self) -> str:
        return "_".join(self.tree_path)

    @property
    def probability(self) -> float:
        return self.probability_units / PROBABILITY_UNITS


@dataclass(frozen=True)
class GeneratedTree:
    """The tree and what it was drawn from (the summary and the tests read the samples)."""

    spec: ScenarioTreeSpec
    base: MarketScenario
    start: str
    months: int
    btc: Gbm
    hashrate: Gbm
    scenarios: list[TreeScenario]
    slip_phases: list[tuple[str, AIPhase]]
    log_btc_samples: np.ndarray
    log_hash_samples: np.ndarray


def _fail(source: str, path: str, message: str, hint: str = "") -> ScenarioSpecError:
    return ScenarioSpecError(source, [Problem(path, message, hint)])


def pick_base(instance: Instance, spec: ScenarioTreeSpec, source: str) -> MarketScenario:
    scenarios = instance.market.scenarios
    names = ", ".join(s.name for s in scenarios)
    if spec.base_scenario is None:
        if len(scenarios) > 1:
            raise _fail(source, "base_scenario", f"the instance has {len(scenarios)} scenarios ({names})",
                        "name the one whose start values and fees the tree keeps")
        return scenarios[0]
    for scenario in scenarios:
        if scenario.name == spec.base_scenario:
            return scenario
    raise _fail(source, "base_scenario", f"unknown scenario {spec.base_scenario!r}", f"use one of {names}")


def check_branching_months(instance: Instance, spec: ScenarioTreeSpec, source: str) -> list[int]:
    """The branching months as month indices; each must fall after the first month, in the horizon."""
    first, last = month_ordinal(instance.start), month_ordinal(instance.start) + instance.horizon_months - 1
    indices = []
    for i, month in enumerate(spec.branching_months):
        ordinal = month_ordinal(month)
        if not first < ordinal <= last:
            raise _fail(source, f"branching_months[{i}]", f"{month} is not a month of the horizon "
                        "after its first", f"use a month from {ordinal_to_month(first + 1)} to "
                        f"{ordinal_to_month(last)}")
        indices.append(ordinal - first)
    return indices


def slipping_phases(instance: Instance, spec: ScenarioTreeSpec, source: str) -> list[tuple[str, AIPhase]]:
    """(site id, phase) of every phase that slips; each must exist and stay within 60 months."""
    slips = spec.lead_time_slips
    if slips is None:
        return []
    every = [(site.id, phase) for site in instance.sites for phase in site.ai_phases]
    if not every:
        raise _fail(source, "lead_time_slips", "the instance has no AI phase to slip",
                    "remove lead_time_slips")
    chosen = every
    if slips.phases is not None:
        by_name = {f"{site}.{phase.id}": (site, phase) for site, phase in every}
        chosen = []
        for i, name in enumerate(slips.phases):
            if name not in by_name:
                raise _fail(source, f"lead_time_slips.phases[{i}]", f"unknown phase {name!r}",
                            f"use site.phase, one of {', '.join(sorted(by_name))}")
            chosen.append(by_name[name])
    worst = max(slips.probability_by_slip_months)
    for site, phase in chosen:
        if phase.lead_time_months + worst > MAX_LEAD_TIME_MONTHS:
            raise _fail(source, "lead_time_slips.probability_by_slip_months",
                        f"{site}.{phase.id}'s lead time of {phase.lead_time_months} months plus a "
                        f"{worst}-month slip exceeds {MAX_LEAD_TIME_MONTHS} months",
                        "use shorter slips or leave the phase out of lead_time_slips.phases")
    return chosen


def _scenario_labels(market: list[tuple[str, ...]], slips: list[int], stage: int | None
                     ) -> list[tuple[tuple[str, ...], tuple[str, ...], int]]:
    """(tree path, market leaf, slip) of every scenario, in tree order: a slip splits each node
    of its stage, so its label sits at that stage and orders before the later stages'."""
    if stage is None:
        return [(labels, labels, 0) for labels in market]
    first_of_prefix: dict[tuple[str, ...], int] = {}
    for rank, labels in enumerate(market):  # market leaves come in tree order
        first_of_prefix.setdefault(labels[:stage + 1], rank)
    rows = []
    for rank, labels in enumerate(market):
        for order, slip in enumerate(slips):
            path = (*labels[:stage], f"{labels[stage]}-slip{slip}", *labels[stage + 1:])
            rows.append(((first_of_prefix[labels[:stage + 1]], order, rank), path, labels, slip))
    rows.sort(key=lambda row: row[0])
    return [(path, labels, slip) for _, path, labels, slip in rows]


def _written(values: np.ndarray, decimals: int) -> tuple[float, ...]:
    """Values as the CSV writes them (fixed decimals), so that checks see what the file says."""
    return tuple(float(f"{v:.{decimals}f}") for v in values)


def generate_tree(instance: Instance, spec: ScenarioTreeSpec, source: str) -> GeneratedTree:
    """The tree of ``spec`` for ``instance``; ScenarioSpecError naming the field that cannot fit."""
    base = pick_base(instance, spec, source)
    branch_at = check_branching_months(instance, spec, source)
    phases = slipping_phases(instance, spec, source)
    months = instance.horizon_months
    btc = Gbm(series_values(base.btc_price_usd, instance.start, 1)[0],
              spec.btc_drift_pct_per_year / 100, spec.btc_volatility_pct_per_year / 100)
    hashrate = Gbm(series_values(base.network_hashrate_ehs, instance.start, 1)[0],
                   spec.hashrate_drift_pct_per_year / 100, spec.hashrate_volatility_pct_per_year / 100)
    log_btc, log_hash = sample_log_paths(spec.seed, spec.samples, months, btc, hashrate,
                                         spec.hashrate_btc_correlation)
    boundaries = [*branch_at, months]
    root = build_market_tree(log_btc, boundaries, spec.branches_per_stage, spec.reduction)
    shares = leaf_shares(root, len(spec.branches_per_stage))
    slip_p = dict(sorted(spec.lead_time_slips.probability_by_slip_months.items())) \
        if spec.lead_time_slips else {0: 1.0}
    rows = _scenario_labels(list(shares), list(slip_p), spec.slip_stage)
    units = round_probabilities([shares[labels] * slip_p[slip] for _, labels, slip in rows])
    weights = {labels: 0.0 for labels in shares}
    for (_, labels, _), u in zip(rows, units, strict=True):
        weights[labels] += u / PROBABILITY_UNITS
    paths = leaf_paths(root, weights, boundaries, log_btc, log_hash, btc, hashrate, spec.moment_matching)
    scenarios = [
        TreeScenario(path, u, _written(np.exp(paths[labels][0]), BTC_DECIMALS),
                     _written(np.exp(paths[labels][1]), HASHRATE_DECIMALS), slip)
        for (path, labels, slip), u in zip(rows, units, strict=True)
    ]
    _check_ranges(scenarios, instance.start, source)
    return GeneratedTree(spec, base, instance.start, months, btc, hashrate, scenarios, phases,
                         log_btc, log_hash)


def _check_ranges(scenarios: list[TreeScenario], start: str, source: str) -> None:
    """The instance's plausible ranges hold the written series, or the spec's figure is named."""
    for field, plausible, attribute in (
        ("btc_volatility_pct_per_year", POSITIVE_USD_PER_BTC, "btc_price_usd"),
        ("hashrate_volatility_pct_per_year", EH_PER_S, "network_hashrate_ehs"),
    ):
        for scenario in scenarios:
            for t, value in enumerate(getattr(scenario, attribute)):
                problem = plausible.problem(value)
                if problem is not None:
                    raise _fail(source, field, f"scenario {scenario.name}'s {attribute} in "
                                f"{ordinal_to_month(month_ordinal(start) + t)}: {problem}",
                                "lower the volatility or the drift, or shorten the horizon")


@dataclass(frozen=True)
class MomentRow:
    """The written tree against the closed form in one month (log BTC price)."""

    month: str
    tree_log_mean: float
    target_log_mean: float
    tree_log_sd: float
    target_log_sd: float
    tree_level_over_expected: float


def moment_rows(tree: GeneratedTree, month_indices: list[int]) -> list[MomentRow]:
    p = np.array([s.probability for s in tree.scenarios])
    rows = []
    for t in month_indices:
        logs = np.log([s.btc_price_usd[t] for s in tree.scenarios])
        mean = float((p * logs).sum())
        rows.append(MomentRow(
            ordinal_to_month(month_ordinal(tree.start) + t), mean, tree.btc.log_mean(t),
            math.sqrt(float((p * (logs - mean) ** 2).sum())), math.sqrt(tree.btc.log_variance(t)),
            float((p * np.exp(logs)).sum()) / tree.btc.level_mean(t)))
    return rows


def sampled_return_correlation(tree: GeneratedTree) -> float:
    """Correlation of the sampled monthly log-returns of hashrate and BTC price."""
    return float(np.corrcoef(np.diff(tree.log_btc_samples, axis=1).ravel(),
                             np.diff(tree.log_hash_samples, axis=1).ravel())[0, 1])


def early_rent_notes(tree: GeneratedTree) -> list[str]:
    """Slipping phases whose rent could start before the slip is learnt: a slip shows by then
    (rent does not start), so the tree model, not the generator, must say what that means."""
    stage = tree.spec.slip_stage
    if stage is None:
        return []
    learnt = tree.spec.branching_months[stage]
    notes = []
    for site, phase in tree.slip_phases:
        first = month_ordinal(phase.earliest_signing_month or tree.start) + phase.lead_time_months
        if first < month_ordinal(learnt):
            notes.append(f"note: {site}.{phase.id} signed at its earliest starts rent in "
                         f"{ordinal_to_month(first)}, before its slip is learnt in {learnt}; an earlier "
                         "learnt_at avoids that")
    return notes
