"""Sampled market paths reduced to a scenario tree (the numbers behind `capalloc scenarios`).

BTC price S and network hashrate H are geometric Brownian motions sampled month by month:
ln S_t = ln S_0 + (mu - sigma^2/2) t + sigma W_t, t in years, with the monthly increments of
hashrate's Brownian motion correlated rho with BTC's. Many paths are drawn with a seeded numpy
Generator, then cut stage by stage into a tree: at each branching month every node's paths are
split into branches (quantiles of the log price at the stage's last month, or k-means on the
stage's log-price path). A branch's path is the mean log path of its members.

Grouping keeps the mean but loses the spread within each branch, so the branches' log paths
are then moment-matched month by month: shifted and scaled so that the tree's probability-
weighted mean and variance of ln S_t equal the closed form (mu, sigma), exactly up to the
rounding of the written values. A few branches cannot carry the lognormal's right tail, so the
tree's mean price E[S_t] then falls short of S_0 exp(mu t) (about 3 % after 2 years and 30 %
after 10 at 60 % volatility, 3 x 3); matching "level" keeps the variance of ln S_t and matches
E[S_t] instead, at the cost of E[ln S_t] (expected revenues right, the median price too high).

Hashrate is shifted to its closed-form log mean (or level mean) and scaled by BTC's factor:
the tree keeps the hashrate-price covariance the samples show along the price branches; its
own spread is the part explained by price (a tree branching on price alone cannot carry more).
Before the first branching month there is one path, and a single path can only match one
moment: it is the expected level S_0 exp(mu t), so that expected revenues are right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MONTHS_PER_YEAR = 12.0
KMEANS_MAX_ROUNDS = 100
PROBABILITY_UNITS = 1_000_000  # probabilities are written with 6 decimals that sum to exactly 1


@dataclass(frozen=True)
class Gbm:
    """A geometric Brownian motion: start value, drift and volatility per year (decimals)."""

    start: float
    drift_per_year: float
    volatility_per_year: float

    def log_mean(self, month: int) -> float:
        """E[ln X_t] = ln X_0 + (mu - sigma^2/2) t."""
        t = month / MONTHS_PER_YEAR
        return math.log(self.start) + (self.drift_per_year - self.volatility_per_year**2 / 2) * t

    def log_variance(self, month: int) -> float:
        """Var[ln X_t] = sigma^2 t."""
        return self.volatility_per_year**2 * month / MONTHS_PER_YEAR

    def level_mean(self, month: int) -> float:
        """E[X_t] = X_0 exp(mu t)."""
        return self.start * math.exp(self.drift_per_year * month / MONTHS_PER_YEAR)


def sample_log_paths(seed: int, samples: int, months: int, btc: Gbm, hashrate: Gbm,
                     correlation: float) -> tuple[np.ndarray, np.ndarray]:
    """(ln S, ln H), each samples x months; month 0 is the start value on every path."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal((2, samples, months - 1))
    dt = 1.0 / MONTHS_PER_YEAR
    btc_shocks = shocks[0]
    hash_shocks = correlation * shocks[0] + math.sqrt(max(0.0, 1.0 - correlation**2)) * shocks[1]

    def path(gbm: Gbm, z: np.ndarray) -> np.ndarray:
        steps = (gbm.drift_per_year - gbm.volatility_per_year**2 / 2) * dt \
            + gbm.volatility_per_year * math.sqrt(dt) * z
        logs = np.empty((samples, months))
        logs[:, 0] = math.log(gbm.start)
        logs[:, 1:] = math.log(gbm.start) + np.cumsum(steps, axis=1)
        return logs

    return path(btc, btc_shocks), path(hashrate, hash_shocks)


@dataclass
class Node:
    """A node of the market tree: its stage (0 = root), branch labels and sample paths."""

    stage: int
    labels: tuple[str, ...]
    members: np.ndarray
    children: list[Node]


def _quantile_split(keys: np.ndarray, branches: int) -> list[np.ndarray]:
    """Positions into ``keys`` cut into ``branches`` equally sized groups, lowest keys first."""
    order = np.argsort(keys, kind="stable")
    return [np.sort(group) for group in np.array_split(order, branches)]


def _kmeans_split(features: np.ndarray, keys: np.ndarray, branches: int) -> list[np.ndarray]:
    """Lloyd's k-means from the quantile groups' centroids (deterministic, no random start);
    groups ordered by their mean key, lowest first."""
    groups = _quantile_split(keys, branches)
    assignment = np.empty(len(keys), dtype=np.int64)
    for index, group in enumerate(groups):
        assignment[group] = index
    for _ in range(KMEANS_MAX_ROUNDS):
        centroids = np.stack([features[assignment == c].mean(axis=0) for c in range(branches)])
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is common to a row, so it is left out (and no
        # paths x branches x months array is ever built)
        distances = (centroids**2).sum(axis=1)[None, :] - 2.0 * features @ centroids.T
        new = np.argmin(distances, axis=1)
        if np.array_equal(new, assignment) or len(np.unique(new)) < branches:
            break  # converged, or a cluster would empty: keep the last full assignment
        assignment = new
    groups = [np.flatnonzero(assignment == c) for c in range(branches)]
    return sorted(groups, key=lambda g: (float(keys[g].mean()), int(g[0])))


def build_market_tree(log_btc: np.ndarray, boundaries: list[int], branches: list[int],
                      reduction: str) -> Node:
    """Split the paths stage by stage. ``boundaries`` are the branching months as month indices
    followed by the horizon length; stage k (1-based) covers boundaries[k-1]..boundaries[k]-1."""
    root = Node(0, (), np.arange(log_btc.shape[0]), [])
    frontier = [root]
    for stage, count in enumerate(branches, start=1):
        first, last = boundaries[stage - 1], boundaries[stage] - 1
        next_frontier = []
        for node in frontier:
            keys = log_btc[node.members, last]
            if reduction == "kmeans" and count > 1:
                parts = _kmeans_split(log_btc[node.members, first:last + 1], keys, count)
            else:
                parts = _quantile_split(keys, count)
            for index, part in enumerate(parts, start=1):
                child = Node(stage, (*node.labels, f"q{index}"), node.members[part], [])
                node.children.append(child)
                next_frontier.append(child)
        frontier = next_frontier
    return root


def nodes_at(root: Node, stage: int) -> list[Node]:
    found, frontier = [], [root]
    while frontier:
        node = frontier.pop(0)
        if node.stage == stage:
            found.append(node)
        else:
            frontier.extend(node.children)
    return found


def round_probabilities(weights: list[float]) -> list[int]:
    """Weights (summing to 1) as whole millionths summing to exactly PROBABILITY_UNITS:
    floors, then the remaining units to the largest remainders (ties to the first)."""
    scaled = [w * PROBABILITY_UNITS for w in weights]
    units = [math.floor(s) for s in scaled]
    short = PROBABILITY_UNITS - sum(units)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(scaled[i] - units[i]), i))
    for i in by_remainder[:short]:
        units[i] += 1
    return units


def matched_paths(nodes: list[Node], node_probabilities: np.ndarray, months: range,
                  log_btc: np.ndarray, log_hash: np.ndarray, btc: Gbm, hashrate: Gbm,
                  match: str = "log") -> tuple[np.ndarray, np.ndarray]:
    """Moment-matched log paths of one stage's nodes over ``months`` (nodes x months each).

    match "log": mean and variance of ln S_t as the closed form; "level": the variance of ln S_t
    and the mean of S_t itself (E[S_t] = S_0 exp(mu t)), hashrate's level mean likewise."""
    cols = list(months)
    raw_btc = np.stack([log_btc[n.members][:, cols].mean(axis=0) for n in nodes])
    raw_hash = np.stack([log_hash[n.members][:, cols].mean(axis=0) for n in nodes])
    p = node_probabilities[:, None]
    dev_btc = raw_btc - (p * raw_btc).sum(axis=0)
    dev_hash = raw_hash - (p * raw_hash).sum(axis=0)
    spread = np.sqrt((p * dev_btc**2).sum(axis=0))
    target_sd = np.array([math.sqrt(btc.log_variance(t)) for t in cols])
    scale = np.divide(target_sd, spread, out=np.zeros_like(spread), where=spread > 1e-12)
    btc_mean = np.array([btc.log_mean(t) for t in cols])
    hash_mean = np.array([hashrate.log_mean(t) for t in cols])
    matched_btc, matched_hash = btc_mean + dev_btc * scale, hash_mean + dev_hash * scale
    if match == "level":  # shift each month's logs so that the probability-weighted level is E[X_t]
        for values, gbm in ((matched_btc, btc), (matched_hash, hashrate)):
            level = (p * np.exp(values)).sum(axis=0)
            values += np.log([gbm.level_mean(t) for t in cols]) - np.log(level)
    return matched_btc, matched_hash


def leaf_shares(root: Node, stages: int) -> dict[tuple[str, ...], float]:
    """Each market leaf's share of the sample paths, by its labels."""
    total = len(root.members)
    return {leaf.labels: len(leaf.members) / total for leaf in nodes_at(root, stages)}


def leaf_paths(root: Node, weights: dict[tuple[str, ...], float], boundaries: list[int],
               log_btc: np.ndarray, log_hash: np.ndarray, btc: Gbm, hashrate: Gbm, match: str = "log"
               ) -> dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]]:
    """Each market leaf's moment-matched monthly (ln S, ln H), by its labels. ``weights`` are the
    leaves' probabilities as written, so that the written tree is the one matched."""
    months = boundaries[-1]
    paths = {labels: (np.empty(months), np.empty(months)) for labels in weights}
    for stage in range(len(boundaries)):
        span = range(0 if stage == 0 else boundaries[stage - 1], boundaries[stage])
        nodes = nodes_at(root, stage)
        if len(nodes) == 1:  # one path: the expected level (see the module's docstring)
            values_btc = np.log([[btc.level_mean(t) for t in span]])
            values_hash = np.log([[hashrate.level_mean(t) for t in span]])
        else:
            probs = np.array([math.fsum(w for labels, w in weights.items() if labels[:stage] == n.labels)
                              for n in nodes])
            values_btc, values_hash = matched_paths(nodes, probs, span, log_btc, log_hash, btc, hashrate,
                                                     match)
        for index, node in enumerate(nodes):
            for labels, (path_btc, path_hash) in paths.items():
                if labels[:stage] == node.labels:
                    path_btc[span.start:span.stop] = values_btc[index]
                    path_hash[span.start:span.stop] = values_hash[index]
    return paths
