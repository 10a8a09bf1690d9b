"""Mining and the fleet: where each ASIC generation sits, how much of it runs, what it earns.

placed[s,g,t,w] MW of generation g sit at site s in month t; running[s,g,t,w] <= placed of
them run. Moving machines into a site costs per MW (move_in >= placed[t] - placed[t-1],
with the fleet's starting placement before month 0). A site hosts at most its mining
infrastructure less what retrofit AI phases signed by month t have displaced. Mined BTC
goes to the treasury; power and opex are paid in cash.
"""

from __future__ import annotations

import pyomo.core as pyo

from optimizer.economics import btc_mined_per_mw, mining_energy_cost_per_mw
from optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext, linear


def mining_pairs(ctx: BuildContext) -> list[tuple[str, str]]:
    """(site, generation) pairs that can ever mine: the site has mining infrastructure."""
    return [
        (site.id, gen.id)
        for site in ctx.instance.sites
        if site.mining_infrastructure_mw > 0.0
        for gen in ctx.instance.fleet
        if gen.installed_mw > 0.0
    ]


def add_mining(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    instance, _calendar = ctx.instance, ctx.calendar
    pairs = mining_pairs(ctx)
    months = list(ctx.months)
    scenarios = ctx.scenario_names
    index = [(s, g, t, w) for (s, g) in pairs for t in months for w in scenarios]
    generations = {g.id: g for g in instance.fleet}
    sites = {s.id: s for s in instance.sites}

    model.placed_mw = pyo.Var(index, domain=pyo.NonNegativeReals, doc="ASIC MW placed at a site")
    model.running_mw = pyo.Var(index, domain=pyo.NonNegativeReals, doc="ASIC MW running")
    movable = [(s, g, t, w) for (s, g, t, w) in index if generations[g].move_cost_usd_per_mw > 0]
    model.moved_in_mw = pyo.Var(movable, domain=pyo.NonNegativeReals, doc="ASIC MW moved in")

    running, placed = model.running_mw, model.placed_mw
    model.run_within_placed = pyo.Constraint(
        index, rule=lambda m, *k: linear([(1.0, running[k]), (-1.0, placed[k])]) <= 0.0
    )

    def move_rule(m, s, g, t, w):
        terms = [(1.0, placed[s, g, t, w]), (-1.0, m.moved_in_mw[s, g, t, w])]
        if t == 0:
            return linear(terms) <= generations[g].sites_at_start.get(s, 0.0)
        return linear([*terms, (-1.0, placed[s, g, t - 1, w])]) <= 0.0

    model.move_in = pyo.Constraint(movable, rule=move_rule, doc="machines moved into a site")

    fleet_rows = [(g, t, w) for g in generations if generations[g].installed_mw > 0
                  for t in months for w in scenarios]
    sites_of = {g: [s for (s, gg) in pairs if gg == g] for g in generations}
    model.fleet_size = pyo.Constraint(
        [r for r in fleet_rows if sites_of[r[0]]],
        rule=lambda m, g, t, w: linear([(1.0, placed[s, g, t, w]) for s in sites_of[g]])
        <= generations[g].installed_mw,
        doc="a generation's machines placed across sites do not exceed what is owned",
    )

    gens_of = {s: [g for (ss, g) in pairs if ss == s] for s in sites}
    capacity_rows = {}
    for s, gens in gens_of.items():
        if not gens:
            continue
        for t in months:
            removed = ctx.mining_capacity_removed.terms.get((s, t), [])
            for w in scenarios:
                terms = [(1.0, model.placed_mw[s, g, t, w]) for g in gens] + removed
                capacity_rows[(s, t, w)] = linear(terms)
    model.mining_capacity = pyo.Constraint(
        list(capacity_rows),
        rule=lambda m, s, t, w: capacity_rows[s, t, w] <= sites[s].mining_infrastructure_mw,
        doc="mining infrastructure less what signed retrofits displace",
    )

    _post_flows(model, ctx, pairs, generations, sites)


def mining_unit_economics(ctx: BuildContext, site_id: str, gen_id: str, t: int, scenario_index: int):
    """(BTC mined, energy USD, opex USD) per MW running for a month, as floats (reporting)."""
    site = ctx.sites_by_id[site_id]
    gen = ctx.generations_by_id[gen_id]
    market = ctx.scenarios[scenario_index]
    btc = btc_mined_per_mw(gen.efficiency_j_per_th, market.btc_per_th_day[t],
                           ctx.calendar.days[t], site.uptime_pct)
    price = ctx.site_power_price[site_id][t]
    energy = mining_energy_cost_per_mw(site.mining_pue, ctx.calendar.hours[t], site.uptime_pct, price)
    return btc, energy, site.mining_opex_usd_per_mw_month


def _post_flows(model, ctx: BuildContext, pairs, generations, sites) -> None:
    instance, calendar, knobs = ctx.instance, ctx.calendar, ctx.knobs
    T = calendar.months
    continuation = sum(calendar.months_after_end_factors(instance.terminal.mining_months))
    for w in ctx.scenario_names:
        final_price = knobs.btc_price(T - 1, w)
        for (s, g) in pairs:
            site, gen = sites[s], generations[g]
            move_cost = gen.move_cost_usd_per_mw / USD_PER_MODEL_UNIT
            for t in range(T):
                running = model.running_mw[s, g, t, w]
                # The same pure functions as the audit; with knobs as Params they build
                # coefficient expressions instead of numbers.
                btc = btc_mined_per_mw(gen.efficiency_j_per_th, knobs.btc_per_th_day(t, w),
                                       calendar.days[t], site.uptime_pct)
                energy = mining_energy_cost_per_mw(site.mining_pue, calendar.hours[t], site.uptime_pct,
                                                   knobs.power_price(s, t))
                opex = site.mining_opex_usd_per_mw_month
                ctx.btc_mined.add((t, w), btc, running)
                ctx.cash.add((t, w), -(energy + opex) / USD_PER_MODEL_UNIT, running)
                if move_cost > 0:
                    ctx.cash.add((t, w), -move_cost, model.moved_in_mw[s, g, t, w])
                ctx.power_use.add((s, t, w), site.mining_pue, running)
                if t == T - 1 and continuation > 0:
                    margin = btc * final_price - energy - opex
                    ctx.terminal.add(w, margin * (continuation / USD_PER_MODEL_UNIT), running)
        salvage = sum(g.installed_mw * g.salvage_usd_per_mw for g in instance.fleet)
        ctx.terminal.add_constant(w, salvage / USD_PER_MODEL_UNIT)
