"""From a solved model to a Plan and its monthly tables (USD, MW, BTC; outflows negative)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyomo.core as pyo

from capalloc.models.instance import Instance
from capalloc.models.plan import (
    Decisions,
    FinanceDecision,
    FleetDecision,
    HallDecision,
    MiningDecision,
    Plan,
    Provenance,
    ScenarioKpis,
    Signing,
    SolverStats,
)
from capalloc.optimizer import __version__
from capalloc.optimizer.economics import existing_debt_schedule, lease_rent, th_per_mw
from capalloc.optimizer.formulation.ai_phases import PhaseWindow
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, BuildContext
from capalloc.optimizer.formulation.financing.btc_loans import btc_loan_debt_rows, btc_loan_values
from capalloc.optimizer.formulation.fleet import fleet_cash_usd, fleet_values, hall_values
from capalloc.optimizer.formulation.mining import curtailment_credit, mining_pairs, mining_unit_economics
from capalloc.optimizer.formulation.power import energized_mw, fixed_power_charge_usd
from capalloc.optimizer.outputs.extract_notes import (
    NOTES_LINES,
    debt_table,
    existing_converted,
    notes_decisions,
    notes_lines,
)
from capalloc.optimizer.outputs.income_table import add_income_columns, income_kpis
from capalloc.optimizer.outputs.versions import provenance_versions
from capalloc.optimizer.solving.solve import SolverRun


@dataclass
class PlanResult:
    """A plan and the tables written beside it."""

    plan: Plan
    sites_monthly: pd.DataFrame
    cashflow_monthly: pd.DataFrame
    leases: pd.DataFrame
    fleet_monthly: pd.DataFrame | None = None
    debt_monthly: pd.DataFrame | None = None
    instance: Instance | None = None
    """The validated instance the plan solves (series expanded), written as instance.json so
    that a plan directory alone answers explain, evaluate and report."""


def _clean(value: float, digits: int) -> float:
    rounded = round(float(value), digits)
    return 0.0 if rounded == 0.0 else rounded


def _curtailed(model, key) -> float:
    return pyo.value(model.curtailed_mw[key]) if key in model.curtailed_mw else 0.0


def _signing_month(model, window: PhaseWindow) -> int | None:
    if not window.signable:
        return None
    for t in range(window.first, window.last + 1):
        if pyo.value(model.signed_by[window.site, window.phase.id, t]) > 0.5:
            return t
    return None


def extract_plan(run: SolverRun, instance_sha256: str) -> PlanResult:
    built = run.built
    model, ctx = built.model, built.context
    instance, calendar = ctx.instance, ctx.calendar
    T = calendar.months
    labels = calendar.labels

    signed_at = {w.key: _signing_month(model, w) for w in ctx.phase_windows}
    signings = []
    lease_rows = []
    for w in ctx.phase_windows:
        s = signed_at[w.key]
        if s is None:
            continue
        phase = w.phase
        first_year = sum(
            lease_rent(phase.critical_it_mw, phase.lease_usd_per_kw_month,
                       phase.escalator_pct_per_year, j) for j in range(min(12, phase.term_months))
        )
        signing = Signing(
            site=w.site, phase=phase.id, critical_it_mw=phase.critical_it_mw,
            signing_month=labels[s], rent_start_month=calendar.label(s + phase.lead_time_months),
            rent_end_month=calendar.label(s + phase.lead_time_months + phase.term_months - 1),
            capex_usd=_clean(sum(w.schedule.capex), 2), first_year_rent_usd=_clean(first_year, 2),
        )
        signings.append(signing)
        lease_rows.append(signing.model_dump())

    pairs = mining_pairs(ctx)
    mining = []
    finance_decisions = []
    loans = btc_loan_values(model, ctx)
    for w in ctx.scenario_names:
        for (s, g) in pairs:
            curtailable = any((s, g, t, w) in model.curtailed_mw for t in range(T))
            mining.append(MiningDecision(
                scenario=w, site=s, generation=g,
                placed_mw=[_clean(pyo.value(model.placed_mw[s, g, t, w]), 6) for t in range(T)],
                running_mw=[_clean(pyo.value(model.running_mw[s, g, t, w]), 6) for t in range(T)],
                curtailed_mw=[_clean(_curtailed(model, (s, g, t, w)), 6) for t in range(T)]
                if curtailable else [],
            ))
        revolver = (
            [_clean(pyo.value(model.revolver_balance[t, w]) * USD_PER_MODEL_UNIT, 2) for t in range(T)]
            if instance.finance.revolver is not None else [0.0] * T
        )
        finance_decisions.append(FinanceDecision(
            scenario=w, revolver_balance_usd=revolver,
            btc_sold_btc=[_clean(pyo.value(model.btc_sold[t, w]), 8) for t in range(T)],
            distributions_usd=[_clean(pyo.value(model.distribution[t, w]) * USD_PER_MODEL_UNIT, 2)
                               for t in range(T)],
            btc_loan_balance_usd=[_clean(x, 2) for x in loans[w][0]] if loans else [],
            btc_pledged_btc=[_clean(x, 8) for x in loans[w][1]] if loans else [],
        ))
    fleet = fleet_values(model, ctx)
    halls = hall_values(model, ctx)
    fleet_decisions = [
        FleetDecision(generation=g, **{f"{name}_mw": [_clean(x, 6) for x in v[name]]
                                       for name in ("ordered", "delivered", "sold", "owned")})
        for g, v in fleet.items()
    ]
    hall_decisions = [
        HallDecision(site=s, built_mw=[_clean(x, 6) for x in v["built"]],
                     online_mw=[_clean(x, 6) for x in v["online"]])
        for s, v in halls.items()
    ]
    notes, equity = notes_decisions(model, ctx)
    decisions = Decisions(signings=signings, mining=mining, finance=finance_decisions,
                          fleet=fleet_decisions, halls=hall_decisions, notes=notes,
                          equity_issued_usd=equity)

    sites_monthly = _sites_table(ctx, model, signed_at, pairs, halls)
    notes_by_scenario = {w: notes_lines(instance, calendar, notes, equity, w) for w in ctx.scenario_names}
    cashflow = add_income_columns(ctx, model, _cashflow_table(ctx, model, signed_at, fleet, halls,
                                                              notes_by_scenario))
    fleet_monthly = _fleet_table(ctx, model, pairs, fleet)
    kpis = [_kpis(ctx, model, cashflow, sites_monthly, i, notes_by_scenario)
            for i in range(len(ctx.scenarios))]
    npv = _clean(pyo.value(model.npv_without_tie_break) * USD_PER_MODEL_UNIT, 2)
    tie_break = (pyo.value(model.npv) - pyo.value(model.npv_without_tie_break)) * USD_PER_MODEL_UNIT
    settings = run.settings
    stats = SolverStats(
        solver_version=run.highs_version,
        status="optimal" if run.optimal else "interrupted" if run.interrupted else "time_limit_with_plan",
        termination=run.termination,
        objective_usd=npv,
        dual_bound_usd=_clean(run.bound_usd - tie_break, 2) if run.bound_usd is not None else None,
        gap_pct=_clean(run.gap * 100.0, 6) if run.gap is not None else None,
        mip_rel_gap_setting=settings.mip_rel_gap, threads=settings.threads,
        random_seed=settings.random_seed, **run.counts,
    )
    provenance = Provenance(
        capalloc_version=__version__, instance_name=instance.name, instance_sha256=instance_sha256,
        start=instance.start, horizon_months=T, scenarios=ctx.scenario_names,
        canonical=instance.canonical_plan, **provenance_versions(),
    )
    plan = Plan(provenance=provenance, months=labels, solver=stats, kpis=kpis, npv_usd=npv,
                decisions=decisions)
    # Without a tree every signing holds in every scenario: no scenarios column (issue 15).
    leases = pd.DataFrame(lease_rows, columns=[f for f in Signing.model_fields if f != "scenarios"])
    return PlanResult(plan, sites_monthly, cashflow, leases, fleet_monthly,
                      debt_table(ctx, model, signed_at, notes, btc_loan_debt_rows(model, ctx)), instance)


def _fleet_table(ctx: BuildContext, model, pairs, fleet) -> pd.DataFrame:
    """Per scenario, generation, site and month: the generation's MW owned, ordered, delivered
    and sold (generation totals, repeated on each of its sites' rows) and the site's MW
    placed, running and curtailed."""
    T = ctx.calendar.months
    rows = []
    for w in ctx.scenario_names:
        for gen in ctx.instance.fleet:
            g = gen.id
            v = fleet.get(g)
            for s in [site for (site, gg) in pairs if gg == g]:
                for t in range(T):
                    rows.append({
                        "scenario": w, "generation": g, "site": s, "month": ctx.calendar.labels[t],
                        "generation_owned_mw": v["owned"][t] if v else gen.installed_mw,
                        "generation_ordered_mw": v["ordered"][t] if v else 0.0,
                        "generation_delivered_mw": v["delivered"][t] if v else 0.0,
                        "generation_sold_mw": v["sold"][t] if v else 0.0,
                        "placed_mw": pyo.value(model.placed_mw[s, g, t, w]),
                        "running_mw": pyo.value(model.running_mw[s, g, t, w]),
                        "curtailed_mw": _curtailed(model, (s, g, t, w)),
                    })
    columns = ["scenario", "generation", "site", "month", "generation_owned_mw", "generation_ordered_mw",
               "generation_delivered_mw", "generation_sold_mw", "placed_mw", "running_mw", "curtailed_mw"]
    return _rounded(pd.DataFrame(rows, columns=columns))


def _sites_table(ctx: BuildContext, model, signed_at, pairs, halls) -> pd.DataFrame:
    calendar = ctx.calendar
    T = calendar.months
    rows = []
    for w_index, w in enumerate(ctx.scenario_names):
        price = ctx.scenarios[w_index].btc_price_usd
        for site in ctx.instance.sites:
            energized = energized_mw(ctx, site.id)
            fixed_charge = fixed_power_charge_usd(ctx, site.id)
            hall = halls.get(site.id)
            hall_capex = site.mining_halls.capex_usd_per_mw if site.mining_halls else 0.0
            power_price = ctx.scenario_power_price[(site.id, w)]
            gens = [g for (s, g) in pairs if s == site.id]
            windows = [win for win in ctx.phase_windows if win.site == site.id]
            for t in range(T):
                running = placed = hashrate = btc = energy = opex = moves = curtailed = 0.0
                for g in gens:
                    run_mw = pyo.value(model.running_mw[site.id, g, t, w])
                    cut_mw = _curtailed(model, (site.id, g, t, w))
                    running += run_mw
                    curtailed += cut_mw
                    placed += pyo.value(model.placed_mw[site.id, g, t, w])
                    unit_btc, unit_energy, unit_opex = mining_unit_economics(ctx, site.id, g, t, w_index)
                    # Hashrate averaged over the month's running hours: curtailed hours hash nothing.
                    efficiency = ctx.generations_by_id[g].efficiency_j_per_th
                    hashrate += (run_mw - cut_mw) * th_per_mw(efficiency) / 1e6
                    btc += (run_mw - cut_mw) * unit_btc
                    energy += (run_mw - cut_mw) * unit_energy
                    opex += run_mw * unit_opex
                    gen = ctx.generations_by_id[g]
                    if gen.move_cost_usd_per_mw > 0:
                        moves += pyo.value(model.moved_in_mw[site.id, g, t, w]) * gen.move_cost_usd_per_mw
                ai_online = ai_building = ai_facility = rent = capex = ai_opex = 0.0
                for win in windows:
                    s = signed_at[win.key]
                    if s is None or t < s:
                        continue
                    age = t - s
                    sched = win.schedule
                    if sched.value("online", age):
                        ai_online += win.phase.critical_it_mw
                        ai_facility += win.phase.facility_mw
                    elif age < win.phase.lead_time_months:
                        ai_building += win.phase.critical_it_mw
                    rent += sched.value("rent_cash", age) + sched.value("prepayment", age)
                    capex += sched.value("capex", age)
                    ai_opex += sched.value("opex", age)
                mining_facility = running * site.mining_pue
                rows.append({
                    "scenario": w, "site": site.id, "month": calendar.labels[t],
                    "energized_mw": energized[t],
                    "mining_placed_mw": placed, "mining_running_mw": running,
                    "mining_facility_mw": mining_facility,
                    "ai_it_online_mw": ai_online, "ai_it_building_mw": ai_building,
                    "ai_facility_mw": ai_facility,
                    "idle_mw": max(0.0, energized[t] - mining_facility - ai_facility),
                    "hashrate_ehs": hashrate, "btc_mined_btc": btc,
                    "mining_revenue_usd": btc * price[t], "mining_power_cost_usd": energy,
                    "mining_opex_usd": opex, "fleet_move_cost_usd": moves,
                    "ai_rent_usd": rent, "ai_opex_usd": ai_opex, "ai_capex_usd": capex,
                    "power_price_usd_per_mwh": power_price[t],
                    "hashprice_usd_per_ph_day": ctx.scenarios[w_index].hashprice_usd_per_ph_day[t],
                    "mining_curtailed_mw": curtailed,
                    "curtailment_credit_usd": curtailed * curtailment_credit(ctx, site.id, t),
                    "fixed_power_charge_usd": fixed_charge[t],
                    "mining_halls_online_mw": hall["online"][t] if hall else 0.0,
                    "mining_hall_capex_usd": hall["built"][t] * hall_capex if hall else 0.0,
                })
    return _rounded(pd.DataFrame(rows))


def _cashflow_table(ctx: BuildContext, model, signed_at, fleet, halls, notes_by_scenario) -> pd.DataFrame:
    instance, calendar = ctx.instance, ctx.calendar
    T = calendar.months
    finance = instance.finance
    debt_rows = {}
    for debt in finance.existing_debts:
        debt_rows[debt.id] = existing_debt_schedule(
            debt.principal_usd, debt.coupon_pct_per_year, calendar.index(debt.maturity_month), T
        )
    cash_rate = finance.cash_interest_pct_per_year / 100.0 / 12.0
    pairs = mining_pairs(ctx)
    fleet_cash = fleet_cash_usd(ctx, fleet)
    fixed_charges = [sum(c) for c in zip(*(fixed_power_charge_usd(ctx, s.id) for s in instance.sites),
                                         strict=True)]
    hall_capex = [
        sum(v["built"][t] * ctx.sites_by_id[s].mining_halls.capex_usd_per_mw for s, v in halls.items())
        for t in range(T)
    ]
    rows = []
    loans = btc_loan_values(model, ctx)
    for w_index, w in enumerate(ctx.scenario_names):
        price = ctx.scenarios[w_index].btc_price_usd
        cash_before = finance.starting_cash_usd
        revolver_before = finance.revolver.drawn_at_start_usd if finance.revolver else 0.0
        converted = {d.id for d in finance.existing_debts if existing_converted(instance, calendar, d, w)}
        notes = notes_by_scenario[w]
        for t in range(T):
            line = {"scenario": w, "month": calendar.labels[t], "cash_start_usd": cash_before}
            sold = pyo.value(model.btc_sold[t, w])
            line["btc_sales_usd"] = sold * price[t]
            power = opex = moves = credits = 0.0
            for (s, g) in pairs:
                run_mw = pyo.value(model.running_mw[s, g, t, w])
                cut_mw = _curtailed(model, (s, g, t, w))
                _, unit_energy, unit_opex = mining_unit_economics(ctx, s, g, t, w_index)
                power += (run_mw - cut_mw) * unit_energy
                opex += run_mw * unit_opex
                credits += cut_mw * curtailment_credit(ctx, s, t)
                gen = ctx.generations_by_id[g]
                if gen.move_cost_usd_per_mw > 0:
                    moves += pyo.value(model.moved_in_mw[s, g, t, w]) * gen.move_cost_usd_per_mw
            line["mining_power_usd"] = -power
            line["mining_opex_usd"] = -opex
            line["fleet_moves_usd"] = -moves
            line["curtailment_credits_usd"] = credits
            line["fixed_power_charges_usd"] = -fixed_charges[t]
            line["fleet_purchase_deposits_usd"] = fleet_cash["deposits"][t]
            line["fleet_purchase_balances_usd"] = fleet_cash["balances"][t]
            line["fleet_resale_usd"] = fleet_cash["resale"][t]
            line["mining_hall_capex_usd"] = -hall_capex[t]
            parts = dict.fromkeys(("rent_cash", "prepayment", "opex", "capex", "debt_draw",
                                   "debt_interest", "debt_principal"), 0.0)
            project_balance = 0.0
            for win in ctx.phase_windows:
                s = signed_at[win.key]
                if s is None or t < s:
                    continue
                for name in parts:
                    parts[name] += win.schedule.value(name, t - s)
                project_balance += win.schedule.value("debt_balance_end", t - s)
            line["ai_rent_usd"] = parts["rent_cash"]
            line["ai_prepayments_usd"] = parts["prepayment"]
            line["ai_opex_usd"] = -parts["opex"]
            line["ai_capex_usd"] = -parts["capex"]
            line["project_debt_draws_usd"] = parts["debt_draw"]
            line["project_debt_interest_usd"] = -parts["debt_interest"]
            line["project_debt_principal_usd"] = -parts["debt_principal"]
            coupons = sum((rows_[0][t] for rows_ in debt_rows.values()), 0.0)
            repaid = sum((rows_[1][t] for debt_id, rows_ in debt_rows.items() if debt_id not in converted),
                         0.0)
            line["existing_debt_coupons_usd"] = -coupons
            line["existing_debt_repayments_usd"] = -repaid
            revolver = (pyo.value(model.revolver_balance[t, w]) * USD_PER_MODEL_UNIT
                        if finance.revolver else 0.0)
            if finance.revolver:
                rate = finance.revolver.rate_pct_per_year / 100.0 / 12.0
                fee = finance.revolver.undrawn_fee_pct_per_year / 100.0 / 12.0
                line["revolver_draws_usd"] = revolver - revolver_before
                line["revolver_interest_usd"] = -rate * revolver_before
                line["revolver_fees_usd"] = -fee * (finance.revolver.limit_usd - revolver_before)
            else:
                line["revolver_draws_usd"] = line["revolver_interest_usd"] = 0.0
                line["revolver_fees_usd"] = 0.0
            if loans:
                loan_balance, loan_before = loans[w][0][t], loans[w][0][t - 1] if t else 0.0
                line["btc_loan_draws_usd"] = loan_balance - loan_before
                line["btc_loan_interest_usd"] = -finance.btc_loan.rate_pct_per_year / 1200.0 * loan_before
            for name in NOTES_LINES:
                line[name] = notes[name][t]
            line["cash_interest_usd"] = cash_rate * cash_before
            line["distributions_usd"] = -pyo.value(model.distribution[t, w]) * USD_PER_MODEL_UNIT
            cash = pyo.value(model.cash[t, w]) * USD_PER_MODEL_UNIT
            line["cash_end_usd"] = cash
            line["btc_mined_btc"] = sum(
                pyo.value(c) * pyo.value(v) for c, v in ctx.btc_mined.terms.get((t, w), [])
            )
            line["btc_sold_btc"] = sold
            line["hashprice_usd_per_ph_day"] = ctx.scenarios[w_index].hashprice_usd_per_ph_day[t]
            line["btc_held_btc"] = pyo.value(model.btc_held[t, w])
            line["project_debt_balance_usd"] = project_balance
            line["revolver_balance_usd"] = revolver
            for debt_id, sched in debt_rows.items():
                line[f"debt_{debt_id}_balance_usd"] = sched[2][t]
            loan_balance = loans[w][0][t] if loans else 0.0
            if loans:
                line["btc_loan_balance_usd"] = loan_balance
                line["btc_pledged_btc"] = loans[w][1][t]
            line["notes_balance_usd"] = notes["notes_balance_usd"][t]
            line["dilution_usd"] = notes["dilution_usd"][t]
            line["total_debt_usd"] = (project_balance + revolver + loan_balance
                                      + notes["notes_balance_usd"][t]
                                      + sum(sched[2][t] for sched in debt_rows.values()))
            rows.append(line)
            cash_before, revolver_before = cash, revolver
    return _rounded(pd.DataFrame(rows))


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if frame[column].dtype.kind == "f":
            digits = (8 if column.endswith("_btc") else 6 if column.endswith(("_mw", "_ehs", "_day"))
                      else 2)
            frame[column] = frame[column].round(digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return frame


def _btc_loan_kpis(flows: pd.DataFrame) -> dict[str, float]:
    """Peak balance, interest paid and peak pledge of the BTC loan (none: the defaults)."""
    if "btc_loan_balance_usd" not in flows:
        return {}
    return {"btc_loan_peak_usd": _clean(flows["btc_loan_balance_usd"].max(), 2),
            "btc_loan_interest_usd": _clean(-flows["btc_loan_interest_usd"].sum(), 2),
            "btc_pledged_peak_btc": _clean(flows["btc_pledged_btc"].max(), 8)}


def _kpis(ctx: BuildContext, model, cashflow: pd.DataFrame, sites: pd.DataFrame,
          w_index: int, notes_by_scenario) -> ScenarioKpis:
    scenario = ctx.scenarios[w_index]
    w = scenario.name
    calendar = ctx.calendar
    factors = calendar.discount_factors
    flows = cashflow[cashflow["scenario"] == w].reset_index(drop=True)
    site_rows = sites[sites["scenario"] == w]
    distributions_pv = sum(
        factors[t] * pyo.value(model.distribution[t, w]) for t in ctx.months
    ) * USD_PER_MODEL_UNIT
    terminal = (sum(pyo.value(c) * pyo.value(v) for c, v in ctx.terminal.terms.get(w, []))
                + ctx.terminal.constants.get(w, 0.0)) * USD_PER_MODEL_UNIT
    dilution_pv = sum(f * v for f, v in zip(factors, notes_by_scenario[w]["dilution_usd"], strict=True))
    min_index = int(flows["cash_end_usd"].idxmin())
    peak_index = int(flows["total_debt_usd"].idxmax())
    ai_by_year, ehs_by_year = {}, {}
    for year, periods in calendar.year_periods().items():
        last_label = calendar.labels[periods[-1]]
        in_year = site_rows[site_rows["month"].str.startswith(str(year))]
        at_last = site_rows[site_rows["month"] == last_label]
        ai_by_year[str(year)] = _clean(at_last["ai_it_online_mw"].sum(), 6)
        ehs_by_year[str(year)] = _clean(in_year["hashrate_ehs"].sum() / len(periods), 6)
    return ScenarioKpis(
        scenario=w, probability=scenario.probability,
        npv_usd=_clean(distributions_pv + factors[-1] * terminal - dilution_pv, 2),
        distributions_pv_usd=_clean(distributions_pv, 2),
        terminal_value_usd=_clean(terminal, 2),
        minimum_cash_usd=_clean(flows.loc[min_index, "cash_end_usd"], 2),
        minimum_cash_month=str(flows.loc[min_index, "month"]),
        peak_debt_usd=_clean(flows.loc[peak_index, "total_debt_usd"], 2),
        peak_debt_month=str(flows.loc[peak_index, "month"]),
        total_capex_usd=_clean(-flows["ai_capex_usd"].sum(), 2),
        btc_mined_btc=_clean(flows["btc_mined_btc"].sum(), 8),
        fleet_purchases_usd=_clean(-(flows["fleet_purchase_deposits_usd"]
                                     + flows["fleet_purchase_balances_usd"]).sum(), 2),
        fleet_resale_usd=_clean(flows["fleet_resale_usd"].sum(), 2),
        curtailment_credits_usd=_clean(flows["curtailment_credits_usd"].sum(), 2),
        fixed_power_charges_usd=_clean(-flows["fixed_power_charges_usd"].sum(), 2),
        mining_hall_capex_usd=_clean(-flows["mining_hall_capex_usd"].sum(), 2),
        **_btc_loan_kpis(flows),
        **income_kpis(flows),
        ai_mw_online_by_year=ai_by_year, hashrate_ehs_by_year=ehs_by_year,
        notes_issued_usd=_clean(flows["notes_issued_usd"].sum(), 2),
        equity_raised_usd=_clean(flows["equity_issued_usd"].sum(), 2),
        dilution_cost_usd=_clean(dilution_pv, 2),
    )
