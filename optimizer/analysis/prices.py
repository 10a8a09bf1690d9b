"""Shadow prices of a plan's LP (integers held) as planner quantities, in USD.

- Contracted power: 1 more MW energized at a site for a calendar year is worth the sum of
  that year's site-power row duals (every scenario, weighted by probability through the
  objective), less what the site's fixed charge on that MW costs through the cash rows.
- Liquidity: the floor is each cash column's lower bound, so its price is the cash column's
  reduced cost: lowering the floor by $1 in month t gains -(reduced cost) dollars of NPV.
- Signing capacity: with the signings held, the yearly cap's rows hold only fixed columns
  and have no meaningful dual. Its value is measured by re-solving instead: the best gain,
  per MW of the phase, of a one-month-earlier signing that only the cap blocks (other
  decisions held), read from the moves optimizer.analysis.thresholds evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from capalloc.optimizer.analysis.fixed_lp import FixedLP, LPSolution
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.formulation.power import energized_mw


@dataclass
class PowerValue:
    site: str
    year: int
    value_usd_per_mw: float
    capacity_usd_per_mw: float  # the power rows' duals alone
    fixed_charge_usd_per_mw: float  # the charge's cost through the cash rows (<= 0)
    binding_months: int

    def as_dict(self) -> dict[str, Any]:
        return {"site": self.site, "year": self.year, "value_usd_per_mw": _r(self.value_usd_per_mw),
                "capacity_usd_per_mw": _r(self.capacity_usd_per_mw),
                "fixed_charge_usd_per_mw": _r(self.fixed_charge_usd_per_mw),
                "binding_months": self.binding_months}


def power_values(lp: FixedLP, solution: LPSolution) -> list[PowerValue]:
    """The value of 1 MW more contracted (energized) power per site and calendar year."""
    ctx, model = lp.built.context, lp.model
    rows = getattr(model, "site_power", {})
    out = []
    for site in ctx.instance.sites:
        charge = site.fixed_power_charge_usd_per_mw_month
        energized = energized_mw(ctx, site.id)
        for year, months in ctx.calendar.year_periods().items():
            capacity, charged, binding = 0.0, 0.0, 0
            for t in months:
                if energized[t] <= 0.0:
                    continue  # dark months: no MW to add to
                month_binding = False
                for w in ctx.scenario_names:
                    if (site.id, t, w) in rows:
                        dual = lp.row_dual(solution, rows[site.id, t, w]) * USD_PER_MODEL_UNIT
                        capacity += dual
                        month_binding = month_binding or abs(dual) > 1e-9
                    if charge > 0.0:
                        charged += lp.row_dual(solution, model.cash_balance[t, w]) * charge
                binding += month_binding
            out.append(PowerValue(site.id, year, capacity + charged, capacity, charged, binding))
    return out


@dataclass
class LiquidityValue:
    scenario: str
    month: str
    value_usd_per_usd: float

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "month": self.month,
                "value_usd_per_usd": round(self.value_usd_per_usd, 9)}


def liquidity_values(lp: FixedLP, solution: LPSolution) -> list[LiquidityValue]:
    """NPV gained per $1 the liquidity floor is lowered, per scenario and month."""
    ctx, model = lp.built.context, lp.model
    labels = ctx.calendar.labels
    out = []
    for w in ctx.scenario_names:
        for t in ctx.months:
            reduced = lp.col_dual(solution, model.cash[t, w])
            out.append(LiquidityValue(w, labels[t], -reduced if abs(reduced) > 1e-12 else 0.0))
    return out


@dataclass
class SigningCapacity:
    year: int
    cap_mw: float
    signed_mw: float
    value_usd_per_mw: float | None
    blocked: list[str]  # phases a larger cap would let sign a month earlier, with their gain

    def as_dict(self) -> dict[str, Any]:
        return {"year": self.year, "cap_mw": self.cap_mw, "signed_mw": self.signed_mw,
                "value_usd_per_mw": None if self.value_usd_per_mw is None else _r(self.value_usd_per_mw),
                "blocked_moves": self.blocked}


def signing_capacity(lp: FixedLP, assignment, blocked_gains: dict[int, list[tuple[str, float, float]]]
                     ) -> list[SigningCapacity]:
    """Per calendar year: the cap, the MW the plan signs, and the value of 1 MW more.

    ``blocked_gains``: year -> (phase label, NPV gain in USD, phase MW) of the one-month-
    earlier moves the cap alone blocks. 1 MW more is valued at the best gain per MW (a
    phase's lease needs all its MW at once: this is the price at which cap would pay)."""
    ctx = lp.built.context
    cap = ctx.instance.signing_cap_mw_per_year
    if cap is None:
        return []
    years = ctx.calendar.year_periods()
    out = []
    for year, months in years.items():
        signed = sum(w.phase.critical_it_mw for key, w in lp.windows.items()
                     if assignment.get(key) is not None and assignment[key] in months)
        gains = blocked_gains.get(year, [])
        best = max((gain / mw for _, gain, mw in gains), default=0.0)
        out.append(SigningCapacity(year, cap, signed, max(best, 0.0),
                                   [f"{label}: +{gain:,.0f} USD for {mw:g} MW" for label, gain, mw in gains]))
    return out


def _r(value: float) -> float:
    return round(value, 4)
