"""Cross-field checks of the scenario tree, per-scenario lead times and risk (issue 15).

Returns (field path, problem, hint) triples; models.loader turns them into Problems."""

from __future__ import annotations

from capalloc.models.common import month_ordinal, ordinal_to_month, series_values
from capalloc.models.instance import Instance, MarketScenario
from capalloc.models.tree_terms import divergence_month

Found = tuple[str, str, str]

MARKET_INPUTS = ("btc_price_usd", "network_hashrate_ehs", "fees_btc_per_block", "hashprice_usd_per_ph_day",
                 "share_price_usd")
"""The series of a scenario that siblings must share until they branch."""


def tree_problems(instance: Instance, market_shorthand: bool = False) -> list[Found]:
    found: list[Found] = []
    market = instance.market
    start = month_ordinal(instance.start)
    end = start + instance.horizon_months - 1
    months = [month_ordinal(m) for m in market.branching_months]
    if months != sorted(set(months)):
        found.append(("market.branching_months", "must be in strictly increasing month order",
                      "list each branching month once, earliest first"))
    for label, month in zip(market.branching_months, months, strict=True):
        if not start < month <= end:
            found.append(("market.branching_months", f"{label} is outside the horizon after its first "
                          f"month", f"use months from {ordinal_to_month(start + 1)} to "
                          f"{ordinal_to_month(end)}"))
    names = [s.name for s in market.scenarios]
    for phase_path, phase in ((f"sites[{site.id}].ai_phases[{p.id}]", p) for site in instance.sites
                              for p in site.ai_phases):
        shortest = len(phase.capex_shares())
        for name, lead in sorted(phase.lead_time_months_by_scenario.items()):
            where = f"{phase_path}.lead_time_months_by_scenario.{name}"
            if name not in names:
                found.append((where, "unknown scenario", f"use one of {', '.join(names)}"))
            elif lead < shortest:
                found.append((where, f"is {lead} months, shorter than the {shortest}-month capex profile",
                              "capex follows the nominal profile and must be spent before rent starts"))
    for scenario in market.scenarios:
        if len(scenario.tree_path) != len(months):
            where = "market" if market_shorthand else f"market.scenarios[{scenario.name}]"
            found.append((f"{where}.tree_path", f"has {len(scenario.tree_path)} labels for "
                          f"{len(months)} branching month(s)",
                          "give one label per market.branching_months entry"))
    if found or not months:
        return found
    branching = [m - start for m in months]
    seen: dict[tuple[str, ...], str] = {}
    for scenario in market.scenarios:
        key = tuple(scenario.tree_path)
        if key in seen:
            found.append((f"market.scenarios[{scenario.name}].tree_path",
                          f"is the same path as scenario {seen[key]!r}",
                          "scenarios of a tree must differ at some branching month"))
        seen.setdefault(key, scenario.name)
    for i, a in enumerate(market.scenarios):
        for b in market.scenarios[i + 1:]:
            d = divergence_month(a.tree_path, b.tree_path, branching, instance.horizon_months)
            found += _sibling_inputs(instance, a, b, d)
    return found


def _sibling_inputs(instance: Instance, a: MarketScenario, b: MarketScenario, d: int) -> list[Found]:
    """Scenarios that share history through month d - 1 must have the same inputs there."""
    found: list[Found] = []
    label = ordinal_to_month(month_ordinal(instance.start) + d) if d < instance.horizon_months else "the end"
    hint = f"they share history until {label}: make their inputs equal before it or branch earlier"

    def differs(x, y) -> int | None:
        if (x is None) != (y is None):
            return 0
        if x is None:
            return None
        xs, ys = series_values(x, instance.start, d), series_values(y, instance.start, d)
        return next((t for t in range(d) if xs[t] != ys[t]), None)

    for name in MARKET_INPUTS:
        t = differs(getattr(a, name), getattr(b, name))
        if t is not None:
            found.append((f"market.scenarios[{b.name}].{name}",
                          f"differs from scenario {a.name!r} in {_label(instance, t)}", hint))
    for site in instance.sites:
        overrides = site.power_price_by_scenario_usd_per_mwh
        t = differs(overrides.get(a.name, site.power_price_usd_per_mwh),
                    overrides.get(b.name, site.power_price_usd_per_mwh))
        if t is not None:
            found.append((f"sites[{site.id}].power_price_by_scenario_usd_per_mwh.{b.name}",
                          f"differs from scenario {a.name!r}'s power price in {_label(instance, t)}", hint))
    return found


def _label(instance: Instance, t: int) -> str:
    return ordinal_to_month(month_ordinal(instance.start) + t)
