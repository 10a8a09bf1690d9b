"""What the formulation modules share while the model is built: the calendar, the market
series per scenario, and ledgers into which each module posts its contributions.

A module never reads another module's variables directly; it posts terms into a ledger
(cash per month and scenario, power use per site and month, mining capacity removed,
BTC mined, terminal value) and the module that owns the balance reads the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from capalloc.models.common import series_values
from capalloc.models.instance import Instance
from capalloc.optimizer.calendar import Calendar
from capalloc.optimizer.economics import (
    breakeven_hashprice_usd_per_ph_day,
    breakeven_hashrate_ehs,
    btc_per_th_day,
    btc_per_th_day_from_hashprice,
    capped_hashrate_ehs,
    subsidy_by_month,
)

USD_PER_MODEL_UNIT = 1e6
"""The model counts money in $M so that coefficients stay well conditioned."""

Term = tuple[float, Any]
"""A linear term: (coefficient, Pyomo variable)."""


@dataclass
class Ledger:
    """Linear expressions as constant + list of terms, keyed by whatever the owner needs."""

    constants: dict[Any, float] = field(default_factory=lambda: defaultdict(float))
    terms: dict[Any, list[Term]] = field(default_factory=lambda: defaultdict(list))

    def add(self, key: Any, coefficient: Any, var: Any) -> None:
        """Post a term; the coefficient is a float or a fixed expression of knob Params."""
        if not (isinstance(coefficient, float | int) and coefficient == 0):
            self.terms[key].append((coefficient, var))

    def add_constant(self, key: Any, value: float) -> None:
        self.constants[key] += value

    def keys(self) -> set[Any]:
        return set(self.terms) | set(self.constants)


@dataclass
class ScenarioMarket:
    name: str
    probability: float
    btc_price_usd: list[float]
    btc_per_th_day: list[float]
    hashprice_usd_per_ph_day: list[float] = field(default_factory=list)


@dataclass
class BuildContext:
    instance: Instance
    calendar: Calendar
    scenarios: list[ScenarioMarket]
    elastic_cash: bool = False
    parametric: bool = False
    cure: str | None = None  # formulation.cure: None, "starting_cash" or "floor"
    knobs: Any = None  # formulation.knobs.Knobs, set by the builder
    phase_windows: list[Any] = field(default_factory=list)  # set by ai_phases
    signed_by: Any = None  # ai_phases.SignedBy
    site_power_price: dict[str, list[float]] = field(default_factory=dict)
    scenario_power_price: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    cash: Ledger = field(default_factory=Ledger)  # key (t, w): model units ($M)
    btc_mined: Ledger = field(default_factory=Ledger)  # key (t, w): BTC
    power_use: Ledger = field(default_factory=Ledger)  # key (site, t, w): facility MW
    mining_capacity_removed: Ledger = field(default_factory=Ledger)  # key (site, t): ASIC MW
    mining_capacity_added: Ledger = field(default_factory=Ledger)  # key (site, t): ASIC MW of new halls
    fleet_owned: Ledger = field(default_factory=Ledger)  # key (generation, t): ASIC MW owned
    fleet_ordered: Any = None  # fleet.add_fleet: (generation, t) -> terms of the MW ordered
    terminal: Ledger = field(default_factory=Ledger)  # key w: model units at the end of T-1
    # Income (issue 14: taxes and the covenant), posted only when income_tracked, in $M:
    ebitda: Ledger = field(default_factory=Ledger)  # key (t, w): operating flows of the month
    interest: Ledger = field(default_factory=Ledger)  # key (t, w): interest and fees accrued
    scheduled_principal: Ledger = field(default_factory=Ledger)  # key (t, w): amortization due
    depreciation: Ledger = field(default_factory=Ledger)  # key (t, w): tax depreciation
    # key w: PV at the end of T-1 of the after-horizon rent and mining in the terminal value
    terminal_taxable: Ledger = field(default_factory=Ledger)
    # key w: PV at the end of T-1 of the depreciation still to come after the horizon
    terminal_depreciation: Ledger = field(default_factory=Ledger)
    # key (t, w): model units of value (not cash) given up in month t, discounted at its own
    # month: equity issuance's cost, conversions of convertible notes.
    value: Ledger = field(default_factory=Ledger)
    tie_break: list[Term] = field(default_factory=list)  # objective terms, model units

    @cached_property
    def sites_by_id(self) -> dict[str, Any]:
        return {site.id: site for site in self.instance.sites}

    @cached_property
    def site_order(self) -> dict[str, int]:
        return {site.id: i for i, site in enumerate(self.instance.sites)}

    @cached_property
    def generations_by_id(self) -> dict[str, Any]:
        return {gen.id: gen for gen in self.instance.fleet}

    @property
    def tax_rate(self) -> float:
        """The tax rate as a fraction (0 without finance.taxes)."""
        taxes = self.instance.finance.taxes
        return taxes.rate_pct / 100.0 if taxes is not None else 0.0

    @property
    def income_tracked(self) -> bool:
        """Whether the income ledgers are needed: taxes at a positive rate or a covenant."""
        return self.tax_rate > 0.0 or self.instance.finance.covenant is not None

    @property
    def months(self) -> range:
        return range(self.calendar.months)

    @property
    def scenario_names(self) -> list[str]:
        names = self.__dict__.get("_scenario_names")
        if names is None or len(names) != len(self.scenarios):
            names = [s.name for s in self.scenarios]
            self.__dict__["_scenario_names"] = names
        return names


def make_context(
    instance: Instance, elastic_cash: bool = False, parametric: bool = False
) -> BuildContext:
    calendar = Calendar(instance.start, instance.horizon_months, instance.discount_rate_pct_per_year)
    ctx = BuildContext(instance, calendar, scenario_markets(instance, calendar), elastic_cash, parametric)
    ctx.site_power_price = {
        s.id: series_values(s.power_price_usd_per_mwh, instance.start, calendar.months)
        for s in instance.sites
    }
    ctx.scenario_power_price = scenario_power_prices(instance, calendar.months)
    return ctx


def scenario_power_prices(instance: Instance, months: int) -> dict[tuple[str, str], list[float]]:
    """(site, scenario) -> power price per month: the scenario's override, else the site's series."""
    out = {}
    for site in instance.sites:
        base = series_values(site.power_price_usd_per_mwh, instance.start, months)
        for scenario in instance.market.scenarios:
            override = site.power_price_by_scenario_usd_per_mwh.get(scenario.name)
            out[(site.id, scenario.name)] = (
                base if override is None else series_values(override, instance.start, months))
    return out


def scenario_markets(instance: Instance, calendar: Calendar) -> list[ScenarioMarket]:
    market = instance.market
    halvings = [(calendar.index(h.month), h.subsidy_btc_per_block) for h in market.halvings]
    subsidy = subsidy_by_month(market.initial_subsidy_btc_per_block, halvings, calendar.months)
    out = []
    for scenario in market.scenarios:
        price = series_values(scenario.btc_price_usd, instance.start, calendar.months)
        hashrate = series_values(scenario.network_hashrate_ehs, instance.start, calendar.months)
        fees = series_values(scenario.fees_btc_per_block, instance.start, calendar.months)
        marginal = market.marginal_fleet
        if marginal is not None:
            hashrate = [
                capped_hashrate_ehs(hashrate[t], breakeven_hashrate_ehs(
                    price[t], subsidy[t], fees[t], marginal.efficiency_j_per_th,
                    marginal.power_price_usd_per_mwh, market.blocks_per_day))
                for t in range(calendar.months)
            ]
        per_th = [
            btc_per_th_day(subsidy[t], fees[t], hashrate[t], market.blocks_per_day)
            for t in range(calendar.months)
        ]
        if scenario.hashprice_usd_per_ph_day is not None:
            given = series_values(scenario.hashprice_usd_per_ph_day, instance.start, calendar.months)
            per_th = [btc_per_th_day_from_hashprice(given[t], price[t]) for t in range(calendar.months)]
            if marginal is not None:  # the cap is a floor on hashprice, whichever way it is given
                floor = [
                    btc_per_th_day_from_hashprice(breakeven_hashprice_usd_per_ph_day(
                        marginal.efficiency_j_per_th, marginal.power_price_usd_per_mwh), price[t])
                    for t in range(calendar.months)
                ]
                per_th = [max(a, b) for a, b in zip(per_th, floor, strict=True)]
        hashprice = [per_th[t] * price[t] * 1000.0 for t in range(calendar.months)]
        out.append(ScenarioMarket(scenario.name, scenario.probability, price, per_th, hashprice))
    return out


def linear(terms: list[Term], constant: float = 0.0) -> Any:
    """A Pyomo LinearExpression from (coefficient, var) terms; repeated vars are merged later."""
    from pyomo.core.expr.numeric_expr import LinearExpression

    if not terms:
        return LinearExpression(constant=constant, linear_coefs=[], linear_vars=[])
    coefs, variables = zip(*terms, strict=True)
    return LinearExpression(constant=constant, linear_coefs=list(coefs), linear_vars=list(variables))
