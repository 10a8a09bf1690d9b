"""Shared builders and independent reference computations for the acceptance tests.

Nothing here imports the optimizer: the reference numbers (calendar days, discount factors,
the best distribution policy) are computed from first principles so that tests compare the
optimizer against an independent derivation.
"""

from __future__ import annotations

import calendar
import copy
import math
from typing import Any


def month_label(start: str, t: int) -> str:
    """YYYY-MM of month t counted from start."""
    year, month = (int(x) for x in start.split("-"))
    ordinal = year * 12 + (month - 1) + t
    return f"{ordinal // 12:04d}-{ordinal % 12 + 1:02d}"


def month_days(start: str, months: int) -> list[int]:
    """Calendar days of each month of the horizon (stdlib calendar, not optimizer.calendar)."""
    out = []
    for t in range(months):
        year, month = (int(x) for x in month_label(start, t).split("-"))
        out.append(calendar.monthrange(year, month)[1])
    return out


def discount_factors(rate_pct: float, months: int) -> list[float]:
    """DESIGN: month t's flows are paid at its end and discounted by (1 + r)^-((t+1)/12)."""
    return [(1.0 + rate_pct / 100.0) ** (-(t + 1) / 12.0) for t in range(months)]


def best_distribution_npv(
    starting_cash: float, floor: float, flows: list[float], dfs: list[float]
) -> float:
    """The largest NPV of distributions plus DF(T-1) x final cash, given fixed monthly flows.

    Distributions are >= 0 and cash must end every month at or above the floor. Because
    DF(t) falls strictly with t and cash earns nothing, a dollar is worth most when paid out
    as early as it can be without making a later month fall below the floor. So pay out in
    month t everything above floor + reserve_t, where reserve_t is the largest cumulative
    deficit still to come: reserve_t = max(0, max_{k>t} -(f_{t+1} + ... + f_k)). This policy
    reaches the largest possible cumulative payout at every month, which (summation by parts
    with falling DFs) maximises the discounted sum. Returns -inf when even paying nothing
    breaks the floor (the cumulative cash dips below it).
    """
    months = len(flows)
    cash, lowest = starting_cash, math.inf
    for f in flows:
        cash += f
        lowest = min(lowest, cash)
    if lowest < floor - 1e-6:
        return -math.inf
    reserve = [0.0] * months
    for t in range(months - 2, -1, -1):
        reserve[t] = max(0.0, reserve[t + 1] - flows[t + 1])
    npv = 0.0
    cash = starting_cash
    for t in range(months):
        cash += flows[t]
        pay = max(cash - floor - reserve[t], 0.0)
        npv += dfs[t] * pay
        cash -= pay
    return npv + dfs[months - 1] * cash


SOLVER = {"mip_rel_gap": 0.0, "threads": 1, "random_seed": 0, "time_limit_seconds": 60.0}


def make_instance(
    *,
    start: str = "2027-01",
    horizon: int = 24,
    rate_pct: float = 10.0,
    site: dict[str, Any] | None = None,
    phases: list[dict[str, Any]] | None = None,
    fleet: list[dict[str, Any]] | None = None,
    market: dict[str, Any] | None = None,
    finance: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A one-site instance as a plain dict (the form planners write in YAML)."""
    site_data = {
        "id": "alpha",
        "energization": [{"from_month": start, "contracted_mw": 50.0}],
        "power_price_usd_per_mwh": 40.0,
        "mining_infrastructure_mw": 0.0,
        "uptime_pct": 100.0,
        "mining_pue": 1.05,
        "ai_phases": copy.deepcopy(phases or []),
    }
    site_data.update(copy.deepcopy(site or {}))
    market_data = {
        "btc_price_usd": 90_000.0,
        "network_hashrate_ehs": 1000.0,
        "fees_btc_per_block": 0.0,
        "halvings": [],
    }
    market_data.update(copy.deepcopy(market or {}))
    finance_data = {"starting_cash_usd": 100e6, "minimum_cash_usd": 0.0}
    finance_data.update(copy.deepcopy(finance or {}))
    data = {
        "name": "acceptance",
        "start": start,
        "horizon_months": horizon,
        "discount_rate_pct_per_year": rate_pct,
        "sites": [site_data],
        "fleet": copy.deepcopy(fleet or []),
        "market": market_data,
        "finance": finance_data,
        "solver": dict(SOLVER),
    }
    data.update(copy.deepcopy(extra))
    return data


def make_phase(**overrides: Any) -> dict[str, Any]:
    """A greenfield AI phase: 10 MW of IT at PUE 1.2, $1M/MW capex, $150/kW-month for 10 years."""
    phase = {
        "id": "hall1",
        "critical_it_mw": 10.0,
        "pue": 1.2,
        "capex_usd_per_mw_it": 1_000_000.0,
        "lead_time_months": 6,
        "lease_usd_per_kw_month": 150.0,
        "escalator_pct_per_year": 0.0,
        "term_months": 120,
        "conversion": "greenfield",
    }
    phase.update(overrides)
    return phase


def solve_dict(data: dict[str, Any]):
    """Validate and solve an instance dict with HiGHS (no audit); returns the SolveOutcome."""
    from capalloc.models import validate_instance_data
    from capalloc.optimizer.pipeline import solve_instance

    instance = validate_instance_data(data)
    return solve_instance(instance, audit=False)


def phase_cash_by_age(phase: dict[str, Any]) -> list[float]:
    """Net cash of an unfinanced phase by age since signing, from the DESIGN timing rules.

    Capex share i is paid at age i (default: uniform over the lead time L); rent is earned
    at ages L .. L+term-1, stepping up by the escalator every 12 rent months; a prepayment of
    N months arrives at age 0 and replaces the first N rents; opex runs with the rent.
    """
    lead, term = phase["lead_time_months"], phase["term_months"]
    total_capex = phase["critical_it_mw"] * phase["capex_usd_per_mw_it"]
    shares = phase.get("spend_profile") or [1.0 / lead] * lead
    flows = [0.0] * (lead + term)
    for age, share in enumerate(shares):
        flows[age] -= total_capex * share
    first_year_rent = phase["critical_it_mw"] * 1000.0 * phase["lease_usd_per_kw_month"]
    escalator = phase.get("escalator_pct_per_year", 0.0) / 100.0
    for j in range(term):
        rent = first_year_rent * (1.0 + escalator) ** (j // 12)
        if j < phase.get("prepayment_months", 0):
            flows[0] += rent
        else:
            flows[lead + j] += rent
        flows[lead + j] -= phase["critical_it_mw"] * phase.get("opex_usd_per_mw_month", 0.0)
    return flows


def mining_margin_per_mw(
    *, days: int, efficiency_j_per_th: float, btc_price: float, subsidy: float, fees: float,
    hashrate_ehs: float, uptime_pct: float, pue: float, power_usd_per_mwh: float,
    opex_usd_per_mw_month: float = 0.0,
) -> float:
    """USD margin of one MW of ASICs running a whole month (revenue - power - opex)."""
    th_per_s = 1e6 / efficiency_j_per_th  # 1 MW = 1e6 J/s
    btc_per_th_day = 144.0 * (subsidy + fees) / (hashrate_ehs * 1e6)
    up = uptime_pct / 100.0
    revenue = th_per_s * btc_per_th_day * days * up * btc_price
    power = pue * 24.0 * days * up * power_usd_per_mwh
    return revenue - power - opex_usd_per_mw_month


def flows_in_horizon(flows_by_age: list[float], signing: int | None, months: int) -> list[float]:
    """A phase's cash by month of the plan when signed in month ``signing`` (None: never)."""
    if signing is None:
        return [0.0] * months
    return [flows_by_age[t - signing] if t >= signing else 0.0 for t in range(months)]


def value_after_horizon(
    flows_by_age: list[float], signing: int | None, months: int, dfs: list[float]
) -> float:
    """The phase's flows after month T-1, each at the discount factor of its own month.

    The terminal value discounts them from the end of month T-1 by (1 + r)^-(j/12) and then
    by DF(T-1) = (1 + r)^-(T/12): together (1 + r)^-((T-1+j+1)/12), i.e. DF of month T-1+j.
    """
    if signing is None:
        return 0.0
    return sum(dfs[signing + age] * flows_by_age[age] for age in range(months - signing, len(flows_by_age)))


def leveraged_signing_npvs(
    net_by_age: list[float], rent_by_age: list[float], debt_balance_end: list[float], months: int,
    lead: int, dfs: list[float], starting_cash: float,
) -> dict[int | None, float]:
    """NPV of each choice of a debt-funded phase's signing month (None: never), by brute force.

    ``net_by_age`` is the phase's cash after debt draws and service, ``rent_by_age`` its flows
    still contracted after the horizon (valued at their own months' factors) and
    ``debt_balance_end`` the loan outstanding at each age's end (owed in the terminal value)."""
    npv: dict[int | None, float] = {}
    for s in [None, *range(0, months - lead)]:
        after = value_after_horizon(rent_by_age, s, months, dfs)
        if s is not None:
            after -= dfs[months - 1] * debt_balance_end[months - 1 - s]
        npv[s] = best_distribution_npv(starting_cash, 0.0, flows_in_horizon(net_by_age, s, months),
                                       dfs[:months]) + after
    return npv
