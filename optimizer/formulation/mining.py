"""Mining and the fleet: where each ASIC generation sits, how much of it runs, what it earns.

placed[s,g,t,w] MW of generation g sit at site s in month t; running[s,g,t,w] <= placed of
them run. Moving machines into a site costs per MW (move_in >= placed[t] - placed[t-1],
with the fleet's starting placement before month 0). Placed across sites <= the MW owned
(formulation.fleet). A site hosts at most its mining infrastructure plus the halls built
and online, less what retrofit AI phases signed by month t have displaced. Mined BTC goes
to the treasury; power and opex are paid in cash.

Curtailment: curtailed[s,g,t,w] <= share of the calendar month x running is the MW whose
running hours are all curtailed (equivalently, that share of the hours of the running MW):
it mines nothing, draws no energy and earns the credit per MWh of facility power not drawn;
opex stays due on running MW.
"""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.optimizer.economics import (
    btc_mined_per_mw,
    curtailment_credit_per_mw,
    mining_energy_cost_per_mw,
)
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext, linear


def can_mine(site) -> bool:
    halls = site.mining_halls
    return site.mining_infrastructure_mw > 0.0 or (halls is not None and halls.max_mw > 0.0)


def can_own(gen) -> bool:
    return gen.installed_mw > 0.0 or gen.purchase is not None


def mining_pairs(ctx: BuildContext) -> list[tuple[str, str]]:
    """(site, generation) pairs that can ever mine: the site has (or may build) mining
    infrastructure, the generation is owned or can be bought and may be placed there."""
    return [
        (site.id, gen.id)
        for site in ctx.instance.sites
        if can_mine(site)
        for gen in ctx.instance.fleet
        if can_own(gen) and (gen.sites is None or site.id in gen.sites)
    ]


def curtailment_share(ctx: BuildContext, site_id: str, t: int) -> float:
    """Largest share (0-1) of month t's running hours the site may curtail."""
    curtailment = ctx.sites_by_id[site_id].curtailment
    if curtailment is None or curtailment.credit_usd_per_mwh <= 0.0:
        return 0.0
    month = int(ctx.calendar.labels[t][5:7])
    return curtailment.max_share_pct_by_calendar_month.get(month, 0.0) / 100.0


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
    curtailable = [(s, g, t, w) for (s, g, t, w) in index if curtailment_share(ctx, s, t) > 0.0]
    model.curtailed_mw = pyo.Var(curtailable, domain=pyo.NonNegativeReals,
                                 doc="running ASIC MW whose hours are curtailed (demand response)")

    running, placed = model.running_mw, model.placed_mw
    model.run_within_placed = pyo.Constraint(
        index, rule=lambda m, *k: linear([(1.0, running[k]), (-1.0, placed[k])]) <= 0.0
    )
    model.curtail_within_share = pyo.Constraint(
        curtailable,
        rule=lambda m, s, g, t, w: linear([(1.0, m.curtailed_mw[s, g, t, w]),
                                           (-curtailment_share(ctx, s, t), running[s, g, t, w])]) <= 0.0,
        doc="curtailed MW within the month's share of running MW",
    )

    def move_rule(m, s, g, t, w):
        terms = [(1.0, placed[s, g, t, w]), (-1.0, m.moved_in_mw[s, g, t, w])]
        if t == 0:
            return linear(terms) <= generations[g].sites_at_start.get(s, 0.0)
        return linear([*terms, (-1.0, placed[s, g, t - 1, w])]) <= 0.0

    model.move_in = pyo.Constraint(movable, rule=move_rule, doc="machines moved into a site")

    sites_of = {g: [s for (s, gg) in pairs if gg == g] for g in generations}
    fleet_rows = {}
    for g in generations:
        if not sites_of[g]:
            continue
        for t in months:
            owned_terms = ctx.fleet_owned.terms.get((g, t), [])
            owned_constant = ctx.fleet_owned.constants.get((g, t), 0.0)
            for w in scenarios:
                terms = [(1.0, placed[s, g, t, w]) for s in sites_of[g]] + [(-c, v) for c, v in owned_terms]
                fleet_rows[(g, t, w)] = (linear(terms), owned_constant)
    model.fleet_size = pyo.Constraint(
        list(fleet_rows), rule=lambda m, g, t, w: fleet_rows[g, t, w][0] <= fleet_rows[g, t, w][1],
        doc="a generation's machines placed across sites do not exceed what is owned",
    )

    gens_of = {s: [g for (ss, g) in pairs if ss == s] for s in sites}
    capacity_rows = {}
    for s, gens in gens_of.items():
        if not gens:
            continue
        for t in months:
            removed = ctx.mining_capacity_removed.terms.get((s, t), [])
            added = [(-c, v) for c, v in ctx.mining_capacity_added.terms.get((s, t), [])]
            for w in scenarios:
                terms = [(1.0, model.placed_mw[s, g, t, w]) for g in gens] + removed + added
                capacity_rows[(s, t, w)] = linear(terms)
    model.mining_capacity = pyo.Constraint(
        list(capacity_rows),
        rule=lambda m, s, t, w: capacity_rows[s, t, w] <= sites[s].mining_infrastructure_mw,
        doc="mining infrastructure and halls online, less what signed retrofits displace",
    )

    _post_flows(model, ctx, pairs, generations, sites)


def mining_unit_economics(ctx: BuildContext, site_id: str, gen_id: str, t: int, scenario_index: int):
    """(BTC mined, energy USD, opex USD) per MW running for a month, as floats (reporting)."""
    site = ctx.sites_by_id[site_id]
    gen = ctx.generations_by_id[gen_id]
    market = ctx.scenarios[scenario_index]
    btc = btc_mined_per_mw(gen.efficiency_j_per_th, market.btc_per_th_day[t],
                           ctx.calendar.days[t], site.uptime_pct)
    price = ctx.scenario_power_price[(site_id, market.name)][t]
    energy = mining_energy_cost_per_mw(site.mining_pue, ctx.calendar.hours[t], site.uptime_pct, price)
    return btc, energy, site.mining_opex_usd_per_mw_month


def curtailment_credit(ctx: BuildContext, site_id: str, t: int) -> float:
    """Credit per MW curtailed over a month's running hours, USD (0 without curtailment)."""
    site = ctx.sites_by_id[site_id]
    if site.curtailment is None:
        return 0.0
    return curtailment_credit_per_mw(site.curtailment.credit_usd_per_mwh, site.mining_pue,
                                     ctx.calendar.hours[t], site.uptime_pct)


def _post_flows(model, ctx: BuildContext, pairs, generations, sites) -> None:
    instance, calendar, knobs = ctx.instance, ctx.calendar, ctx.knobs
    T = calendar.months
    continuation = sum(calendar.months_after_end_factors(instance.terminal.mining_months))
    # Income for taxes and the covenant: mined BTC counts at the month's price when mined.
    ebitda = ctx.ebitda if ctx.income_tracked else None
    taxable = ctx.terminal_taxable if ctx.tax_rate > 0.0 else None
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
                                                   knobs.power_price(s, t, w))
                opex = site.mining_opex_usd_per_mw_month
                ctx.btc_mined.add((t, w), btc, running)
                ctx.cash.add((t, w), -(energy + opex) / USD_PER_MODEL_UNIT, running)
                if ebitda is not None:
                    ebitda.add((t, w), (btc * knobs.btc_price(t, w) - energy - opex) / USD_PER_MODEL_UNIT,
                               running)
                if (s, g, t, w) in model.curtailed_mw:
                    curtailed = model.curtailed_mw[s, g, t, w]
                    ctx.btc_mined.add((t, w), -btc, curtailed)
                    credit = curtailment_credit(ctx, s, t)
                    ctx.cash.add((t, w), (energy + credit) / USD_PER_MODEL_UNIT, curtailed)
                    if ebitda is not None:
                        ebitda.add((t, w), (energy + credit - btc * knobs.btc_price(t, w))
                                   / USD_PER_MODEL_UNIT, curtailed)
                    if t == T - 1 and continuation > 0:
                        saved = credit + energy - btc * final_price
                        ctx.terminal.add(w, saved * (continuation / USD_PER_MODEL_UNIT), curtailed)
                        if taxable is not None:
                            taxable.add(w, saved * (continuation / USD_PER_MODEL_UNIT), curtailed)
                if move_cost > 0:
                    ctx.cash.add((t, w), -move_cost, model.moved_in_mw[s, g, t, w])
                    if ebitda is not None:
                        ebitda.add((t, w), -move_cost, model.moved_in_mw[s, g, t, w])
                ctx.power_use.add((s, t, w), site.mining_pue, running)
                if t == T - 1 and continuation > 0:
                    margin = btc * final_price - energy - opex
                    ctx.terminal.add(w, margin * (continuation / USD_PER_MODEL_UNIT), running)
                    if taxable is not None:
                        taxable.add(w, margin * (continuation / USD_PER_MODEL_UNIT), running)
