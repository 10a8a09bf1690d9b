"""Taxes with losses carried forward, exactly (DESIGN.md, "Timing and accounting": Taxes).

Per scenario w, with income[t] = EBITDA - interest - depreciation (ledgers of the context):
  cumulative[t] = cumulative[t-1] + income[t]
  base[t] >= base[t-1],  base[t] >= cumulative[t],  base[t] >= 0
  tax paid in t = rate x (base[t] - base[t-1])   (a cash outflow)
Cumulative tax through t is rate x base[t]. DESIGN wants base[t] = max(0, max_{u<=t}
cumulative[u]), the least point of these rows. No binaries are needed: lowering every base[u]
to that running maximum keeps every row (it is their least solution) and lowers the tax
paid through every month, so cash at every month's end can only rise (cash interest >= 0
keeps every earlier tax dollar's weight positive); an optimum at the running maximum always
exists. It need not be the only one: when no later distribution gains from it, paying a tax
early costs nothing (discount rate 0, or cash held to the end), so a tie-break of
TIE_BREAK_PER_MODEL_UNIT_MONTH per $M of base per month selects the least base, i.e. the
exact running maximum (tests/test_taxes.py proves it on a loss-then-profit plan by hand).

Terminal value: the after-horizon rent and mining it counts are taxed at the rate on their
PV less the PV of the depreciation still to come, not below zero: terminal_tax[w] >= 0 and
>= rate x (taxable - depreciation), subtracted from the terminal value, so the optimum sits
at the maximum exactly (a larger value only costs).
"""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.optimizer.formulation.context import BuildContext, linear

TIE_BREAK_PER_MODEL_UNIT_MONTH = 1e-6
"""Objective cost of $1M of tax base held one month: $1, far below any gap, enough to pay
no tax before it is due when paying it later is worth nothing."""


def add_taxes(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    """Tax variables and their cash and terminal posts; runs before finance reads the cash ledger."""
    rate = ctx.tax_rate
    if rate <= 0.0:
        return
    months, scenarios = list(ctx.months), ctx.scenario_names
    index = [(t, w) for t in months for w in scenarios]
    model.tax_base = pyo.Var(index, domain=pyo.NonNegativeReals,
                             doc="largest cumulative taxable income so far (0 if none), $M")
    model.taxable_cumulative = pyo.Var(index, domain=pyo.Reals, doc="cumulative taxable income, $M")
    model.terminal_tax = pyo.Var(scenarios, domain=pyo.NonNegativeReals,
                                 doc="tax on the terminal value's after-horizon rent and mining, $M")
    probability = {s.name: s.probability for s in ctx.scenarios}
    for t, w in index:
        ctx.cash.add((t, w), -rate, model.tax_base[t, w])
        if t > 0:
            ctx.cash.add((t, w), rate, model.tax_base[t - 1, w])
        ctx.tie_break.append((-TIE_BREAK_PER_MODEL_UNIT_MONTH * rate * probability[w], model.tax_base[t, w]))
    for w in scenarios:
        ctx.terminal.add(w, -1.0, model.terminal_tax[w])


def income_terms(ctx: BuildContext, key, ebitda) -> tuple[list, float]:
    """Taxable income of month and scenario ``key`` as (terms, constant): EBITDA (the
    variable ``ebitda``) - interest - depreciation."""
    terms = [(1.0, ebitda)]
    terms += [(-c, v) for c, v in ctx.interest.terms.get(key, [])]
    terms += [(-c, v) for c, v in ctx.depreciation.terms.get(key, [])]
    constant = -ctx.interest.constants.get(key, 0.0) - ctx.depreciation.constants.get(key, 0.0)
    return terms, constant


def add_tax_rows(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    """The rows that tie the tax base to taxable income; after finance has posted interest."""
    rate = ctx.tax_rate
    if rate <= 0.0:
        return
    base, cumulative = model.tax_base, model.taxable_cumulative
    rows = {}
    for t in ctx.months:
        for w in ctx.scenario_names:
            terms, constant = income_terms(ctx, (t, w), model.ebitda[t, w])
            terms = [(-c, v) for c, v in terms] + [(1.0, cumulative[t, w])]
            if t > 0:
                terms.append((-1.0, cumulative[t - 1, w]))
            rows[(t, w)] = linear(terms, -constant)  # cumulative - previous - income
    model.taxable_income = pyo.Constraint(
        list(rows), rule=lambda m, t, w: rows[t, w] == 0.0,
        doc="cumulative taxable income = last month's + EBITDA - interest - depreciation")
    later = [(t, w) for t in ctx.months if t > 0 for w in ctx.scenario_names]
    model.tax_base_monotone = pyo.Constraint(
        later, rule=lambda m, t, w: linear([(1.0, base[t, w]), (-1.0, base[t - 1, w])]) >= 0.0,
        doc="losses are never carried back: cumulative tax paid never falls")
    model.tax_base_covers = pyo.Constraint(
        list(rows), rule=lambda m, t, w: linear([(1.0, base[t, w]), (-1.0, cumulative[t, w])]) >= 0.0,
        doc="cumulative tax paid covers rate x cumulative taxable income")
    terminal_rows = {}
    for w in ctx.scenario_names:
        terms = [(1.0, model.terminal_tax[w])]
        terms += [(-rate * c, v) for c, v in ctx.terminal_taxable.terms.get(w, [])]
        terms += [(rate * c, v) for c, v in ctx.terminal_depreciation.terms.get(w, [])]
        constant = rate * (ctx.terminal_depreciation.constants.get(w, 0.0)
                           - ctx.terminal_taxable.constants.get(w, 0.0))
        terminal_rows[w] = linear(terms, constant)
    model.terminal_tax_covers = pyo.Constraint(
        list(terminal_rows), rule=lambda m, w: terminal_rows[w] >= 0.0,
        doc="tax on the after-horizon rent and mining, net of the depreciation still to come")
