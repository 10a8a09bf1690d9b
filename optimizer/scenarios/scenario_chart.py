"""A fan chart of a generated tree's BTC price paths (matplotlib, Agg, PNG bytes)."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from capalloc.models.common import month_ordinal, ordinal_to_month  # noqa: E402
from capalloc.optimizer.scenarios.scenario_gen import GeneratedTree  # noqa: E402

Z_90 = 1.2815515655446004  # standard normal 90th percentile


def fan_chart_png(tree: GeneratedTree) -> bytes:
    """Each market path (line width by probability) over the GBM's 10-90 % band and its mean."""
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    months = range(tree.months)
    low = [math.exp(tree.btc.log_mean(t) - Z_90 * math.sqrt(tree.btc.log_variance(t))) for t in months]
    high = [math.exp(tree.btc.log_mean(t) + Z_90 * math.sqrt(tree.btc.log_variance(t))) for t in months]
    axes.fill_between(months, low, high, color="tab:blue", alpha=0.12, label="GBM 10-90 %")
    axes.plot(months, [tree.btc.level_mean(t) for t in months], "k--", linewidth=1, label="GBM mean")
    shown: dict[tuple[float, ...], float] = {}  # slip siblings share a market path: draw it once
    for scenario in tree.scenarios:
        shown[scenario.btc_price_usd] = shown.get(scenario.btc_price_usd, 0.0) + scenario.probability
    for path, probability in shown.items():
        axes.plot(months, path, color="tab:orange", linewidth=0.5 + 6 * probability)
    for month in tree.spec.branching_months:
        axes.axvline(month_ordinal(month) - month_ordinal(tree.start), color="grey", linewidth=0.6)
    axes.set_yscale("log")
    ticks = list(range(0, tree.months, 12))
    axes.set_xticks(ticks, [ordinal_to_month(month_ordinal(tree.start) + t)[:4] for t in ticks])
    axes.set_ylabel("BTC price, USD")
    axes.set_title(f"Scenario tree: {len(shown)} BTC paths, seed {tree.spec.seed}")
    axes.legend(loc="upper left", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
