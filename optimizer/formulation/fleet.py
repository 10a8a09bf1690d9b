"""The fleet as an investment: orders, deliveries and sales of ASIC generations, and new
mining halls (DESIGN.md, "The decision as planners face it" and "Timing and accounting").

Orders, sales and halls are investment decisions, common to every scenario.

- ordered[g, u] MW ordered in month u (u + lead <= T - 1: delivered inside the horizon),
  in whole lots when the generation has lot_mw (integer lots[g, u]), at most
  max_mw_per_month. Cash: the deposit share of price[u] x TH/MW at the end of u, the rest
  at the end of u + lead, the first month the machines run.
- sold[g, t] MW sold in month t at resale[t] x TH/MW, cash at the end of t; they still run
  in t and are gone from t + 1: sold[g, t] <= owned[g, t].
- owned[g, t] = owned[g, t-1] + ordered[g, t - lead] - sold[g, t-1], owned[g, 0] = installed.
  A generation that can be neither bought nor sold keeps its installed MW as a constant.
- halls[s, u] MW of mining infrastructure built in month u at capex per MW (paid at the end
  of u), hosting miners from u + build lead (inside the horizon); at most max_mw in all.

Terminal value: a generation with a resale series is worth owned - sold at the end of the
last month at that month's resale price; one without at salvage_usd_per_mw per MW owned.
"""

from __future__ import annotations

import math

import pyomo.core as pyo

from capalloc.models.common import series_values
from capalloc.models.instance import FleetGeneration
from capalloc.optimizer.economics import usd_per_mw_of_asics
from capalloc.optimizer.economics_finance import depreciation_after_horizon_pv, straight_line
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext, Term, linear


def order_window(ctx: BuildContext, gen: FleetGeneration) -> range:
    """Months an order may be placed in: from the first order month to T-1-lead."""
    if gen.purchase is None:
        return range(0)
    first = 0
    if gen.purchase.first_order_month is not None:
        first = max(0, ctx.calendar.index(gen.purchase.first_order_month))
    return range(first, ctx.calendar.months - gen.purchase.delivery_lead_months)


def hall_window(ctx: BuildContext, site) -> range:
    """Months halls may be built in: online (build month + lead) inside the horizon."""
    halls = site.mining_halls
    if halls is None or halls.max_mw <= 0.0:
        return range(0)
    return range(0, ctx.calendar.months - halls.build_lead_months)


def tracks_ownership(gen: FleetGeneration) -> bool:
    """Whether the MW owned change over the horizon (bought or sold): a state variable."""
    return gen.purchase is not None or gen.resale_usd_per_th is not None


def add_fleet(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    T = ctx.calendar.months
    fleet = ctx.instance.fleet
    windows = {g.id: order_window(ctx, g) for g in fleet}

    order_index = [(g.id, t) for g in fleet for t in windows[g.id]]
    lots_index = [(g, t) for (g, t) in order_index if ctx.generations_by_id[g].purchase.lot_mw]
    model.fleet_ordered_mw = pyo.Var(
        [k for k in order_index if k not in set(lots_index)], domain=pyo.NonNegativeReals,
        doc="ASIC MW ordered in the month (continuous sizes)")
    model.fleet_lots = pyo.Var(lots_index, domain=pyo.NonNegativeIntegers,
                               doc="whole lots of ASICs ordered in the month")
    for (g, t) in order_index:
        purchase = ctx.generations_by_id[g].purchase
        if purchase.max_mw_per_month is None:
            continue
        if purchase.lot_mw:
            model.fleet_lots[g, t].setub(math.floor(purchase.max_mw_per_month / purchase.lot_mw + 1e-9))
        else:
            model.fleet_ordered_mw[g, t].setub(purchase.max_mw_per_month)
    sold_index = [(g.id, t) for g in fleet if g.resale_usd_per_th is not None for t in range(T)]
    model.fleet_sold_mw = pyo.Var(sold_index, domain=pyo.NonNegativeReals, doc="ASIC MW sold in the month")
    tracked = [g for g in fleet if tracks_ownership(g)]
    model.fleet_owned_mw = pyo.Var([(g.id, t) for g in tracked for t in range(T)],
                                   domain=pyo.NonNegativeReals, doc="ASIC MW owned in the month")

    def ordered(g: str, t: int) -> list[Term]:
        """The MW ordered in month t as terms (none outside the order window)."""
        if t not in windows[g]:
            return []
        lot = ctx.generations_by_id[g].purchase.lot_mw
        return [(lot, model.fleet_lots[g, t])] if lot else [(1.0, model.fleet_ordered_mw[g, t])]

    ctx.fleet_ordered = ordered
    balance_rows, sale_rows = {}, {}
    for gen in fleet:
        g = gen.id
        if not tracks_ownership(gen):
            for t in range(T):
                ctx.fleet_owned.add_constant((g, t), gen.installed_mw)
            continue
        lead = gen.purchase.delivery_lead_months if gen.purchase else 0
        for t in range(T):
            owned = model.fleet_owned_mw[g, t]
            ctx.fleet_owned.add((g, t), 1.0, owned)
            terms = [(1.0, owned)]
            constant = 0.0
            if t == 0:
                constant = gen.installed_mw
            else:
                terms.append((-1.0, model.fleet_owned_mw[g, t - 1]))
                if gen.resale_usd_per_th is not None:
                    terms.append((1.0, model.fleet_sold_mw[g, t - 1]))
            if gen.purchase is not None:
                terms += [(-c, v) for c, v in ordered(g, t - lead)]
            balance_rows[(g, t)] = (linear(terms), constant)
            if gen.resale_usd_per_th is not None:
                sale_rows[(g, t)] = linear([(1.0, model.fleet_sold_mw[g, t]), (-1.0, owned)])
    model.fleet_ownership = pyo.Constraint(
        list(balance_rows), rule=lambda m, g, t: balance_rows[g, t][0] == balance_rows[g, t][1],
        doc="owned = owned last month + delivered (ordered lead months ago) - sold last month")
    model.fleet_sale_within_owned = pyo.Constraint(
        list(sale_rows), rule=lambda m, g, t: sale_rows[g, t] <= 0.0,
        doc="machines sold in a month are owned in it")

    _post_fleet_cash(model, ctx, ordered)
    post_starting_depreciation(ctx)
    _add_halls(model, ctx)


def _post_fleet_cash(model, ctx: BuildContext, ordered) -> None:
    instance, T = ctx.instance, ctx.calendar.months
    for gen in instance.fleet:
        g = gen.id
        if gen.purchase is not None:
            price = series_values(gen.purchase.price_usd_per_th, instance.start, T)
            deposit = gen.purchase.deposit_pct / 100.0
            lead = gen.purchase.delivery_lead_months
            for u in order_window(ctx, gen):
                per_mw = usd_per_mw_of_asics(price[u], gen.efficiency_j_per_th) / USD_PER_MODEL_UNIT
                for c, v in ordered(g, u):
                    for w in ctx.scenario_names:
                        ctx.cash.add((u, w), -deposit * per_mw * c, v)
                        ctx.cash.add((u + lead, w), -(1.0 - deposit) * per_mw * c, v)
                    if ctx.tax_rate > 0.0:
                        _post_depreciation(ctx, per_mw * c, u + lead, gen.tax_life_months, v)
        if gen.resale_usd_per_th is not None:
            resale = series_values(gen.resale_usd_per_th, instance.start, T)
            per_mw = [usd_per_mw_of_asics(r, gen.efficiency_j_per_th) / USD_PER_MODEL_UNIT for r in resale]
            for t in range(T):
                for w in ctx.scenario_names:
                    ctx.cash.add((t, w), per_mw[t], model.fleet_sold_mw[g, t])
                    if ctx.income_tracked:  # README: the basis of machines sold stays in the pool
                        ctx.ebitda.add((t, w), per_mw[t], model.fleet_sold_mw[g, t])
            for w in ctx.scenario_names:
                ctx.terminal.add(w, per_mw[T - 1], model.fleet_owned_mw[g, T - 1])
                ctx.terminal.add(w, -per_mw[T - 1], model.fleet_sold_mw[g, T - 1])
        elif tracks_ownership(gen):
            for w in ctx.scenario_names:
                ctx.terminal.add(w, gen.salvage_usd_per_mw / USD_PER_MODEL_UNIT,
                                 model.fleet_owned_mw[g, T - 1])
        else:
            for w in ctx.scenario_names:
                ctx.terminal.add_constant(w, gen.installed_mw * gen.salvage_usd_per_mw / USD_PER_MODEL_UNIT)


def _post_depreciation(ctx: BuildContext, cost: float, first: int, life: int, var=None) -> None:
    """Straight-line tax depreciation of ``cost`` ($M, times ``var`` when given) from month
    ``first`` over ``life`` months, and the PV of what falls after the horizon."""
    T = ctx.calendar.months
    monthly = straight_line(cost, first, life, T)
    after = depreciation_after_horizon_pv(cost, first, life, T, ctx.calendar.months_after_end_factors(life))
    for w in ctx.scenario_names:
        for t in range(max(first, 0), min(first + life, T)):
            if var is None:
                ctx.depreciation.add_constant((t, w), monthly[t])
            else:
                ctx.depreciation.add((t, w), monthly[t], var)
        if after > 0.0:
            if var is None:
                ctx.terminal_depreciation.add_constant(w, after)
            else:
                ctx.terminal_depreciation.add(w, after, var)


def post_starting_depreciation(ctx: BuildContext) -> None:
    """The installed fleet's stated basis, depreciated from the first month."""
    if ctx.tax_rate <= 0.0:
        return
    for gen in ctx.instance.fleet:
        if gen.starting_tax_basis_usd > 0.0:
            _post_depreciation(ctx, gen.starting_tax_basis_usd / USD_PER_MODEL_UNIT, 0, gen.tax_life_months)


def _add_halls(model, ctx: BuildContext) -> None:
    T = ctx.calendar.months
    sites = [s for s in ctx.instance.sites if hall_window(ctx, s)]
    model.hall_built_mw = pyo.Var([(s.id, t) for s in sites for t in hall_window(ctx, s)],
                                  domain=pyo.NonNegativeReals, doc="mining hall MW built in the month")
    model.hall_online_mw = pyo.Var([(s.id, t) for s in sites for t in range(T)],
                                   domain=pyo.NonNegativeReals, doc="mining hall MW hosting miners")
    rows, limits = {}, {}
    for site in sites:
        halls, window = site.mining_halls, hall_window(ctx, site)
        capex = halls.capex_usd_per_mw / USD_PER_MODEL_UNIT
        for t in range(T):
            terms = [(1.0, model.hall_online_mw[site.id, t])]
            if t > 0:
                terms.append((-1.0, model.hall_online_mw[site.id, t - 1]))
            if t - halls.build_lead_months in window:
                terms.append((-1.0, model.hall_built_mw[site.id, t - halls.build_lead_months]))
            rows[(site.id, t)] = linear(terms)
            ctx.mining_capacity_added.add((site.id, t), 1.0, model.hall_online_mw[site.id, t])
        for u in window:
            for w in ctx.scenario_names:
                ctx.cash.add((u, w), -capex, model.hall_built_mw[site.id, u])
        limits[site.id] = (linear([(1.0, model.hall_built_mw[site.id, u]) for u in window]), halls.max_mw)
    model.hall_online = pyo.Constraint(
        list(rows), rule=lambda m, s, t: rows[s, t] == 0.0,
        doc="halls host miners from their build month + lead on")
    model.hall_limit = pyo.Constraint(
        list(limits), rule=lambda m, s: limits[s][0] <= limits[s][1], doc="at most max_mw of halls")


def fleet_values(model, ctx: BuildContext) -> dict[str, dict[str, list[float]]]:
    """Solved orders, deliveries, sales and ownership per tracked generation, MW by month."""
    T = ctx.calendar.months
    out = {}
    for gen in ctx.instance.fleet:
        if not tracks_ownership(gen):
            continue
        g = gen.id
        ordered = [sum(c * pyo.value(v) for c, v in ctx.fleet_ordered(g, t)) for t in range(T)]
        lead = gen.purchase.delivery_lead_months if gen.purchase else 0
        delivered = [ordered[t - lead] if gen.purchase and t >= lead else 0.0 for t in range(T)]
        sold = ([pyo.value(model.fleet_sold_mw[g, t]) for t in range(T)]
                if gen.resale_usd_per_th is not None else [0.0] * T)
        owned = [pyo.value(model.fleet_owned_mw[g, t]) for t in range(T)]
        out[g] = {"ordered": ordered, "delivered": delivered, "sold": sold, "owned": owned}
    return out


def fleet_cash_usd(ctx: BuildContext, values: dict[str, dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per month, USD (outflows negative): purchase deposits, purchase balances, resale cash."""
    instance, T = ctx.instance, ctx.calendar.months
    out = {"deposits": [0.0] * T, "balances": [0.0] * T, "resale": [0.0] * T}
    for g, v in values.items():
        gen = ctx.generations_by_id[g]
        if gen.purchase is not None:
            price = series_values(gen.purchase.price_usd_per_th, instance.start, T)
            deposit, lead = gen.purchase.deposit_pct / 100.0, gen.purchase.delivery_lead_months
            for u in range(T):
                paid = v["ordered"][u] * usd_per_mw_of_asics(price[u], gen.efficiency_j_per_th)
                out["deposits"][u] -= deposit * paid
                if u + lead < T:
                    out["balances"][u + lead] -= (1.0 - deposit) * paid
        if gen.resale_usd_per_th is not None:
            resale = series_values(gen.resale_usd_per_th, instance.start, T)
            for t in range(T):
                out["resale"][t] += v["sold"][t] * usd_per_mw_of_asics(resale[t], gen.efficiency_j_per_th)
    return out


def hall_values(model, ctx: BuildContext) -> dict[str, dict[str, list[float]]]:
    """Solved hall builds and halls online per site that may build them, MW by month."""
    T = ctx.calendar.months
    out = {}
    for site in ctx.instance.sites:
        window = hall_window(ctx, site)
        if not window:
            continue
        out[site.id] = {
            "built": [pyo.value(model.hall_built_mw[site.id, t]) if t in window else 0.0 for t in range(T)],
            "online": [pyo.value(model.hall_online_mw[site.id, t]) for t in range(T)],
        }
    return out
