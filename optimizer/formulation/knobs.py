"""Inputs a sweep may change without changing the model's structure.

BTC price and BTC earned per TH/s-day per scenario and month, power price per site and
month, and each phase's capex and lease rate (as scales of the instance's figures) enter
the model only as coefficients. In a normal solve they are plain floats. Built with
``parametric=True`` they are mutable Pyomo Params, so that a sweep worker can assign a new
instance's values and re-solve on the persistent HiGHS interface, which then edits only
those coefficients instead of rebuilding and handing over the whole model.
"""

from __future__ import annotations

from typing import Any

import pyomo.core as pyo

from capalloc.models.instance import Instance

# Instance fields whose values only move knobs (paths with [*] over lists).
KNOB_FIELDS = (
    ("market", "scenarios", "*", "btc_price_usd"),
    ("market", "scenarios", "*", "network_hashrate_ehs"),
    ("market", "scenarios", "*", "fees_btc_per_block"),
    ("market", "initial_subsidy_btc_per_block"),
    ("market", "halvings"),
    ("market", "blocks_per_day"),
    ("market", "scenarios", "*", "hashprice_usd_per_ph_day"),
    ("market", "marginal_fleet"),
    ("sites", "*", "power_price_usd_per_mwh"),
    ("sites", "*", "power_price_by_scenario_usd_per_mwh"),
    ("sites", "*", "ai_phases", "*", "capex_usd_per_mw_it"),
    ("sites", "*", "ai_phases", "*", "lease_usd_per_kw_month"),
    ("solver",),
    ("name",),
    ("description",),
)


def _blank(node: Any, path: tuple[str, ...]) -> None:
    if not path or node is None:
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for item in node:
            _blank(item, rest)
    elif not rest:
        if isinstance(node, dict) and head in node:
            node[head] = None
    elif isinstance(node, dict):
        _blank(node.get(head), rest)


def structure_signature(instance: Instance) -> dict[str, Any]:
    """The instance with every knob field blanked: equal signatures share one model structure.

    Phase capex and lease rates enter as scales of the base instance's figures, so a phase
    whose base figure is zero cannot be scaled: its figure stays part of the signature.
    """
    data = instance.model_dump(mode="python")
    for path in KNOB_FIELDS:
        _blank(data, path)
    for site, raw in zip(data["sites"], instance.sites, strict=True):
        for phase, raw_phase in zip(site["ai_phases"], raw.ai_phases, strict=True):
            if raw_phase.capex_usd_per_mw_it == 0.0:
                phase["capex_usd_per_mw_it"] = 0.0
            if raw_phase.lease_usd_per_kw_month == 0.0:
                phase["lease_usd_per_kw_month"] = 0.0
    return data


class Knobs:
    """Coefficient inputs, as floats or as mutable Params (``parametric``)."""

    def __init__(self, model: pyo.ConcreteModel, ctx: Any, parametric: bool):
        self.parametric = parametric
        self.base = ctx.instance
        values = knob_values(ctx.instance, ctx.instance, ctx)
        self._floats = values
        if parametric:
            for name, table in values.items():
                param = pyo.Param(list(table), mutable=True, initialize=table, within=pyo.Reals)
                model.add_component(f"knob_{name}", param)
        self._model = model

    def _get(self, name: str, key: Any) -> Any:
        if self.parametric:
            return getattr(self._model, f"knob_{name}")[key]
        return self._floats[name][key]

    def btc_price(self, t: int, scenario: str) -> Any:
        return self._get("btc_price_usd", (t, scenario))

    def btc_per_th_day(self, t: int, scenario: str) -> Any:
        return self._get("btc_per_th_day", (t, scenario))

    def power_price(self, site: str, t: int, scenario: str) -> Any:
        return self._get("power_price_usd_per_mwh", (site, t, scenario))

    def capex_scale(self, site: str, phase: str) -> Any:
        return self._get("capex_scale", (site, phase))

    def lease_scale(self, site: str, phase: str) -> Any:
        return self._get("lease_scale", (site, phase))

    def assign(self, values: dict[str, dict[Any, float]]) -> None:
        """Give every knob a new value (parametric models only)."""
        if not self.parametric:
            raise RuntimeError("knobs of a non-parametric model are fixed floats")
        for name, table in values.items():
            param = getattr(self._model, f"knob_{name}")
            for key, value in table.items():
                param[key] = value
        self._floats = values


def knob_values(base: Instance, instance: Instance, ctx: Any) -> dict[str, dict[Any, float]]:
    """Knob values that turn a model built for ``base`` into one for ``instance``."""
    from capalloc.optimizer.formulation.context import scenario_markets, scenario_power_prices

    calendar = ctx.calendar
    T = calendar.months
    markets = scenario_markets(instance, calendar)
    price, per_th = {}, {}
    for market in markets:
        for t in range(T):
            price[(t, market.name)] = market.btc_price_usd[t]
            per_th[(t, market.name)] = market.btc_per_th_day[t]
    power = {}
    for (site_id, scenario), values in scenario_power_prices(instance, T).items():
        for t, value in enumerate(values):
            power[(site_id, t, scenario)] = value
    capex, lease = {}, {}
    for base_site, site in zip(base.sites, instance.sites, strict=True):
        for base_phase, phase in zip(base_site.ai_phases, site.ai_phases, strict=True):
            key = (site.id, phase.id)
            capex[key] = _ratio(phase.capex_usd_per_mw_it, base_phase.capex_usd_per_mw_it)
            lease[key] = _ratio(phase.lease_usd_per_kw_month, base_phase.lease_usd_per_kw_month)
    return {"btc_price_usd": price, "btc_per_th_day": per_th, "power_price_usd_per_mwh": power,
            "capex_scale": capex, "lease_scale": lease}


def _ratio(new: float, base: float) -> float:
    return 1.0 if base == 0.0 else new / base
