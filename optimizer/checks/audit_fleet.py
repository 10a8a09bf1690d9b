"""The independent audit of the fleet as an investment and of the power side (issue 13).

Restated from DESIGN.md ("The decision as planners face it", "Timing and accounting of the
new capabilities") on the plan's decisions alone, with pandas; nothing here reads the
formulation. Orders and sales are read from plan.decisions.fleet, halls from
plan.decisions.halls; what a generation owns and what halls are online is recomputed
here from the instance and those decisions and compared with what the plan states.
"""

from __future__ import annotations

import math

import pandas as pd

from capalloc.models.common import month_ordinal, series_values
from capalloc.models.instance import Instance
from capalloc.models.plan import Plan
from capalloc.optimizer.calendar import Calendar
from capalloc.optimizer.checks.audit_rules import MW_TOL, Violation

FLEET_COLUMNS = ["generation", "t", "month", "ordered_mw", "delivered_mw", "sold_mw", "owned_mw",
                 "order_usd_per_mw", "resale_usd_per_mw"]


def _series(values: list[float], T: int) -> list[float]:
    return [float(v) for v in values[:T]] + [0.0] * max(0, T - len(values))


def _shape(values: list[float], T: int, what: str, where: tuple, out: list[Violation]) -> list[float]:
    if len(values) != T:
        out.append(Violation("decision_shape", None, where[0], where[1], None, float(abs(len(values) - T)),
                             f"{what} has {len(values)} months, the horizon {T}"))
    return _series(values, T)


def fleet_frame(instance: Instance, calendar: Calendar, plan: Plan, out: list[Violation]) -> pd.DataFrame:
    """Per generation and month: MW ordered, delivered (order shifted by the lead), sold and
    owned (installed + delivered so far - sold before the month), recomputed; every order and
    sale rule checked on the way."""
    T = calendar.months
    given = {}
    for d in plan.decisions.fleet:
        if d.generation not in {g.id for g in instance.fleet}:
            out.append(Violation("unknown_id", None, None, d.generation, None, 1.0,
                                 "fleet decision names an unknown generation"))
        elif d.generation in given:
            out.append(Violation("decision_shape", None, None, d.generation, None, 1.0,
                                 "fleet decision listed twice; the first one is used"))
        else:
            given[d.generation] = d
    frames = []
    for gen in instance.fleet:
        d = given.get(gen.id)
        where = (None, gen.id)
        ordered = _shape(d.ordered_mw, T, "ordered_mw", where, out) if d else [0.0] * T
        sold = _shape(d.sold_mw, T, "sold_mw", where, out) if d else [0.0] * T
        purchase = gen.purchase
        lead = purchase.delivery_lead_months if purchase else 0
        first = 0
        if purchase and purchase.first_order_month:
            first = max(0, calendar.index(purchase.first_order_month))
        price = series_values(purchase.price_usd_per_th, instance.start, T) if purchase else [0.0] * T
        resale = (series_values(gen.resale_usd_per_th, instance.start, T)
                  if gen.resale_usd_per_th is not None else [0.0] * T)
        th_per_mw = 1e6 / gen.efficiency_j_per_th  # 1 MW = 1e6 J/s
        delivered = [ordered[t - lead] if purchase and t >= lead else 0.0 for t in range(T)]
        owned, before = [], gen.installed_mw
        for t in range(T):
            now = before + delivered[t] - (sold[t - 1] if t > 0 else 0.0)
            owned.append(now)
            before = now
        for t in range(T):
            month = calendar.label(t)
            if ordered[t] < -MW_TOL or sold[t] < -MW_TOL:
                out.append(Violation("fleet_nonnegative", None, None, gen.id, month,
                                     -min(ordered[t], sold[t]), "a negative order or sale"))
            if ordered[t] > MW_TOL:
                if purchase is None:
                    out.append(Violation("order_allowed", None, None, gen.id, month, ordered[t],
                                         f"{ordered[t]:g} MW ordered, the generation has no purchase terms"))
                    continue
                if not first <= t <= T - 1 - lead:
                    out.append(Violation(
                        "order_window", None, None, gen.id, month, ordered[t],
                        f"{ordered[t]:g} MW ordered in {month}: orders run from "
                        f"{calendar.label(first)} and must be delivered (order + {lead} months) by "
                        f"{calendar.label(T - 1)}"))
                if purchase.max_mw_per_month is not None and ordered[t] > purchase.max_mw_per_month + MW_TOL:
                    out.append(Violation("order_supply", None, None, gen.id, month,
                                         ordered[t] - purchase.max_mw_per_month,
                                         f"{ordered[t]:g} MW ordered, the supply limit is "
                                         f"{purchase.max_mw_per_month:g} MW per month"))
                if purchase.lot_mw:
                    lots = ordered[t] / purchase.lot_mw
                    if abs(lots - round(lots)) * purchase.lot_mw > 10 * MW_TOL:
                        out.append(Violation("order_lots", None, None, gen.id, month,
                                             abs(lots - round(lots)) * purchase.lot_mw,
                                             f"{ordered[t]:g} MW is not a whole number of "
                                             f"{purchase.lot_mw:g} MW lots"))
            if sold[t] > MW_TOL and gen.resale_usd_per_th is None:
                out.append(Violation("sale_allowed", None, None, gen.id, month, sold[t],
                                     f"{sold[t]:g} MW sold, the generation has no resale price"))
            if sold[t] > owned[t] + MW_TOL * (t + 2):
                out.append(Violation("sale_within_owned", None, None, gen.id, month, sold[t] - owned[t],
                                     f"{sold[t]:g} MW sold, {owned[t]:g} MW owned"))
        if d is not None:
            stated = {"delivered": _series(d.delivered_mw, T), "owned": _series(d.owned_mw, T)}
            computed = {"delivered": delivered, "owned": owned}
            for name in stated:
                for t in range(T):
                    gap = abs(stated[name][t] - computed[name][t])
                    if gap > MW_TOL * (t + 2):
                        out.append(Violation(
                            f"fleet_{name}", None, None, gen.id, calendar.label(t), gap,
                            f"the plan says {stated[name][t]:g} MW {name}, the orders"
                            f"{' shifted by the lead' if name == 'delivered' else ' and sales'} give "
                            f"{computed[name][t]:g}"))
                        break
        frames.append(pd.DataFrame({
            "generation": gen.id, "t": range(T), "month": calendar.labels, "ordered_mw": ordered,
            "delivered_mw": delivered, "sold_mw": sold, "owned_mw": owned,
            "order_usd_per_mw": [p * th_per_mw for p in price],
            "resale_usd_per_mw": [r * th_per_mw for r in resale],
            "deposit_share": (purchase.deposit_pct / 100.0) if purchase else 0.0, "lead": lead,
        }))
    if not frames:
        return pd.DataFrame(columns=[*FLEET_COLUMNS, "deposit_share", "lead"])
    return pd.concat(frames, ignore_index=True)


def fleet_cash(calendar: Calendar, fleet: pd.DataFrame) -> pd.DataFrame:
    """Per month, USD (outflows negative): deposits at the order month's end, balances at the
    end of order month + lead, resale at the end of the sale month."""
    T = calendar.months
    frame = pd.DataFrame({"t": range(T), "deposits": 0.0, "balances": 0.0, "resale": 0.0,
                          "fleet_rounding_usd": 0.0})
    for row in fleet.itertuples():
        paid = row.ordered_mw * row.order_usd_per_mw
        frame.loc[row.t, "deposits"] -= row.deposit_share * paid
        if row.t + row.lead < T:
            frame.loc[row.t + row.lead, "balances"] -= (1.0 - row.deposit_share) * paid
        frame.loc[row.t, "resale"] += row.sold_mw * row.resale_usd_per_mw
        frame.loc[row.t, "fleet_rounding_usd"] += MW_TOL * (row.order_usd_per_mw + row.resale_usd_per_mw)
    return frame


def fleet_terminal_usd(instance: Instance, fleet: pd.DataFrame, T: int) -> float:
    """DESIGN: a generation with a resale series at its last month's resale price (on what is
    owned after that month's sale), one without at salvage_usd_per_mw per MW owned."""
    total = 0.0
    for gen in instance.fleet:
        rows = fleet[(fleet["generation"] == gen.id) & (fleet["t"] == T - 1)]
        if rows.empty:
            continue
        last = rows.iloc[0]
        if gen.resale_usd_per_th is not None:
            total += (last["owned_mw"] - last["sold_mw"]) * last["resale_usd_per_mw"]
        else:
            total += last["owned_mw"] * gen.salvage_usd_per_mw
    return float(total)


def halls_frame(instance: Instance, calendar: Calendar, plan: Plan, out: list[Violation]) -> pd.DataFrame:
    """Per site and month: hall MW built and online (built build-lead months before, summed)."""
    T = calendar.months
    given = {}
    for d in plan.decisions.halls:
        if d.site not in {s.id for s in instance.sites}:
            out.append(Violation("unknown_id", None, d.site, None, None, 1.0,
                                 "hall decision names an unknown site"))
        else:
            given.setdefault(d.site, d)
    rows = []
    for site in instance.sites:
        d, halls = given.get(site.id), site.mining_halls
        built = _shape(d.built_mw, T, "built_mw", (site.id, None), out) if d else [0.0] * T
        lead = halls.build_lead_months if halls else 0
        online = 0.0
        for t in range(T):
            month = calendar.label(t)
            if built[t] > MW_TOL and (halls is None or t > T - 1 - lead):
                out.append(Violation("hall_window", None, site.id, None, month, built[t],
                                     f"{built[t]:g} MW of halls started in {month}: the site may not "
                                     "build halls then (none offered, or online after the horizon)"))
            if halls and t >= lead:
                online += built[t - lead]
            rows.append({"site": site.id, "t": t, "hall_built_mw": built[t], "hall_online_mw": online,
                         "hall_capex_usd": built[t] * (halls.capex_usd_per_mw if halls else 0.0)})
        if halls and sum(built) > halls.max_mw + MW_TOL * T:
            out.append(Violation("hall_limit", None, site.id, None, None, sum(built) - halls.max_mw,
                                 f"{sum(built):g} MW of halls built, at most {halls.max_mw:g}"))
        if d is not None:
            stated = _series(d.online_mw, T)
            for t in range(T):
                computed = rows[-T + t]["hall_online_mw"]
                if abs(stated[t] - computed) > MW_TOL * (t + 2):
                    out.append(Violation("hall_online", None, site.id, None, calendar.label(t),
                                         abs(stated[t] - computed),
                                         f"the plan says {stated[t]:g} MW of halls online, builds "
                                         f"{lead} months earlier give {computed:g}"))
                    break
    return pd.DataFrame(rows)


def curtailment_shares(instance: Instance, calendar: Calendar) -> pd.DataFrame:
    """Per site and month: share of running hours that may be curtailed (0-1) and the credit
    per MW curtailed over all running hours: USD/MWh x PUE x hours x uptime."""
    rows = []
    for site in instance.sites:
        c = site.curtailment
        for t, label in enumerate(calendar.labels):
            share = c.max_share_pct_by_calendar_month.get(int(label[5:7]), 0.0) / 100.0 if c else 0.0
            credit = (c.credit_usd_per_mwh * site.mining_pue * calendar.hours[t] * site.uptime_pct / 100.0
                      if c else 0.0)
            rows.append({"site": site.id, "t": t, "curtail_share": share if credit > 0 else 0.0,
                         "credit_usd_per_mw": credit})
    return pd.DataFrame(rows)


def fixed_charges(instance: Instance, calendar: Calendar) -> pd.DataFrame:
    """Per month: the sites' fixed power charges, USD, on the MW energized in the month."""
    T = calendar.months
    total = [0.0] * T
    for site in instance.sites:
        steps = sorted((month_ordinal(s.from_month), s.contracted_mw) for s in site.energization)
        for t, label in enumerate(calendar.labels):
            mw = [value for first, value in steps if first <= month_ordinal(label)]
            total[t] += site.fixed_power_charge_usd_per_mw_month * (mw[-1] if mw else 0.0)
    return pd.DataFrame({"t": range(T), "fixed_charges": total})


def hashrate_path(instance: Instance, scenario, price: list[float], subsidy: list[float],
                  fees: list[float], T: int) -> tuple[list[float], list[float] | None]:
    """(network EH/s after the cap, hashprice floor in USD/PH-day or None), per month.

    The cap: the marginal fleet breaks even where price x blocks x (subsidy + fees) / network
    TH/s per TH/s-day equals J/TH x 24 h x USD/MWh / 1e6 (PUE 1, uptime 100 %)."""
    market = instance.market
    hashrate = series_values(scenario.network_hashrate_ehs, instance.start, T)
    marginal = market.marginal_fleet
    if marginal is None:
        return hashrate, None
    cost_per_th_day = marginal.efficiency_j_per_th * 24.0 * marginal.power_price_usd_per_mwh / 1e6
    if cost_per_th_day <= 0.0:
        return hashrate, None
    capped = []
    for t in range(T):
        breakeven_th = price[t] * market.blocks_per_day * (subsidy[t] + fees[t]) / cost_per_th_day
        capped.append(min(hashrate[t], breakeven_th / 1e6))
    return capped, [cost_per_th_day * 1000.0] * T


def nan_to_zero(value: float) -> float:
    return 0.0 if value is None or math.isnan(value) else float(value)
