"""Power: at each site and month, mining facility power plus AI facility power with rent
running stays within the energized contracted MW (zero before the site is energized); the
site's fixed charge per contracted MW-month is paid on the MW energized, used or idle."""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext, linear


def energized_mw(ctx: BuildContext, site_id: str) -> list[float]:
    """Contracted MW energized in each month: the last step at or before it, else 0 (dark)."""
    site = ctx.sites_by_id[site_id]
    steps = sorted((ctx.calendar.index(step.from_month), step.contracted_mw) for step in site.energization)
    out = []
    for t in ctx.months:
        value = 0.0
        for first, mw in steps:
            if first <= t:
                value = mw
        out.append(value)
    return out


def add_power(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    post_fixed_power_charges(ctx)
    limits = {s.id: energized_mw(ctx, s.id) for s in ctx.instance.sites}
    rows = {key: linear(terms) for key, terms in ctx.power_use.terms.items()}
    model.site_power = pyo.Constraint(
        sorted(rows, key=lambda k: (ctx.site_order[k[0]], k[1], k[2])),
        rule=lambda m, s, t, w: rows[s, t, w] <= limits[s][t],
        doc="mining + AI facility MW within the site's energized contracted power",
    )


def fixed_power_charge_usd(ctx: BuildContext, site_id: str) -> list[float]:
    """The site's fixed power charge per month, USD: charge per MW-month x MW energized."""
    charge = ctx.sites_by_id[site_id].fixed_power_charge_usd_per_mw_month
    return [charge * mw for mw in energized_mw(ctx, site_id)]


def post_fixed_power_charges(ctx: BuildContext) -> None:
    for site in ctx.instance.sites:
        if site.fixed_power_charge_usd_per_mw_month <= 0.0:
            continue
        for t, usd in enumerate(fixed_power_charge_usd(ctx, site.id)):
            for w in ctx.scenario_names:
                ctx.cash.add_constant((t, w), -usd / USD_PER_MODEL_UNIT)
                if ctx.income_tracked:
                    ctx.ebitda.add_constant((t, w), -usd / USD_PER_MODEL_UNIT)
