"""The interactive charts of a plan report (plotly figures, pure functions of the plan's tables).

Every figure has a title naming its units; money is shown in $M. Where a chart is drawn for
one scenario at a time, a menu above it switches the scenario (the first one shows first)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from capalloc.models.common import month_ordinal, ordinal_to_month
from capalloc.optimizer.outputs.report_tables import PlanTables, mix_by_year

TEMPLATE = "plotly_white"
MILLION = 1e6
COLOURS = {  # one colour per use of power, the same in every site's panel
    "running": "#2a9d8f", "curtailed": "#e9c46a", "ai": "#264653", "build": "#e76f51",
    "idle": "#d9d9d9", "energized": "#222222",
}


PALETTE = ("#457b9d", "#e76f51", "#2a9d8f", "#f4a261", "#8d5fd3", "#e9c46a", "#6d597a", "#b56576",
           "#06d6a0", "#118ab2", "#ef476f", "#073b4c")


def colour_of(names: list[str]) -> dict[str, str]:
    """A fixed colour per name, so that a name keeps its colour in every scenario's view."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    top = 110 if fig.layout.updatemenus else 70  # room for the scenario buttons under the title
    below = -60 / max(120, height - top - 80)  # the legend about 60 px under the plot, whatever its height
    fig.update_layout(template=TEMPLATE, title=title, height=height, hovermode="x unified",
                      legend={"orientation": "h", "y": below, "yanchor": "top"},
                      margin={"t": top, "l": 60, "r": 30, "b": 80})
    return fig


def _scenario_menu(fig: go.Figure, owners: list[str], scenarios: list[str]) -> None:
    """Show one scenario's traces at a time (``owners[i]``: the scenario of trace i)."""
    for trace, owner in zip(fig.data, owners, strict=True):
        trace.visible = owner == scenarios[0]
    if len(scenarios) < 2:
        return
    buttons = [{"label": name, "method": "update",
                "args": [{"visible": [owner == name for owner in owners]}]} for name in scenarios]
    fig.update_layout(updatemenus=[{"type": "buttons", "buttons": buttons, "direction": "right", "x": 0.0,
                                    "xanchor": "left", "y": 1.01, "yanchor": "bottom", "showactive": True,
                                    "pad": {"b": 4}}],
                      annotations=[*fig.layout.annotations,
                                   {"text": "scenario:", "showarrow": False, "xref": "paper", "yref": "paper",
                                    "x": 0.0, "y": 1.01, "xanchor": "right", "yanchor": "bottom"}])


def _per_scenario(fig: go.Figure, tables: PlanTables,
                  draw: Callable[[go.Figure, str], None]) -> go.Figure:
    owners: list[str] = []
    for scenario in tables.scenarios:
        before = len(fig.data)
        draw(fig, scenario)
        owners += [scenario] * (len(fig.data) - before)
    _scenario_menu(fig, owners, tables.scenarios)
    return fig


def power_use(tables: PlanTables) -> go.Figure:
    """Facility MW by use per site and month: mining running (not curtailed), mining curtailed,
    AI online and idle stack up to the energized MW; AI in build is critical IT under
    construction (it draws no power yet), drawn as a dashed line."""
    sites = tables.tables["sites_monthly"]
    ids = [s.id for s in tables.instance.sites]
    pue = {s.id: s.mining_pue for s in tables.instance.sites}
    fig = make_subplots(rows=len(ids), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[f"{site} (MW)" for site in ids])

    def draw(fig: go.Figure, scenario: str) -> None:
        for row, site in enumerate(ids, start=1):
            data = sites[(sites["scenario"] == scenario) & (sites["site"] == site)]
            x = data["month"]
            uses = [
                ("Mining running", (data["mining_running_mw"] - data["mining_curtailed_mw"]) * pue[site],
                 "running"),
                ("Mining curtailed", data["mining_curtailed_mw"] * pue[site], "curtailed"),
                ("AI online (facility)", data["ai_facility_mw"], "ai"),
                ("Idle", data["idle_mw"], "idle"),
            ]
            for name, values, key in uses:
                fig.add_trace(go.Scatter(x=x, y=values, name=name, stackgroup=f"{scenario}-{site}",
                                         line={"width": 0.5, "color": COLOURS[key], "shape": "hv"},
                                         legendgroup=key, showlegend=row == 1, hovertemplate="%{y:,.1f} MW"),
                              row=row, col=1)
            fig.add_trace(go.Scatter(x=x, y=data["ai_it_building_mw"], name="AI in build (IT)",
                                     line={"dash": "dash", "color": COLOURS["build"], "shape": "hv"},
                                     legendgroup="build", showlegend=row == 1, hovertemplate="%{y:,.1f} MW"),
                          row=row, col=1)
            fig.add_trace(go.Scatter(x=x, y=data["energized_mw"], name="Energized", legendgroup="energized",
                                     line={"color": COLOURS["energized"], "width": 1.5, "shape": "hv"},
                                     showlegend=row == 1, hovertemplate="%{y:,.1f} MW"), row=row, col=1)

    _per_scenario(fig, tables, draw)
    return _layout(fig, "Power by use per site, MW (facility MW; AI in build: critical IT MW)",
                   height=max(420, 240 * len(ids) + 120))


def hashrate_and_hashprice(tables: PlanTables) -> go.Figure:
    """The company's hashrate (all sites) and the hashprice, per scenario."""
    sites = tables.tables["sites_monthly"]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for scenario in tables.scenarios:
        data = sites[sites["scenario"] == scenario]
        total = data.groupby("month", sort=True)["hashrate_ehs"].sum()
        price = data.groupby("month", sort=True)["hashprice_usd_per_ph_day"].first()
        fig.add_trace(go.Scatter(x=total.index, y=total.values, name=f"Hashrate, {scenario} (EH/s)",
                                 hovertemplate="%{y:,.3f} EH/s"), secondary_y=False)
        fig.add_trace(go.Scatter(x=price.index, y=price.values, name=f"Hashprice, {scenario} (USD/PH/day)",
                                 line={"dash": "dot"}, hovertemplate="$%{y:,.2f}/PH/day"), secondary_y=True)
    fig.update_yaxes(title_text="EH/s", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="USD per PH/s per day", secondary_y=True, rangemode="tozero")
    return _layout(fig, "Hashrate (EH/s) and hashprice (USD per PH/s per day)")


def debt_balances(tables: PlanTables, scenario: str) -> dict[str, pd.Series]:
    """Each debt instrument's balance by month, USD (debt_monthly; else the cash-flow columns)."""
    debt = tables.table("debt_monthly")
    if debt is not None and len(debt):
        mine = debt[debt["scenario"] == scenario]
        return {name: group.set_index("month")["balance_usd"]
                for name, group in mine.groupby("instrument", sort=True)}
    cash = tables.tables["cashflow_monthly"]
    mine = cash[cash["scenario"] == scenario].set_index("month")
    return {c.removesuffix("_balance_usd"): mine[c] for c in cash.columns if c.endswith("_balance_usd")}


def cash_and_debt(tables: PlanTables) -> go.Figure:
    """Cash at each month's end against the minimum-cash floor (top), every debt balance
    stacked by instrument (below, same months): debt can dwarf cash, so each has its axis."""
    cash = tables.tables["cashflow_monthly"]
    floor = tables.instance.finance.minimum_cash_usd / MILLION
    colours = colour_of(sorted({n for w in tables.scenarios for n in debt_balances(tables, w)}))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.45, 0.55],
                        subplot_titles=["Cash at month end and the floor ($M)", "Debt balances ($M)"])

    def draw(fig: go.Figure, scenario: str) -> None:
        data = cash[cash["scenario"] == scenario]
        fig.add_trace(go.Scatter(x=data["month"], y=data["cash_end_usd"] / MILLION, name="Cash (month end)",
                                 line={"color": "#1d3557", "width": 2.5, "shape": "hv"},
                                 hovertemplate="$%{y:,.1f}M"), row=1, col=1)
        fig.add_trace(go.Scatter(x=data["month"], y=[floor] * len(data), name="Minimum cash (floor)",
                                 line={"color": "#c1121f", "dash": "dash"}, hovertemplate="$%{y:,.1f}M"),
                      row=1, col=1)
        for name, balance in debt_balances(tables, scenario).items():
            if (balance != 0).any():
                fig.add_trace(go.Scatter(x=balance.index, y=balance.values / MILLION, name=f"Debt: {name}",
                                         stackgroup=f"debt-{scenario}", line={"width": 0.5, "shape": "hv"},
                                         fillcolor=colours[name], marker={"color": colours[name]},
                                         hovertemplate="$%{y:,.1f}M"), row=2, col=1)

    fig = _per_scenario(fig, tables, draw)
    fig.update_yaxes(title_text="USD millions", rangemode="tozero")
    return _layout(fig, "Cash against the floor, and every debt balance ($M)", height=640)


MIX_COLOURS = {  # revenue in blues and greens, costs in reds, oranges and browns
    "Mining revenue (BTC mined x price)": "#457b9d", "AI rent and prepayments": "#2a9d8f",
    "Curtailment credits": "#8ecae6", "Interest on cash": "#a8dadc", "Mining power": "#e76f51",
    "Fixed power charges": "#f4a261", "Mining opex": "#e9c46a", "Fleet moves": "#b56576",
    "AI opex": "#6d597a", "Interest, coupons and fees": "#9d0208", "Taxes": "#6c757d",
}


def revenue_and_costs(tables: PlanTables) -> go.Figure:
    """Revenue (up) and costs (down) by year and item, with the net as a line."""
    mix = mix_by_year(tables)
    colours = colour_of(list(dict.fromkeys(mix["item"]))) | MIX_COLOURS

    def draw(fig: go.Figure, scenario: str) -> None:
        data = mix[mix["scenario"] == scenario]
        for item, group in data.groupby("item", sort=False):
            fig.add_trace(go.Bar(x=group["year"], y=group["usd"] / MILLION, name=item,
                                 marker={"color": colours[item]}, hovertemplate="$%{y:,.1f}M"))
        net = data.groupby("year", sort=True)["usd"].sum()
        fig.add_trace(go.Scatter(x=net.index, y=net.values / MILLION, name="Net", mode="lines+markers",
                                 line={"color": "black"}, hovertemplate="$%{y:,.1f}M"))

    fig = _per_scenario(go.Figure(), tables, draw)
    fig.update_layout(barmode="relative")
    fig.update_xaxes(type="category", title_text="year")
    fig.update_yaxes(title_text="USD millions")
    return _layout(fig, "Revenue and cost mix by year ($M; costs below zero)", height=460)


def _first_day(month: str) -> str:
    return f"{month}-01"


def _month_span_ms(first: str, last: str) -> float:
    """Milliseconds from the first day of ``first`` to the first day after ``last``."""
    after = ordinal_to_month(month_ordinal(last) + 1)
    delta = pd.Timestamp(_first_day(after)) - pd.Timestamp(_first_day(first))
    return delta.total_seconds() * 1000.0


def lease_gantt(tables: PlanTables) -> go.Figure | None:
    """Per AI phase: signed (marker), build (signing to rent start), rent (the term) and, where
    the lease may be renewed, the renewal; phases never signed are listed as such. None
    without any AI phase."""
    signed = {(s.site, s.phase): s for s in tables.plan.decisions.signings}
    rows, spans = [], {"Build": [], "Rent": [], "Renewal": []}
    markers = []
    for site in tables.instance.sites:
        for phase in site.ai_phases:
            signing = signed.get((site.id, phase.id))
            label = f"{site.id} / {phase.id}" + ("" if signing else " (not signed)")
            rows.append(label)
            if signing is None:
                continue
            markers.append((label, signing.signing_month))
            build_end = ordinal_to_month(month_ordinal(signing.rent_start_month) - 1)
            if month_ordinal(build_end) >= month_ordinal(signing.signing_month):
                spans["Build"].append((label, signing.signing_month, build_end))
            spans["Rent"].append((label, signing.rent_start_month, signing.rent_end_month))
            if phase.renewal is not None:
                first = ordinal_to_month(month_ordinal(signing.rent_end_month) + 1)
                last = ordinal_to_month(month_ordinal(first) + phase.renewal.term_months - 1)
                spans["Renewal"].append((label, first, last))
    if not rows:
        return None
    months = tables.plan.months
    # Every phase gets its row, signed or not: an unseen marker at the plan's start holds it.
    fig = go.Figure(go.Scatter(x=[_first_day(months[0])] * len(rows), y=rows, mode="markers",
                               marker={"opacity": 0}, showlegend=False, hoverinfo="skip"))
    colours = {"Build": "#e76f51", "Rent": "#2a9d8f", "Renewal": "#a8dadc"}
    for name, items in spans.items():
        if not items:
            continue
        fig.add_trace(go.Bar(
            orientation="h", name=name, y=[i[0] for i in items], base=[_first_day(i[1]) for i in items],
            x=[_month_span_ms(i[1], i[2]) for i in items], marker={"color": colours[name]},
            customdata=[[i[1], i[2]] for i in items],
            hovertemplate=f"{name}: %{{customdata[0]}} to %{{customdata[1]}}<extra>%{{y}}</extra>"))
    if markers:
        fig.add_trace(go.Scatter(x=[_first_day(m[1]) for m in markers], y=[m[0] for m in markers],
                                 mode="markers", name="Signed", marker={"symbol": "diamond", "size": 12,
                                                                       "color": "black"},
                                 hovertemplate="signed %{x|%Y-%m}<extra>%{y}</extra>"))
    horizon_end = _first_day(ordinal_to_month(month_ordinal(months[-1]) + 1))
    fig.add_vline(x=horizon_end, line={"dash": "dot", "color": "grey"})
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(rows)), type="category")
    fig.update_xaxes(type="date", title_text="month (dotted: end of the plan's horizon)")
    fig.update_layout(barmode="overlay", hovermode="closest")
    figure = _layout(fig, "Leases: signed, build, rent and renewal", height=max(300, 60 * len(rows) + 160))
    figure.update_layout(hovermode="closest")
    return figure


def scenario_fan(tables: PlanTables) -> list[go.Figure]:
    """With several scenarios: NPV per scenario (probability-weighted mean marked) and the fan
    of cash over time (each scenario's path inside the band of lowest to highest)."""
    if len(tables.scenarios) < 2:
        return []
    kpis = sorted(tables.plan.kpis, key=lambda k: k.npv_usd)
    npv = go.Figure(go.Bar(
        x=[k.scenario for k in kpis], y=[k.npv_usd / MILLION for k in kpis], name="NPV",
        text=[f"p = {k.probability:g}" for k in kpis], textposition="outside",
        hovertemplate="$%{y:,.1f}M<extra>%{x}</extra>"))
    npv.add_hline(y=tables.plan.npv_usd / MILLION, line={"dash": "dash", "color": "#c1121f"},
                  annotation_text=f"expected NPV ${tables.plan.npv_usd / MILLION:,.1f}M")
    npv.update_yaxes(title_text="USD millions")
    npv = _layout(npv, "NPV by scenario ($M; dashed: probability-weighted expected NPV)")
    npv.update_layout(hovermode="closest")
    cash = tables.tables["cashflow_monthly"]
    wide = cash.pivot(index="month", columns="scenario", values="cash_end_usd").sort_index() / MILLION
    fan = go.Figure()
    fan.add_trace(go.Scatter(x=wide.index, y=wide.max(axis=1), name="highest", line={"width": 0},
                             showlegend=False, hoverinfo="skip"))
    fan.add_trace(go.Scatter(x=wide.index, y=wide.min(axis=1), name="range of scenarios", fill="tonexty",
                             line={"width": 0}, fillcolor="rgba(69,123,157,0.2)", hoverinfo="skip"))
    for scenario in tables.scenarios:
        fan.add_trace(go.Scatter(x=wide.index, y=wide[scenario], name=scenario, hovertemplate="$%{y:,.1f}M"))
    floor = tables.instance.finance.minimum_cash_usd / MILLION
    fan.add_hline(y=floor, line={"dash": "dash", "color": "#c1121f"})
    fan.update_yaxes(title_text="USD millions")
    return [npv, _layout(fan, "Cash by scenario ($M at month end; dashed: the floor)")]


def plan_figures(tables: PlanTables) -> list[tuple[str, str, go.Figure]]:
    """(anchor id, heading, figure) for every chart of a plan report, in reading order."""
    figures = [
        ("power", "Power by use per site", power_use(tables)),
        ("hashrate", "Hashrate and hashprice", hashrate_and_hashprice(tables)),
        ("cash", "Cash, floor and debt", cash_and_debt(tables)),
        ("mix", "Revenue and cost mix by year", revenue_and_costs(tables)),
    ]
    gantt = lease_gantt(tables)
    if gantt is not None:
        figures.append(("leases", "Leases", gantt))
    fan = scenario_fan(tables)
    if fan:
        figures += [("npv-fan", "NPV by scenario", fan[0]), ("cash-fan", "Cash by scenario", fan[1])]
    return figures
