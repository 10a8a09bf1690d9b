"""Project-debt interest of every phase in one column per month, defined by a recursion.

The interest a phase signed in month u accrues in month t is I(t - u), I its interest by age:
it changes every month of the amortization, so the month's sum over phases and signing
months, sum_u (z[u] - z[u-1]) I(t - u), has a term for every age reached (540-900 per
month in cleanspark_2026's taxable-income rows, 70 % of their nonzeros; issue 17). With
q = 1 + rate / 12, an annuity's interest obeys I(a) = q I(a-1) - rate x payment / 12, so
J(a) = I(a) - q I(a-1) is level over the amortization and changes only at its ends and in
the construction months. The column

  interest[t] = q interest[t-1] + sum_u (z[u] - z[u-1]) J(t - u)      (interest[-1] = 0)

equals the sum above month by month (by induction on t), with a handful of terms a phase.
Exact: the same linear map written with fewer nonzeros (Profile drops J's month-to-month
rounding noise below 1e-12 relative, as it does for every profile).
"""

from __future__ import annotations

import pyomo.core as pyo

from capalloc.models.instance import Instance
from capalloc.optimizer.formulation.context import BuildContext, Term, linear


def recursion_factor(instance: Instance) -> float | None:
    """q = 1 + the project debt's monthly rate, or None without project debt."""
    debt = instance.finance.project_debt
    if debt is None or debt.rate_pct_per_year <= 0.0:
        return None
    return 1.0 + debt.rate_pct_per_year / 100.0 / 12.0


def recursion_steps(interest: list[float], q: float) -> list[float]:
    """J(a) = I(a) - q I(a-1) for a = 0 .. len(I) (I is 0 outside its ages)."""
    padded = [0.0, *interest, 0.0]
    return [padded[a + 1] - q * padded[a] for a in range(len(interest) + 1)]


def add_phase_interest(model: pyo.ConcreteModel, ctx: BuildContext, q: float,
                       steps: dict[int, list[Term]]) -> None:
    """The interest column of every month, posted to every scenario's interest ledger."""
    months = list(ctx.months)
    model.project_debt_interest = pyo.Var(months, domain=pyo.Reals,
                                          doc="project-debt interest accrued by all phases, $M")
    column = model.project_debt_interest
    rows = {}
    for t in months:
        terms = [(1.0, column[t])] + [(-c, v) for c, v in steps.get(t, [])]
        if t > 0:
            terms.append((-q, column[t - 1]))
        rows[t] = linear(terms)
    model.project_debt_interest_recursion = pyo.Constraint(
        months, rule=lambda m, t: rows[t] == 0.0,
        doc="interest = (1 + monthly rate) x last month's + the phases' recursion steps")
    for t in months:
        for scenario in ctx.scenario_names:
            ctx.interest.add((t, scenario), 1.0, column[t])
