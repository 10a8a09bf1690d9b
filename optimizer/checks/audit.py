"""The independent audit: recompute a plan from the instance and the plan's decisions alone.

Every monthly line (BTC mined, power, opex, fleet moves, BTC sales, AI rent, prepayments,
opex, capex, project debt, existing debt, revolver, cash interest, distributions, cash and
BTC balances) is rebuilt with pandas straight from the instance's definitions (DESIGN.md,
"Timing conventions"); every rule is checked (optimizer/checks/audit_rules.py); and the NPV of
distributions plus terminal value is compared with the solver's objective.

The audit shares no model code with the formulation (it imports nothing from
optimizer.formulation, optimizer.solving.solve, optimizer.outputs.extract or pyomo). It shares the small
pure functions of optimizer.economics that define a phase's cash flows and the existing
debt schedules, and the calendar; hashprice, BTC mined and the power bill are restated here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from capalloc.models.common import month_ordinal, series_values
from capalloc.models.instance import AIPhase, Instance
from capalloc.models.plan import AuditVerdict, Plan
from capalloc.optimizer.calendar import Calendar
from capalloc.optimizer.checks.audit_btcloans import (
    audited_schedule,
    check_btc_loans,
    loan_cash_lines,
    loan_decisions,
    loan_rounding_usd,
)
from capalloc.optimizer.checks.audit_commitments import check_commitments
from capalloc.optimizer.checks.audit_fleet import (
    curtailment_shares,
    fixed_charges,
    fleet_cash,
    fleet_frame,
    fleet_terminal_usd,
    halls_frame,
    hashrate_path,
)
from capalloc.optimizer.checks.audit_notes import FLOWS as NOTES_FLOWS
from capalloc.optimizer.checks.audit_notes import notes_frame
from capalloc.optimizer.checks.audit_rules import (
    BTC_TOL,
    MW_TOL,
    USD_TOL,
    SignedPhase,
    Violation,
    check_finance,
    check_mining_and_power,
    check_signings,
)
from capalloc.optimizer.checks.audit_taxes import check_covenant, income_lines, terminal_taxes
from capalloc.optimizer.economics import (
    PhaseSchedule,
    existing_debt_schedule,
    phase_schedule,
    phase_terminal_value,
)

__all__ = ["AuditReport", "Violation", "audit_plan"]

SOLVER_USD_PER_MONTH = 0.1
"""HiGHS's primal feasibility tolerance (1e-7) on a cash row the model counts in $M."""
SOLVER_BTC_PER_MONTH = 1e-7
"""The same tolerance on a BTC row (counted in BTC)."""
MAX_MESSAGES = 50
KEYS = ["scenario", "t"]
PHASE_FLOWS = ("rent_cash", "prepayment", "opex", "capex", "debt_draw", "debt_interest",
               "debt_principal", "debt_balance_end", "debt_interest_capitalized")


AUDIT_REL_TOL = 1e-6
"""Largest relative difference between the audit's NPV and the solver's that passes."""


@dataclass
class AuditReport:
    """What the audit found: violations, the recomputed NPV and the monthly cash lines."""

    violations: list[Violation]
    npv_usd: float
    objective_usd: float
    scenario_npv_usd: dict[str, float]
    monthly: pd.DataFrame
    mining: pd.DataFrame = field(default_factory=pd.DataFrame)
    terminal: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def relative_difference(self) -> float:
        return abs(self.npv_usd - self.objective_usd) / max(1.0, abs(self.objective_usd))

    def npv_line(self, rel_tol: float) -> str:
        rel = self.relative_difference
        return (f"NPV recomputed {self.npv_usd:,.2f} USD vs objective {self.objective_usd:,.2f} USD: "
                f"relative difference {rel:.3g} ({'within' if rel <= rel_tol else 'beyond'} "
                f"{rel_tol:g})")

    @property
    def passed(self) -> bool:
        """Nothing violated and the NPVs agree within AUDIT_REL_TOL, as `capalloc solve` judges."""
        return self.verdict(AUDIT_REL_TOL).passed

    def verdict(self, rel_tol: float) -> AuditVerdict:
        """Passed when nothing is violated and the NPVs agree within ``rel_tol``."""
        rel = self.relative_difference
        messages = [self.npv_line(rel_tol)] + [v.line() for v in self.violations[:MAX_MESSAGES]]
        if len(self.violations) > MAX_MESSAGES:
            messages.append(f"... and {len(self.violations) - MAX_MESSAGES} more violation(s)")
        return AuditVerdict(
            passed=not self.violations and rel <= rel_tol, npv_usd=round(self.npv_usd, 2),
            relative_difference=rel, violations=len(self.violations), messages=messages,
        )


def audit_plan(instance: Instance, plan: Plan) -> AuditReport:
    """Recompute ``plan`` from ``instance`` and its decisions, check every rule, value it.
    A scenario tree's plan is audited scenario by scenario (optimizer.scenario_tree.audit)."""
    from capalloc.optimizer.scenario_tree.split import needs_extensive_form

    if needs_extensive_form(instance):
        from capalloc.optimizer.scenario_tree.audit import audit_tree

        return audit_tree(instance, plan)
    calendar = Calendar(instance.start, instance.horizon_months, instance.discount_rate_pct_per_year)
    T = calendar.months
    violations: list[Violation] = []
    if plan.months != calendar.labels:
        violations.append(Violation(
            "decision_shape", None, None, None, None, float(abs(len(plan.months) - T)),
            f"the plan covers {len(plan.months)} months from {(plan.months or ['-'])[0]}, the "
            f"instance {T} months from {instance.start}"))
    market = _market(instance, calendar)
    signed, found = check_signings(instance, calendar, plan.decisions.signings)
    violations += found + check_commitments(instance, plan)
    schedules = {(sp.site, sp.phase.id): _schedule(instance, sp.phase) for sp in signed}
    phases = _phase_flows(calendar, signed, schedules)
    mining = _mining(instance, calendar, plan, market, violations)
    fleet = fleet_frame(instance, calendar, plan, violations)
    halls = halls_frame(instance, calendar, plan, violations)
    finance = _finance_decisions(instance, calendar, plan, violations).merge(
        loan_decisions(instance, calendar, plan, violations), on=KEYS)
    extra = fleet_cash(calendar, fleet).merge(fixed_charges(instance, calendar), on="t").merge(
        halls.groupby("t", as_index=False)["hall_capex_usd"].sum(), on="t")
    monthly = _cash_lines(instance, calendar, market, mining, phases, finance, extra,
                          notes_frame(instance, calendar, plan, violations))
    monthly = income_lines(instance, calendar, monthly, signed, schedules, fleet)
    violations += check_covenant(instance, calendar, monthly)
    violations += check_mining_and_power(instance, mining, _sites(instance, calendar, mining, phases, halls),
                                         fleet)
    violations += check_finance(instance, monthly) + check_btc_loans(instance, monthly)

    terminal = _terminal(instance, calendar, monthly, mining, signed, schedules, fleet)
    terminal = terminal_taxes(instance, calendar, terminal, signed, schedules, fleet)
    scenario_npv: dict[str, float] = {}
    for scenario in instance.market.scenarios:
        lines = monthly[monthly["scenario"] == scenario.name]
        distributions = float(((-lines["distributions_usd"] - lines["dilution_value_usd"])
                               * lines["discount_factor"]).sum())
        last_factor = calendar.discount_factors[T - 1]
        scenario_npv[scenario.name] = distributions + last_factor * terminal[scenario.name]["total_usd"]
    npv = sum(s.probability * scenario_npv[s.name] for s in instance.market.scenarios)
    from capalloc.optimizer.scenario_tree.audit import nonanticipativity_violations

    violations += nonanticipativity_violations(instance, plan)  # a flat list: investment common
    return AuditReport(violations, npv, plan.npv_usd, scenario_npv, monthly, mining, terminal)


def _market(instance: Instance, calendar: Calendar) -> pd.DataFrame:
    """Per scenario and month: price, hashrate, fees, subsidy and BTC per TH/s per day."""
    market, T = instance.market, calendar.months
    halvings = sorted((month_ordinal(h.month), h.subsidy_btc_per_block) for h in market.halvings)
    subsidy = []
    for label in calendar.labels:
        value = market.initial_subsidy_btc_per_block
        for first, amount in halvings:
            if first <= month_ordinal(label):
                value = amount
        subsidy.append(value)
    frames = []
    for scenario in market.scenarios:
        price = series_values(scenario.btc_price_usd, instance.start, T)
        fees = series_values(scenario.fees_btc_per_block, instance.start, T)
        hashrate, floor = hashrate_path(instance, scenario, price, subsidy, fees, T)
        given = (series_values(scenario.hashprice_usd_per_ph_day, instance.start, T)
                 if scenario.hashprice_usd_per_ph_day is not None else [float("nan")] * T)
        frames.append(pd.DataFrame({
            "scenario": scenario.name, "t": range(T), "month": calendar.labels,
            "btc_price_usd": price, "network_hashrate_ehs": hashrate, "fees_btc_per_block": fees,
            "subsidy_btc_per_block": subsidy, "days": calendar.days, "hours": calendar.hours,
            "discount_factor": calendar.discount_factors, "hashprice_given": given,
            "hashprice_floor": floor if floor is not None else [0.0] * T,
        }))
    frame = pd.concat(frames, ignore_index=True)
    # DOMAIN.md: BTC per TH/s per day = blocks per day x (subsidy + fees) / network TH/s.
    frame["btc_per_th_day"] = market.blocks_per_day * (
        frame["subsidy_btc_per_block"] + frame["fees_btc_per_block"]
    ) / (frame["network_hashrate_ehs"] * 1e6)
    # A hashprice given in USD per PH/s-day: BTC per TH/s-day = hashprice / 1000 / BTC price,
    # held at or above the marginal fleet's break-even when the cap is set.
    given = frame["hashprice_given"].notna()
    direct = frame["hashprice_given"].clip(lower=frame["hashprice_floor"]) / 1000.0 / frame["btc_price_usd"]
    frame.loc[given, "btc_per_th_day"] = direct[given]
    frame["hashprice_usd_per_ph_day"] = frame["btc_per_th_day"] * frame["btc_price_usd"] * 1000.0
    return frame


def _fit(values: list[float], T: int, what: str, where: tuple[str | None, ...],
         violations: list[Violation]) -> list[float]:
    """A decision series of exactly T months (missing months read as 0, extra ones dropped)."""
    if len(values) != T:
        violations.append(Violation("decision_shape", *where, None, float(abs(len(values) - T)),
                                    f"{what} has {len(values)} months, the horizon {T}"))
    return [float(v) for v in values[:T]] + [0.0] * max(0, T - len(values))


def _mining(instance: Instance, calendar: Calendar, plan: Plan, market: pd.DataFrame,
            violations: list[Violation]) -> pd.DataFrame:
    """Per scenario, site, generation and month: MW, BTC mined, power, opex and moves."""
    T = calendar.months
    sites = {s.id: s for s in instance.sites}
    gens = {g.id: g for g in instance.fleet}
    scenarios = {s.name for s in instance.market.scenarios}
    frames, seen = [], set()
    for d in plan.decisions.mining:
        where = (d.scenario, d.site, d.generation)
        if d.scenario not in scenarios or d.site not in sites or d.generation not in gens:
            violations.append(Violation("unknown_id", *where, None, 1.0,
                                        "mining decision names an unknown scenario, site or generation"))
            continue
        if where in seen:
            violations.append(Violation("decision_shape", *where, None, 1.0,
                                        "mining decision listed twice; the first one is used"))
            continue
        seen.add(where)
        frames.append(pd.DataFrame({
            "scenario": d.scenario, "site": d.site, "generation": d.generation, "t": range(T),
            "placed_mw": _fit(d.placed_mw, T, "placed_mw", where, violations),
            "running_mw": _fit(d.running_mw, T, "running_mw", where, violations),
            # An empty list: the site cannot curtail, nothing was.
            "curtailed_mw": (_fit(d.curtailed_mw, T, "curtailed_mw", where, violations)
                             if d.curtailed_mw else [0.0] * T),
        }))
    columns = ["scenario", "site", "generation", "t", "placed_mw", "running_mw", "curtailed_mw"]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    frame = frame.astype({"t": int, "placed_mw": float, "running_mw": float, "curtailed_mw": float})
    frame = frame.merge(market[[*KEYS, "month", "btc_price_usd", "btc_per_th_day", "days", "hours"]],
                        on=KEYS, how="left")
    power_price = pd.DataFrame([
        {"scenario": sc.name, "site": s.id, "t": t, "power_price_usd_per_mwh": price}
        for s in instance.sites
        for sc in instance.market.scenarios
        for t, price in enumerate(series_values(
            s.power_price_by_scenario_usd_per_mwh.get(sc.name, s.power_price_usd_per_mwh), instance.start, T))
    ])
    frame = frame.merge(power_price, on=["scenario", "site", "t"], how="left")
    frame = frame.merge(curtailment_shares(instance, calendar), on=["site", "t"], how="left")
    site_of, gen_of = frame["site"].map(sites), frame["generation"].map(gens)
    uptime = site_of.map(lambda s: s.uptime_pct / 100.0)
    th_per_mw = gen_of.map(lambda g: 1e6 / g.efficiency_j_per_th)  # 1 MW = 1e6 J/s
    frame["btc_per_mw"] = th_per_mw * frame["btc_per_th_day"] * frame["days"] * uptime
    frame["power_usd_per_mw"] = (site_of.map(lambda s: s.mining_pue) * frame["hours"] * uptime
                                 * frame["power_price_usd_per_mwh"])
    frame["opex_usd_per_mw"] = site_of.map(lambda s: s.mining_opex_usd_per_mw_month)
    frame["move_usd_per_mw"] = gen_of.map(lambda g: g.move_cost_usd_per_mw)
    # Curtailed hours mine nothing and draw nothing; opex is due on every running MW.
    mining_mw = frame["running_mw"] - frame["curtailed_mw"]
    frame["btc_mined_btc"] = mining_mw * frame["btc_per_mw"]
    frame["revenue_usd"] = frame["btc_mined_btc"] * frame["btc_price_usd"]
    frame["power_usd"] = mining_mw * frame["power_usd_per_mw"]
    frame["opex_usd"] = frame["running_mw"] * frame["opex_usd_per_mw"]
    frame["credit_usd"] = frame["curtailed_mw"] * frame["credit_usd_per_mw"]
    frame["margin_usd"] = frame["revenue_usd"] - frame["power_usd"] - frame["opex_usd"] + frame["credit_usd"]
    start = pd.Series([g.sites_at_start.get(s, 0.0) for s, g in zip(frame["site"], gen_of, strict=True)],
                      index=frame.index, dtype=float)
    before = frame.groupby(["scenario", "site", "generation"])["placed_mw"].shift(1)
    frame["moved_in_mw"] = (frame["placed_mw"] - before.fillna(start)).clip(lower=0.0)
    frame["move_usd"] = frame["moved_in_mw"] * frame["move_usd_per_mw"]
    # What rounding MW to 1e-6 can move each month's cash and BTC by.
    frame["rounding_usd"] = MW_TOL * (2 * frame["power_usd_per_mw"] + frame["opex_usd_per_mw"]
                                      + 2 * frame["move_usd_per_mw"] + frame["credit_usd_per_mw"])
    frame["rounding_btc"] = 2 * MW_TOL * frame["btc_per_mw"]
    return frame


def _schedule(instance: Instance, phase: AIPhase) -> PhaseSchedule:
    """The phase's flows by age under the instance's project-debt terms (if it is financed)."""
    debt = instance.finance.project_debt
    financed = debt is not None and phase.project_financed
    return audited_schedule(instance, phase, phase_schedule(
        critical_it_mw=phase.critical_it_mw, capex_usd_per_mw_it=phase.capex_usd_per_mw_it,
        capex_shares=phase.capex_shares(), lead_time_months=phase.lead_time_months,
        lease_usd_per_kw_month=phase.lease_usd_per_kw_month,
        escalator_pct_per_year=phase.escalator_pct_per_year, term_months=phase.term_months,
        opex_usd_per_mw_month=phase.opex_usd_per_mw_month,
        prepayment_months=phase.prepayment_months,
        loan_to_cost_pct=debt.loan_to_cost_pct if debt and financed else 0.0,
        debt_rate_pct_per_year=debt.rate_pct_per_year if debt and financed else 0.0,
        amortization_months=debt.amortization_months if debt and financed else 1,
    ))


def _phase_flows(calendar: Calendar, signed: list[SignedPhase],
                 schedules: dict[tuple[str, str], PhaseSchedule]) -> pd.DataFrame:
    """Per signed phase and month of the horizon from its signing: its flows, its facility MW
    while rent runs, and the mining capacity a retrofit displaces from its signing month on."""
    T = calendar.months
    frames = []
    for sp in signed:
        schedule = schedules[(sp.site, sp.phase.id)]
        ages = range(max(0, -sp.index), max(0, T - sp.index))
        frame = pd.DataFrame({name: [schedule.value(name, a) for a in ages] for name in PHASE_FLOWS})
        frame["t"] = [sp.index + a for a in ages]
        frame["site"], frame["phase"] = sp.site, sp.phase.id
        frame["ai_facility_mw"] = [sp.phase.facility_mw * schedule.value("online", a) for a in ages]
        frame["displaced_mw"] = sp.phase.displaced_mw
        frames.append(frame)
    columns = [*PHASE_FLOWS, "t", "site", "phase", "ai_facility_mw", "displaced_mw"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _energized(instance: Instance, calendar: Calendar) -> pd.DataFrame:
    """Per site and month: the last energization step at or before it, 0 before the first."""
    rows = []
    for site in instance.sites:
        steps = sorted((calendar.index(s.from_month), s.contracted_mw) for s in site.energization)
        for t in range(calendar.months):
            mw = [value for first, value in steps if first <= t]
            rows.append({"site": site.id, "t": t, "month": calendar.label(t),
                         "energized_mw": mw[-1] if mw else 0.0,
                         "mining_infrastructure_mw": site.mining_infrastructure_mw,
                         "mining_pue": site.mining_pue})
    return pd.DataFrame(rows)


def _sites(instance: Instance, calendar: Calendar, mining: pd.DataFrame,
           phases: pd.DataFrame, halls: pd.DataFrame) -> pd.DataFrame:
    """Per scenario, site and month: energized MW, mining and AI facility MW, capacity left."""
    frame = _energized(instance, calendar)
    ai = phases.groupby(["site", "t"], as_index=False)[["ai_facility_mw", "displaced_mw"]].sum()
    frame = frame.merge(ai, on=["site", "t"], how="left")
    frame = frame.merge(halls[["site", "t", "hall_online_mw"]], on=["site", "t"], how="left")
    scenarios = pd.DataFrame({"scenario": [s.name for s in instance.market.scenarios]})
    frame = scenarios.merge(frame, how="cross")
    used = mining.groupby(["scenario", "site", "t"], as_index=False).agg(
        placed_mw=("placed_mw", "sum"), running_mw=("running_mw", "sum"),
        generations=("placed_mw", "size"))
    frame = frame.merge(used, on=["scenario", "site", "t"], how="left")
    numeric = ["ai_facility_mw", "displaced_mw", "placed_mw", "running_mw", "generations", "hall_online_mw"]
    frame[numeric] = frame[numeric].astype(float).fillna(0.0)
    frame["mining_facility_mw"] = frame["running_mw"] * frame["mining_pue"]
    frame["mining_capacity_mw"] = (frame["mining_infrastructure_mw"] + frame["hall_online_mw"]
                                   - frame["displaced_mw"])
    return frame


def _finance_decisions(instance: Instance, calendar: Calendar, plan: Plan,
                       violations: list[Violation]) -> pd.DataFrame:
    """Per scenario and month: revolver balance, BTC sold, distributions (0 where absent)."""
    T = calendar.months
    given: dict[str, object] = {}
    for d in plan.decisions.finance:
        if d.scenario not in {s.name for s in instance.market.scenarios}:
            violations.append(Violation("unknown_id", d.scenario, None, None, None, 1.0,
                                        "finance decisions for an unknown scenario"))
        elif d.scenario in given:
            violations.append(Violation("decision_shape", d.scenario, None, None, None, 1.0,
                                        "finance decisions listed twice; the first is used"))
        else:
            given[d.scenario] = d
    frames = []
    for scenario in instance.market.scenarios:
        d = given.get(scenario.name)
        where = (scenario.name, None, None)
        if d is None:
            violations.append(Violation("decision_shape", *where, None, 1.0,
                                        "no finance decisions for this scenario; read as zeros"))
        frames.append(pd.DataFrame({
            "scenario": scenario.name, "t": range(T),
            **{name: _fit(getattr(d, name), T, name, where, violations) if d else [0.0] * T
               for name in ("revolver_balance_usd", "btc_sold_btc", "distributions_usd")},
        }))
    return pd.concat(frames, ignore_index=True)


def _existing_debts(instance: Instance, calendar: Calendar) -> pd.DataFrame:
    T = calendar.months
    frame = pd.DataFrame({"t": range(T), "coupons": 0.0, "repaid": 0.0, "balance": 0.0})
    for debt in instance.finance.existing_debts:
        coupon, repaid, balance = existing_debt_schedule(
            debt.principal_usd, debt.coupon_pct_per_year, calendar.index(debt.maturity_month), T)
        frame["coupons"] += coupon
        frame["repaid"] += repaid
        frame["balance"] += balance
    return frame


def _cash_lines(instance: Instance, calendar: Calendar, market: pd.DataFrame, mining: pd.DataFrame,
                phases: pd.DataFrame, decisions: pd.DataFrame, extra: pd.DataFrame,
                notes: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and month: every cash line (outflows negative), cash and BTC balances."""
    finance = instance.finance
    frame = market[[*KEYS, "month", "btc_price_usd", "discount_factor"]].merge(decisions, on=KEYS)
    summed = ["btc_mined_btc", "revenue_usd", "power_usd", "opex_usd", "move_usd", "credit_usd",
              "rounding_usd", "rounding_btc"]
    frame = frame.merge(mining.groupby(KEYS, as_index=False)[summed].sum(), on=KEYS, how="left")
    flows = phases.groupby("t", as_index=False)[list(PHASE_FLOWS)].sum()
    frame = frame.merge(flows, on="t", how="left").merge(_existing_debts(instance, calendar), on="t")
    frame = frame.merge(extra, on="t", how="left").merge(notes, on=KEYS, how="left")
    frame[summed + list(PHASE_FLOWS)] = frame[summed + list(PHASE_FLOWS)].astype(float).fillna(0.0)
    revolver = finance.revolver
    rate = revolver.rate_pct_per_year / 1200.0 if revolver else 0.0
    fee = revolver.undrawn_fee_pct_per_year / 1200.0 if revolver else 0.0
    limit = revolver.limit_usd if revolver else 0.0
    balance = frame["revolver_balance_usd"]
    before = frame.groupby("scenario")["revolver_balance_usd"].shift(1).fillna(
        revolver.drawn_at_start_usd if revolver else 0.0)
    lines = pd.DataFrame({
        "scenario": frame["scenario"], "month": frame["month"], "t": frame["t"],
        "btc_mined_btc": frame["btc_mined_btc"], "mining_revenue_usd": frame["revenue_usd"],
        "btc_sales_usd": frame["btc_sold_btc"] * frame["btc_price_usd"],
        "mining_power_usd": -frame["power_usd"], "mining_opex_usd": -frame["opex_usd"],
        "fleet_moves_usd": -frame["move_usd"],
        "curtailment_credits_usd": frame["credit_usd"],
        "fixed_power_charges_usd": -frame["fixed_charges"],
        "fleet_purchase_deposits_usd": frame["deposits"],
        "fleet_purchase_balances_usd": frame["balances"],
        "fleet_resale_usd": frame["resale"],
        "mining_hall_capex_usd": -frame["hall_capex_usd"],
        "ai_rent_usd": frame["rent_cash"], "ai_prepayments_usd": frame["prepayment"],
        "ai_opex_usd": -frame["opex"], "ai_capex_usd": -frame["capex"],
        "project_debt_draws_usd": frame["debt_draw"],
        "project_debt_interest_usd": -frame["debt_interest"],
        "project_debt_principal_usd": -frame["debt_principal"],
        "existing_debt_coupons_usd": -frame["coupons"],
        "existing_debt_repayments_usd": -(frame["repaid"] - frame["existing_debt_converted_usd"]),
        **{name: frame[name] for name in NOTES_FLOWS},
        "revolver_draws_usd": balance - before, "revolver_interest_usd": -rate * before,
        "revolver_fees_usd": -fee * (limit - before),
        "distributions_usd": -frame["distributions_usd"],
        **loan_cash_lines(instance, frame),
    })
    flow_columns = [c for c in lines.columns if c.endswith("_usd") and c != "mining_revenue_usd"]
    net = lines[flow_columns].sum(axis=1)
    # Rounding of the plan's numbers and HiGHS's tolerance, carried like cash is.
    slack = (frame["rounding_usd"] + 0.01 * (3.0 + rate) + BTC_TOL * frame["btc_price_usd"]
             + SOLVER_USD_PER_MONTH + frame["fleet_rounding_usd"] + frame["notes_rounding_usd"]
             + loan_rounding_usd(instance))
    cash_rate = finance.cash_interest_pct_per_year / 1200.0
    n = len(lines)
    interest, cash, tolerance = [0.0] * n, [0.0] * n, [0.0] * n
    net_flow, month_slack = net.to_numpy(), slack.to_numpy()
    for rows in lines.groupby("scenario", sort=False).indices.values():  # positions, in t order
        previous, tol = finance.starting_cash_usd, USD_TOL
        for i in rows:
            interest[i] = cash_rate * previous
            previous = previous + interest[i] + float(net_flow[i])
            tol = tol * (1.0 + cash_rate) + float(month_slack[i])
            cash[i], tolerance[i] = previous, tol
    lines["cash_interest_usd"] = interest
    lines["cash_end_usd"] = cash
    lines["cash_tolerance_usd"] = tolerance
    lines["btc_sold_btc"] = frame["btc_sold_btc"]
    lines["btc_held_btc"] = finance.btc_held_at_start_btc + (
        frame["btc_mined_btc"] - frame["btc_sold_btc"]).groupby(frame["scenario"]).cumsum()
    lines["btc_tolerance_btc"] = BTC_TOL + (
        frame["rounding_btc"] + BTC_TOL + SOLVER_BTC_PER_MONTH).groupby(frame["scenario"]).cumsum()
    lines["project_debt_balance_usd"] = frame["debt_balance_end"]
    # Not cash (added to the balance), so after the cash sums; interest for taxes (audit_taxes).
    lines["project_debt_interest_capitalized_usd"] = -frame["debt_interest_capitalized"]
    lines["existing_debt_balance_usd"] = frame["balance"]
    lines["notes_balance_usd"] = frame["notes_balance_usd"]
    lines["dilution_value_usd"] = frame["dilution_value_usd"]
    lines["revolver_balance_usd"] = balance
    lines["btc_loan_balance_usd"] = frame["btc_loan_balance_usd"]
    lines["btc_pledged_btc"] = frame["btc_pledged_btc"]
    lines["btc_price_usd"] = frame["btc_price_usd"]
    lines["discount_factor"] = frame["discount_factor"]
    return lines


def _terminal(instance: Instance, calendar: Calendar, monthly: pd.DataFrame, mining: pd.DataFrame,
              signed: list[SignedPhase], schedules: dict[tuple[str, str], PhaseSchedule],
              fleet: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Terminal value at the end of month T-1 per scenario, by part (DESIGN.md)."""
    T = calendar.months
    phases = sum(
        phase_terminal_value(schedules[(sp.site, sp.phase.id)], sp.index, T,
                             calendar.months_after_end_factors(schedules[(sp.site, sp.phase.id)].length))
        for sp in signed)
    salvage = fleet_terminal_usd(instance, fleet, T)
    continuation = sum(calendar.months_after_end_factors(instance.terminal.mining_months))
    haircut = instance.terminal.btc_haircut_pct / 100.0
    out: dict[str, dict[str, float]] = {}
    for scenario in instance.market.scenarios:
        last = monthly[(monthly["scenario"] == scenario.name) & (monthly["t"] == T - 1)].iloc[0]
        margin = mining.loc[(mining["scenario"] == scenario.name) & (mining["t"] == T - 1),
                            "margin_usd"].sum()
        parts = {
            "cash_usd": float(last["cash_end_usd"]),
            "btc_usd": float(last["btc_held_btc"] * last["btc_price_usd"] * (1.0 - haircut)),
            "ai_phases_usd": float(phases),
            "fleet_salvage_usd": float(salvage),
            "mining_continuation_usd": float(margin * continuation),
            "existing_debt_usd": -float(last["existing_debt_balance_usd"]),
            "revolver_usd": -float(last["revolver_balance_usd"]),
            "btc_loan_usd": -float(last["btc_loan_balance_usd"]),
            "notes_usd": -float(last["notes_balance_usd"]),
        }
        parts["total_usd"] = sum(parts.values())
        out[scenario.name] = parts
    return out
