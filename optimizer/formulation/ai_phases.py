"""AI phases and leases: signing decisions, lead time, rent, capex, project debt, signing cap.

This is where the lead time lives. A phase is signed at most once, in a month whose rent
start (signing + lead time) falls inside the horizon. z[phase, t] = 1 when the phase has
been signed by the end of month t (a cumulative binary: monotone in t). Every cash flow of
a phase is a fixed profile by age since signing (economics.phase_schedule) convolved with
the signing indicator z[t] - z[t-1]; summed by parts, month t's row only has nonzeros at
ages where the profile changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.core as pyo

from capalloc.models.instance import AIPhase, Instance
from capalloc.optimizer.economics import PhaseSchedule, Renewal, phase_schedule, phase_terminal_value_parts
from capalloc.optimizer.economics_finance import depreciation_after_horizon_pv, straight_line
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext, Term, linear
from capalloc.optimizer.formulation.phase_interest import (
    add_phase_interest,
    recursion_factor,
    recursion_steps,
)

PHASE_INTEREST_RECURSION = True
"""The phases' project-debt interest as one recursively defined column a month (exact, far
sparser; formulation.phase_interest) rather than convolved into every income row: HiGHS's
search on cleanspark_2026 takes 60 instead of 79 CPU s (9 nodes instead of 15, the same plan;
benchmarks/README.md, issue 17). The LP dive crawls on it, but a taxed model is searched
without the dive (solving.solve.first_plan_pays)."""


@dataclass
class PhaseWindow:
    """A phase and the months it may be signed in: first..last (inclusive)."""

    site: str
    phase: AIPhase
    order: int
    first: int
    last: int
    schedule: PhaseSchedule

    @property
    def key(self) -> tuple[str, str]:
        return (self.site, self.phase.id)

    @property
    def signable(self) -> bool:
        return self.first <= self.last


def schedule_for(instance: Instance, phase: AIPhase) -> PhaseSchedule:
    """The phase's cash-flow profile under the instance's project-debt terms."""
    debt = instance.finance.project_debt
    financed = debt is not None and phase.project_financed
    return phase_schedule(
        critical_it_mw=phase.critical_it_mw,
        capex_usd_per_mw_it=phase.capex_usd_per_mw_it,
        capex_shares=phase.capex_shares(),
        lead_time_months=phase.lead_time_months,
        lease_usd_per_kw_month=phase.lease_usd_per_kw_month,
        escalator_pct_per_year=phase.escalator_pct_per_year,
        term_months=phase.term_months,
        opex_usd_per_mw_month=phase.opex_usd_per_mw_month,
        prepayment_months=phase.prepayment_months,
        loan_to_cost_pct=debt.loan_to_cost_pct if financed else 0.0,
        debt_rate_pct_per_year=debt.rate_pct_per_year if financed else 0.0,
        amortization_months=debt.amortization_months if financed else 1,
        capitalize_interest=financed and debt.capitalize_construction_interest,
        renewal=renewal_terms(phase),
    )


def renewal_terms(phase: AIPhase) -> Renewal | None:
    """The phase's renewal terms for economics.phase_schedule, or None."""
    r = phase.renewal
    return None if r is None else Renewal(r.probability, r.rent_share_pct, r.term_months)


def signing_windows(instance: Instance, horizon_months: int, index_of) -> list[PhaseWindow]:
    """Every phase with the months it may be signed in (DESIGN: s + L <= T - 1).

    A phase larger than the yearly signing cap can never be signed (its whole IT load is
    signed in one month), and nor can the phases after it at its site (they are signed in
    order; Instance.phases_over_the_signing_cap): they get an empty window and no columns.
    The MIP loses no plan; its LP relaxation loses the fractions of them it would sign in
    two years to fill the caps (at 10 sites x 120 months: 4263 to 4202 $M, the optimum is
    4154), which the first plan's dive and bounds are computed from. HiGHS's presolve finds
    the same reduction for its own search.
    """
    over_the_cap = {site: phase.id for site, phase, _ in instance.phases_over_the_signing_cap()}
    windows = []
    for site in instance.sites:
        blocked = False
        for order, phase in enumerate(site.ai_phases):
            blocked = blocked or over_the_cap.get(site.id) == phase.id
            first = 0
            if phase.earliest_signing_month is not None:
                first = max(0, index_of(phase.earliest_signing_month))
            last = first - 1 if blocked else horizon_months - 1 - phase.lead_time_months
            windows.append(
                PhaseWindow(site.id, phase, order, first, last, schedule_for(instance, phase))
            )
    return windows


class SignedBy:
    """z(phase, t): the 'signed by the end of month t' indicator, outside the window too."""

    def __init__(self, z: pyo.Var, windows: list[PhaseWindow]):
        self.z = z
        self.windows = {w.key: w for w in windows}

    def at(self, key: tuple[str, str], t: int):
        """The variable that says whether the phase is signed by month t, or None for 0."""
        window = self.windows[key]
        if not window.signable or t < window.first:
            return None
        return self.z[key[0], key[1], min(t, window.last)]

    def convolve(self, key: tuple[str, str], profile: Profile, t: int, combine=None) -> list[Term]:
        """Terms of sum_u (z[u] - z[u-1]) * profile[t - u] for month t, summed by parts:
        z[newest] * profile[t - newest] + sum_{u < newest} z[u] * (profile[t-u] - profile[t-u-1]).
        Only ages where the profile changes give a term. A profile with several parts gives
        each term the coefficient ``combine(parts)`` (default: their sum)."""
        window = self.windows[key]
        if not window.signable or t < window.first:
            return []
        combine = combine or sum
        newest = min(t, window.last)
        z = self.z
        terms: list[Term] = []
        head = profile.value(t - newest)
        if any(head):
            terms.append((combine(head), z[key[0], key[1], newest]))
        # u = t - age must satisfy first <= u < newest
        for age, step in profile.steps:
            if age > t - window.first:
                break
            if age > t - newest:
                terms.append((combine(step), z[key[0], key[1], t - age]))
        return terms


STEP_TOLERANCE = 1e-12
TERMINAL_STEP_FLOOR = 1e-9
"""Terminal-value differences between adjacent signing months below $0.001 (in $M)."""
"""Relative size below which a profile's month-to-month difference is rounding noise."""


class Profile:
    """A flow by age since signing, in one or more parts, with the ages where it changes."""

    def __init__(self, *parts: list[float]):
        self.parts = parts
        self.length = max(len(p) for p in parts)
        self.steps: list[tuple[int, tuple[float, ...]]] = []
        self.levels: list[tuple[float, ...]] = []
        # Level stretches (an annuity's interest + principal, say) differ month to month by
        # rounding noise of 1e-15; a step below STEP_TOLERANCE of the last recorded level is
        # not a change. Steps are taken from the last recorded level, so noise cannot add up,
        # and value() returns the recorded levels, so head and steps stay consistent.
        recorded = (0.0,) * len(parts)
        for age in range(self.length + 1):
            raw = tuple(p[age] if age < len(p) else 0.0 for p in parts)
            step = tuple(c - r for c, r in zip(raw, recorded, strict=True))
            if any(abs(d) > STEP_TOLERANCE * (1.0 + abs(r)) for d, r in zip(step, recorded, strict=True)):
                self.steps.append((age, step))
                recorded = raw
            self.levels.append(recorded)

    def value(self, age: int) -> tuple[float, ...]:
        if 0 <= age < self.length:
            return self.levels[age]
        return (0.0,) * len(self.parts)


def cash_combiner(ctx: BuildContext, key: tuple[str, str]):
    """Coefficient of a (rent, capex, other) step: lease scale x rent + capex scale x capex + other."""
    lease, capex = ctx.knobs.lease_scale(*key), ctx.knobs.capex_scale(*key)

    def combine(parts: tuple[float, ...]):
        rent_part, capex_part, other = parts
        value = other
        if rent_part:
            value = value + lease * rent_part
        if capex_part:
            value = value + capex * capex_part
        return value

    return combine


def add_ai_phases(model: pyo.ConcreteModel, ctx: BuildContext) -> None:
    instance, calendar = ctx.instance, ctx.calendar
    T = calendar.months
    windows = signing_windows(instance, T, calendar.index)
    ctx.phase_windows = windows
    index = [(w.site, w.phase.id, t) for w in windows if w.signable for t in range(w.first, w.last + 1)]
    model.signed_by = pyo.Var(index, domain=pyo.Binary, doc="1 once the phase's lease is signed")
    signed = SignedBy(model.signed_by, windows)
    ctx.signed_by = signed

    _add_monotone_and_order(model, windows, signed)
    q = recursion_factor(instance) if ctx.income_tracked and PHASE_INTEREST_RECURSION else None
    steps = _post_cash_and_capacity(ctx, windows, signed, q)
    if q is not None:
        add_phase_interest(model, ctx, q, steps)
    _add_signing_cap(model, ctx, windows, signed)
    _post_terminal_value(ctx, windows, signed)
    _post_tie_break(ctx, windows)


def _add_monotone_and_order(model, windows: list[PhaseWindow], signed: SignedBy) -> None:
    monotone = []
    for w in windows:
        for t in range(w.first + 1, w.last + 1):
            monotone.append((w.site, w.phase.id, t))
    model.signed_once = pyo.Constraint(
        monotone,
        rule=lambda m, s, k, t: linear([(1.0, m.signed_by[s, k, t - 1]), (-1.0, m.signed_by[s, k, t])])
        <= 0.0,
        doc="a lease once signed stays signed (each phase is signed at most once)",
    )
    order_rows = {}
    by_site: dict[str, list[PhaseWindow]] = {}
    for w in windows:
        by_site.setdefault(w.site, []).append(w)
    for site_windows in by_site.values():
        for previous, current in zip(site_windows, site_windows[1:], strict=False):
            if not current.signable:
                continue
            for t in range(current.first, current.last + 1):
                before = signed.at(previous.key, t)
                terms = [(1.0, model.signed_by[current.site, current.phase.id, t])]
                if before is not None:
                    terms.append((-1.0, before))
                order_rows[(current.site, current.phase.id, t)] = linear(terms)
    model.phase_order = pyo.Constraint(
        list(order_rows), rule=lambda m, s, k, t: order_rows[s, k, t] <= 0,
        doc="phases of a site are signed in order",
    )


def _post_cash_and_capacity(ctx: BuildContext, windows: list[PhaseWindow], signed: SignedBy,
                            q: float | None) -> dict[int, list[Term]]:
    """Post the phases' flows to the ledgers; with ``q`` (formulation.phase_interest) their
    interest goes to the returned recursion steps by month instead of the interest ledger."""
    T = ctx.calendar.months
    steps: dict[int, list[Term]] = {}
    for w in windows:
        if not w.signable:
            continue
        net = Profile(*([v / USD_PER_MODEL_UNIT for v in part] for part in w.schedule.net_parts()))
        facility = Profile([w.phase.facility_mw * on for on in w.schedule.online])
        combine = cash_combiner(ctx, w.key)
        income = income_profiles(w) if ctx.income_tracked else {}
        interest_steps = None
        if q is not None:
            interest = income.pop("interest").parts[1]
            interest_steps = Profile([0.0], recursion_steps(list(interest), q), [0.0])
        for t in range(T):
            for coefficient, var in signed.convolve(w.key, net, t, combine):
                for scenario in ctx.scenario_names:
                    ctx.cash.add((t, scenario), coefficient, var)
            if interest_steps is not None:
                steps.setdefault(t, []).extend(signed.convolve(w.key, interest_steps, t, combine))
            for ledger, profile in income.items():
                for coefficient, var in signed.convolve(w.key, profile, t, combine):
                    for scenario in ctx.scenario_names:
                        getattr(ctx, ledger).add((t, scenario), coefficient, var)
            for coefficient, var in signed.convolve(w.key, facility, t):
                for scenario in ctx.scenario_names:
                    ctx.power_use.add((w.site, t, scenario), coefficient, var)
            if w.phase.displaced_mw > 0.0:
                var = signed.at(w.key, t)
                if var is not None:
                    ctx.mining_capacity_removed.add((w.site, t), w.phase.displaced_mw, var)
    return steps


def income_profiles(w: PhaseWindow) -> dict[str, Profile]:
    """The phase's income lines by age as (rent, capex, other) parts in $M: EBITDA (rent and
    prepayment as received, less opex, renewals included), project-debt interest (capitalized
    interest as it accrues) and amortization, and tax
    depreciation (capex straight-line over the tax life from rent start)."""
    sched, n = w.schedule, w.schedule.length
    zero = [0.0] * n
    scale = 1.0 / USD_PER_MODEL_UNIT
    rent = [(sched.rent_cash[a] + sched.prepayment[a]) * scale for a in range(n)]
    capex = sum(sched.capex) * scale
    depreciation = straight_line(capex, sched.lead_time_months, w.phase.tax_life_months,
                                 sched.lead_time_months + w.phase.tax_life_months)
    return {
        "ebitda": Profile(rent, zero, [-v * scale for v in sched.opex]),
        # Capitalized construction interest is deducted as it accrues (a planner's plain
        # reading), though it is paid later through the amortization.
        "interest": Profile(zero, [(sched.debt_interest[a] + sched.value("debt_interest_capitalized", a))
                                   * scale for a in range(n)], zero),
        "scheduled_principal": Profile(zero, [v * scale for v in sched.debt_principal], zero),
        "depreciation": Profile([0.0], depreciation, [0.0]),
    }


def _add_signing_cap(model, ctx: BuildContext, windows: list[PhaseWindow], signed: SignedBy) -> None:
    """At most signing_cap_mw_per_year of critical IT signed per calendar year, and the count
    of phases that this implies.

    The count row is a valid cover inequality: if the n smallest phases that could be signed
    in a year already exceed the cap, no year holds n signings. The MW row alone lets the LP
    relaxation sign fractions of several phases to fill the cap exactly; the count row
    removes most of those fractional fills, which is where the root gap came from.
    """
    cap = ctx.instance.signing_cap_mw_per_year
    if cap is None:
        return
    # signed_in_year[phase, year] = z[last month of the year] - z[month before the year]: a
    # binary of its own, so the cap becomes a plain knapsack row on binaries, the form
    # HiGHS separates cover cuts from (the LP relaxation is unchanged).
    in_year: dict[tuple[str, str, int], tuple] = {}
    sizes_by_year: dict[int, list[tuple[float, tuple[str, str, int]]]] = {}
    for year, periods in ctx.calendar.year_periods().items():
        for w in windows:
            end = signed.at(w.key, periods[-1])
            if end is None:
                continue
            before = signed.at(w.key, periods[0] - 1)
            if before is end:
                continue  # the window closed before this year: nothing to sign in it
            key = (w.site, w.phase.id, year)
            in_year[key] = (end, before)
            sizes_by_year.setdefault(year, []).append((w.phase.critical_it_mw, key))
    model.signed_in_year = pyo.Var(list(in_year), domain=pyo.Binary,
                                   doc="1 if the phase's lease is signed in this calendar year")
    y = model.signed_in_year

    def definition(m, site, phase, year):
        end, before = in_year[site, phase, year]
        terms = [(1.0, y[site, phase, year]), (-1.0, end)]
        if before is not None:
            terms.append((1.0, before))
        return linear(terms) == 0.0

    model.signed_in_year_definition = pyo.Constraint(list(in_year), rule=definition)
    mw_rows, count_rows = {}, {}
    for year, items in sizes_by_year.items():
        mw_rows[year] = linear([(mw, y[key]) for mw, key in items])
        most = max_signings_within(sorted(mw for mw, _ in items), cap)
        if most < len(items):
            count_rows[year] = (linear([(1.0, y[key]) for _, key in items]), most)
    model.signing_cap = pyo.Constraint(
        list(mw_rows), rule=lambda m, yr: mw_rows[yr] <= cap,
        doc="critical-IT MW signed per calendar year, all sites",
    )
    model.signing_count = pyo.Constraint(
        list(count_rows), rule=lambda m, yr: count_rows[yr][0] <= count_rows[yr][1],
        doc="phases signed per calendar year, as many as the cap can hold (a cover inequality)",
    )


def max_signings_within(sizes_ascending: list[float], cap: float) -> int:
    """The most phases whose sizes fit under the cap together (the smallest ones first)."""
    total, count = 0.0, 0
    for size in sizes_ascending:
        total += size
        if total > cap + 1e-9:
            break
        count += 1
    return count


def _post_terminal_value(ctx: BuildContext, windows: list[PhaseWindow], signed: SignedBy) -> None:
    T = ctx.calendar.months
    longest = max((w.schedule.length for w in windows), default=0)
    after_end = ctx.calendar.months_after_end_factors(longest)
    for w in windows:
        if not w.signable:
            continue
        combine = cash_combiner(ctx, w.key)
        values = [
            tuple(v / USD_PER_MODEL_UNIT for v in phase_terminal_value_parts(w.schedule, s, T, after_end))
            for s in range(w.first, w.last + 1)
        ] + [(0.0, 0.0, 0.0)]
        # Signing in month s brings V(s); with z cumulative, z[s] carries V(s) - V(s+1).
        for offset, s in enumerate(range(w.first, w.last + 1)):
            step = tuple(a - b for a, b in zip(values[offset], values[offset + 1], strict=True))
            # Adjacent months can be worth the same to a tenth of a cent: a coefficient that
            # small is noise to HiGHS ("excessively small costs"), not a preference.
            if all(abs(part) < TERMINAL_STEP_FLOOR for part in step):
                continue
            var = signed.at(w.key, s)
            for scenario in ctx.scenario_names:
                ctx.terminal.add(scenario, combine(step), var)
        if ctx.tax_rate > 0.0:
            _post_terminal_taxable(ctx, w, signed, after_end)


def _post_terminal_taxable(ctx: BuildContext, w: PhaseWindow, signed: SignedBy, after_end) -> None:
    """The after-horizon net rent (taxed in the terminal value) and the depreciation still to
    come after the horizon, per signing month, posted through z's differences as above."""
    T, combine = ctx.calendar.months, cash_combiner(ctx, w.key)
    capex = sum(w.schedule.capex) / USD_PER_MODEL_UNIT
    life_factors = ctx.calendar.months_after_end_factors(w.phase.tax_life_months)
    values = []
    for s in range(w.first, w.last + 1):
        rent, _, other = phase_terminal_value_parts(w.schedule, s, T, after_end)
        shield = depreciation_after_horizon_pv(capex, s + w.schedule.lead_time_months,
                                               w.phase.tax_life_months, T, life_factors)
        values.append((rent / USD_PER_MODEL_UNIT, shield, other / USD_PER_MODEL_UNIT))
    values.append((0.0, 0.0, 0.0))
    for offset, s in enumerate(range(w.first, w.last + 1)):
        rent, shield, other = (a - b for a, b in zip(values[offset], values[offset + 1], strict=True))
        var = signed.at(w.key, s)
        for scenario in ctx.scenario_names:
            if abs(rent) + abs(other) >= TERMINAL_STEP_FLOOR:
                ctx.terminal_taxable.add(scenario, combine((rent, 0.0, other)), var)
            if abs(shield) >= TERMINAL_STEP_FLOOR:
                ctx.terminal_depreciation.add(scenario, combine((0.0, shield, 0.0)), var)


TIE_BREAK_USD_PER_PHASE_MONTH = 1.0
"""Canonical plans: $1 of objective per phase per month signed earlier; far below any gap."""


def _post_tie_break(ctx: BuildContext, windows: list[PhaseWindow]) -> None:
    if not ctx.instance.canonical_plan:
        return
    # Rewarding each month a phase is already signed prefers earlier signings; the weight
    # grows with the site's position so that equal phases at different sites are ordered.
    for rank, w in enumerate(windows):
        if not w.signable:
            continue
        weight = TIE_BREAK_USD_PER_PHASE_MONTH * (1.0 + 1e-3 * (len(windows) - rank))
        for t in range(w.first, w.last + 1):
            ctx.tie_break.append((weight / USD_PER_MODEL_UNIT, ctx.signed_by.at(w.key, t)))
