"""A tree instance taken apart: which instances need the extensive form, each scenario's own
single-scenario instance, the expected-value instance, and when two scenarios' histories part.

Pure functions of the validated instance (no Pyomo): the independent audit uses them too."""

from __future__ import annotations

from capalloc.models.common import CsvSeries, month_ordinal, ordinal_to_month, series_values
from capalloc.models.instance import AIPhase, Instance, MarketScenario, Site
from capalloc.models.tree_terms import divergence_month, node_at

EXPECTED = "expected"
"""Name of the expected-value instance's one scenario (DESIGN: VSS)."""


def needs_extensive_form(instance: Instance) -> bool:
    """Whether the instance is solved as a tree (one block per scenario): it has branching
    months, a lead time that differs by scenario, or a risk term. Any other instance builds
    as before, flat, and keeps its plan byte for byte."""
    risky = instance.risk is not None and instance.risk.cvar_weight > 0.0
    varied = any(p.lead_time_months_by_scenario for s in instance.sites for p in s.ai_phases)
    return bool(instance.market.branching_months) or varied or risky


def branching_indices(instance: Instance) -> list[int]:
    """The branching months as month indices of the plan."""
    start = month_ordinal(instance.start)
    return [month_ordinal(m) - start for m in instance.market.branching_months]


def scenario_names(instance: Instance) -> list[str]:
    return [s.name for s in instance.market.scenarios]


def probabilities(instance: Instance) -> dict[str, float]:
    return {s.name: s.probability for s in instance.market.scenarios}


def paths(instance: Instance) -> dict[str, list[str]]:
    return {s.name: list(s.tree_path) for s in instance.market.scenarios}


def operations_common_until(instance: Instance, a: str, b: str) -> int:
    """Months t < this are common to scenarios a and b for every decision (DESIGN, "Trees":
    the first branching month where their paths differ; 0 for a flat list)."""
    p = paths(instance)
    return divergence_month(p[a], p[b], branching_indices(instance), instance.horizon_months)


def investment_common_until(instance: Instance, a: str, b: str) -> int:
    """Months t < this are common to a and b for investment and financing decisions
    (signings, orders, sales, halls, issuance): all months in a flat list, else as operations."""
    if not instance.market.branching_months:
        return instance.horizon_months
    return operations_common_until(instance, a, b)


def node_of(instance: Instance, scenario: str, t: int) -> tuple[str, ...]:
    """The tree node scenario is in at month t (the empty tuple: the root)."""
    return node_at(paths(instance)[scenario], branching_indices(instance), t)


def phase_lead(phase: AIPhase, scenario: str) -> int:
    """The phase's lead time in a scenario."""
    return phase.lead_time_months_by_scenario.get(scenario, phase.lead_time_months)


def _phase_in(phase: AIPhase, scenario: str) -> AIPhase:
    """The phase as it is in one scenario: its lead time there, its capex on the nominal
    profile (DESIGN: a slip delays rent and amortization, not the capex)."""
    return phase.model_copy(update={
        "lead_time_months": phase_lead(phase, scenario),
        "spend_profile": _nominal_profile(phase),
        "lead_time_months_by_scenario": {},
    })


def _nominal_profile(phase: AIPhase) -> list[float] | None:
    """The spend profile that keeps capex on the nominal lead time whatever the scenario's."""
    return phase.capex_shares() if phase.lead_time_months_by_scenario else phase.spend_profile


def _site_in(site: Site, scenario: str) -> Site:
    override = site.power_price_by_scenario_usd_per_mwh.get(scenario)
    return site.model_copy(update={
        "power_price_usd_per_mwh": override if override is not None else site.power_price_usd_per_mwh,
        "power_price_by_scenario_usd_per_mwh": {},
        "ai_phases": [_phase_in(p, scenario) for p in site.ai_phases],
    })


def scenario_instance(instance: Instance, name: str) -> Instance:
    """The single-scenario instance of scenario ``name``: its market path (probability 1),
    its power prices and its lead times; no tree, no risk term."""
    scenario = next(s for s in instance.market.scenarios if s.name == name)
    market = instance.market.model_copy(update={
        "branching_months": [],
        "scenarios": [scenario.model_copy(update={"probability": 1.0, "tree_path": []})],
    })
    return instance.model_copy(update={
        "market": market, "risk": None, "sites": [_site_in(s, name) for s in instance.sites],
    })


def _mean_series(instance: Instance, series: list, weights: list[float]) -> list[float]:
    values = [series_values(s, instance.start, instance.horizon_months) for s in series]
    return [sum(w * v[t] for w, v in zip(weights, values, strict=True))
            for t in range(instance.horizon_months)]


def expected_instance(instance: Instance) -> Instance:
    """DESIGN's expected-value instance: every series replaced by its probability-weighted
    mean, each lead time by the mean rounded to a whole month (half up); one scenario."""
    scenarios = instance.market.scenarios
    weights = [s.probability for s in scenarios]
    fields: dict = {"name": EXPECTED, "probability": 1.0}
    for name in ("btc_price_usd", "network_hashrate_ehs", "fees_btc_per_block"):
        given = [getattr(s, name) for s in scenarios]
        fields[name] = _as_series(instance, _mean_series(instance, given, weights))
    for name in ("hashprice_usd_per_ph_day", "share_price_usd"):
        given = [getattr(s, name) for s in scenarios]
        if all(g is not None for g in given):
            fields[name] = _as_series(instance, _mean_series(instance, given, weights))
    market = instance.market.model_copy(update={
        "branching_months": [], "scenarios": [MarketScenario.model_construct(**_defaults(fields))],
    })
    sites = []
    for site in instance.sites:
        prices = [site.power_price_by_scenario_usd_per_mwh.get(s.name, site.power_price_usd_per_mwh)
                  for s in scenarios]
        phases = []
        for phase in site.ai_phases:
            mean = sum(w * phase_lead(phase, s.name) for w, s in zip(weights, scenarios, strict=True))
            phases.append(phase.model_copy(update={
                "lead_time_months": max(len(phase.capex_shares()), int(mean + 0.5 + 1e-9)),
                "spend_profile": _nominal_profile(phase), "lead_time_months_by_scenario": {},
            }))
        sites.append(site.model_copy(update={
            "power_price_usd_per_mwh": _as_series(instance, _mean_series(instance, prices, weights)),
            "power_price_by_scenario_usd_per_mwh": {}, "ai_phases": phases,
        }))
    return instance.model_copy(update={"market": market, "risk": None, "sites": sites})


def _defaults(fields: dict) -> dict:
    out = {name: field.default for name, field in MarketScenario.model_fields.items()
           if not field.is_required() and field.default_factory is None}
    out["tree_path"] = []
    out.update(fields)
    return out


def _as_series(instance: Instance, values: list[float]):
    """A month-by-month series as the models accept it: one number when flat, else a series
    held in memory in CsvSeries's shape (never written: the expected instance is internal)."""
    if all(v == values[0] for v in values):
        return float(values[0])
    series = CsvSeries.model_construct(kind="csv", csv="<expected value>", column="mean")
    start = month_ordinal(instance.start)
    series._by_month = {ordinal_to_month(start + t): v for t, v in enumerate(values)}
    return series


def nodes(instance: Instance) -> dict[tuple[int, tuple[str, ...]], list[str]]:
    """(first month of the node, node labels) -> scenarios in it, for the root and every
    node opened at a branching month."""
    out: dict[tuple[int, tuple[str, ...]], list[str]] = {}
    for b in [0, *branching_indices(instance)]:
        for s in instance.market.scenarios:
            out.setdefault((b, node_of(instance, s.name, b)), []).append(s.name)
    return out
