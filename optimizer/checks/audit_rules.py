"""The rules the independent audit checks, each violation a structured record.

Nothing here reads the formulation: every rule is restated from DESIGN.md and the instance
schema and checked on the plan's decisions and on the audit's own recomputed tables
(optimizer/checks/audit.py). Tolerances are absolute and only cover what the plan's rounding (USD
to cents, MW to 1e-6, BTC to 1e-8) and HiGHS's feasibility tolerance can explain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from capalloc.models.instance import AIPhase, Instance
from capalloc.models.plan import Signing
from capalloc.optimizer.calendar import Calendar

USD_TOL = 1.0
"""Absolute tolerance on a USD amount that is not carried from month to month."""
MW_TOL = 1e-6
"""Absolute tolerance per rounded MW term of a power or capacity row."""
BTC_TOL = 1e-8
"""Absolute tolerance on a BTC amount that is not carried from month to month."""
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Violation:
    """One broken rule: where and by how much (``amount`` is in the rule's unit)."""

    rule: str
    scenario: str | None
    site: str | None
    item: str | None  # AI phase or ASIC generation, where relevant
    month: str | None
    amount: float
    message: str

    def line(self) -> str:
        where = "/".join(x for x in (self.scenario, self.site, self.item) if x)
        head = f"{self.rule} [{where}]" if where else self.rule
        if self.month:
            head += f" {self.month}"
        return f"{head}: {self.message} (by {self.amount:.6g})"


@dataclass(frozen=True)
class SignedPhase:
    """A signing of a known phase, as valued by the audit (the instance's terms)."""

    site: str
    phase: AIPhase
    order: int
    index: int  # signing month, as a period index (may lie outside the horizon)


def check_signings(
    instance: Instance, calendar: Calendar, signings: list[Signing]
) -> tuple[list[SignedPhase], list[Violation]]:
    """Ids, signing once, window, rent start/end, terms, phase order and the yearly cap."""
    out: list[Violation] = []
    T = calendar.months
    sites = {site.id: site for site in instance.sites}
    signed: dict[tuple[str, str], SignedPhase] = {}
    for signing in signings:
        site = sites.get(signing.site)
        phases = {p.id: (k, p) for k, p in enumerate(site.ai_phases)} if site else {}
        if signing.phase not in phases:
            what = f"site {signing.site!r}" if site is None else f"phase {signing.phase!r}"
            out.append(Violation("unknown_id", None, signing.site, signing.phase, None, 1.0,
                                 f"the signing names an unknown {what}"))
            continue
        if not MONTH_RE.match(signing.signing_month):
            out.append(Violation("decision_shape", None, signing.site, signing.phase, None, 1.0,
                                 f"signing month {signing.signing_month!r} is not YYYY-MM"))
            continue
        order, phase = phases[signing.phase]
        s = calendar.index(signing.signing_month)
        month = signing.signing_month
        key = (signing.site, signing.phase)
        if key in signed:
            out.append(Violation(
                "signed_once", None, signing.site, signing.phase, month, 1.0,
                f"signed again in {month} after {calendar.label(signed[key].index)}; "
                "only the first signing is valued"))
            continue
        signed[key] = SignedPhase(signing.site, phase, order, s)
        lead = phase.lead_time_months
        first = max(0, calendar.index(phase.earliest_signing_month)) if phase.earliest_signing_month else 0
        last = T - 1 - lead
        if s < first:
            out.append(Violation(
                "signing_window", None, signing.site, signing.phase, month, float(first - s),
                f"signed in {month}, before the first allowed month {calendar.label(first)}"))
        if s > last:
            out.append(Violation(
                "signing_window", None, signing.site, signing.phase, month, float(s - last),
                f"signed in {month}: rent would start in {calendar.label(s + lead)}, after the "
                f"horizon's last month {calendar.label(T - 1)} (last allowed signing "
                f"{calendar.label(last)})"))
        expected = {"rent_start": (signing.rent_start_month, s + lead),
                    "rent_end": (signing.rent_end_month, s + lead + phase.term_months - 1)}
        for rule, (stated, index) in expected.items():
            if stated != calendar.label(index):
                gap = abs(calendar.index(stated) - index) if MONTH_RE.match(stated) else 1.0
                out.append(Violation(
                    rule, None, signing.site, signing.phase, stated, float(gap),
                    f"the plan says {stated}, signing {month} + lead time {lead} months"
                    f"{'' if rule == 'rent_start' else f' + term {phase.term_months} - 1'} "
                    f"gives {calendar.label(index)}"))
        capex = phase.critical_it_mw * phase.capex_usd_per_mw_it
        if abs(signing.critical_it_mw - phase.critical_it_mw) > MW_TOL:
            out.append(Violation(
                "signing_terms", None, signing.site, signing.phase, month,
                abs(signing.critical_it_mw - phase.critical_it_mw),
                f"critical IT {signing.critical_it_mw:g} MW, the instance says {phase.critical_it_mw:g}"))
        if abs(signing.capex_usd - capex) > USD_TOL:
            out.append(Violation(
                "signing_terms", None, signing.site, signing.phase, month,
                abs(signing.capex_usd - capex),
                f"capex {signing.capex_usd:,.2f} USD, the instance says {capex:,.2f}"))
    out += _phase_order(instance, calendar, signed)
    out += _signing_cap(instance, calendar, signed)
    return list(signed.values()), out


def _phase_order(
    instance: Instance, calendar: Calendar, signed: dict[tuple[str, str], SignedPhase]
) -> list[Violation]:
    """Phase k may not be signed before phase k-1 (same month is fine). Amount: months early."""
    out: list[Violation] = []
    for site in instance.sites:
        for previous, phase in zip(site.ai_phases, site.ai_phases[1:], strict=False):
            current = signed.get((site.id, phase.id))
            if current is None:
                continue
            before = signed.get((site.id, previous.id))
            month = calendar.label(current.index)
            if before is None:
                out.append(Violation(
                    "phase_order", None, site.id, phase.id, month,
                    float(max(1, calendar.months - current.index)),
                    f"signed in {month} but the phase before it, {previous.id}, is never signed"))
            elif before.index > current.index:
                out.append(Violation(
                    "phase_order", None, site.id, phase.id, month, float(before.index - current.index),
                    f"signed in {month}, before the phase before it, {previous.id} "
                    f"({calendar.label(before.index)})"))
    return out


def _signing_cap(
    instance: Instance, calendar: Calendar, signed: dict[tuple[str, str], SignedPhase]
) -> list[Violation]:
    """Critical-IT MW signed per calendar year; reported at the signing that breaks the cap."""
    cap = instance.signing_cap_mw_per_year
    if cap is None:
        return []
    out: list[Violation] = []
    by_year: dict[int, list[SignedPhase]] = {}
    for sp in sorted(signed.values(), key=lambda sp: sp.index):
        by_year.setdefault(int(calendar.label(sp.index)[:4]), []).append(sp)
    for year, items in sorted(by_year.items()):
        total, breaker = 0.0, None
        for sp in items:
            total += sp.phase.critical_it_mw
            if breaker is None and total > cap + MW_TOL * len(items):
                breaker = sp
        if breaker is not None:
            out.append(Violation(
                "signing_cap", None, breaker.site, breaker.phase.id, calendar.label(breaker.index),
                total - cap, f"{total:g} MW of critical IT signed in {year}, the cap is {cap:g} MW"))
    return out


def _rows(frame: pd.DataFrame, excess: pd.Series, tol: pd.Series | float) -> list[Any]:
    """The rows of ``frame`` where ``excess`` exceeds ``tol``, with the excess as ``excess_``."""
    mask = excess > tol
    if not mask.any():
        return []
    return list(frame.loc[mask].assign(excess_=excess[mask]).itertuples())


def check_mining_and_power(instance: Instance, mining: pd.DataFrame, sites: pd.DataFrame,
                           owned: pd.DataFrame | None = None) -> list[Violation]:
    """Per generation: placed >= 0, 0 <= running <= placed, 0 <= curtailed <= the month's share
    of running, placed only at the generation's sites, fleet size (placed across sites <= MW
    owned: ``owned`` per generation and month, else the installed MW); per site: mining
    capacity (infrastructure + halls online - retrofits), facility power within the energized MW."""
    out: list[Violation] = []
    share = mining.get("curtail_share", 0.0)
    curtailed = mining.get("curtailed_mw", 0.0 * mining["running_mw"])
    pair_rules = (
        ("placed_nonnegative", -mining["placed_mw"], "{placed_mw:g} MW placed"),
        ("running_nonnegative", -mining["running_mw"], "{running_mw:g} MW running"),
        ("running_within_placed", mining["running_mw"] - mining["placed_mw"],
         "{running_mw:g} MW running but only {placed_mw:g} MW placed"),
        ("curtailed_nonnegative", -curtailed, "{curtailed_mw:g} MW curtailed"),
        ("curtailed_within_share", curtailed - share * mining["running_mw"],
         "{curtailed_mw:g} MW curtailed, more than the month's share {curtail_share:.4g} of "
         "{running_mw:g} MW running"),
    )
    for rule, excess, text in pair_rules:
        for r in _rows(mining, excess, 2 * MW_TOL):
            out.append(Violation(rule, r.scenario, r.site, r.generation, r.month, r.excess_,
                                 text.format(**r._asdict())))
    allowed = {g.id: g.sites for g in instance.fleet}
    mask = pd.Series([allowed.get(g) is not None and s not in allowed[g]
                      for s, g in zip(mining["site"], mining["generation"], strict=True)],
                     index=mining.index, dtype=bool)
    outside = mining.loc[mask]
    for r in _rows(outside, outside["placed_mw"], MW_TOL):
        out.append(Violation("placement_site", r.scenario, r.site, r.generation, r.month, r.excess_,
                             f"{r.placed_mw:g} MW placed at a site not in the generation's sites"))
    fleet = mining.groupby(["scenario", "generation", "t", "month"], as_index=False).agg(
        placed_mw=("placed_mw", "sum"), terms=("placed_mw", "size"))
    if owned is not None and not owned.empty:
        fleet = fleet.merge(owned[["generation", "t", "owned_mw"]], on=["generation", "t"], how="left")
        fleet["installed_mw"] = fleet["owned_mw"].fillna(0.0)
    else:
        fleet["installed_mw"] = fleet["generation"].map({g.id: g.installed_mw for g in instance.fleet})
    excess = fleet["placed_mw"] - fleet["installed_mw"]
    for r in _rows(fleet, excess, MW_TOL * (1 + fleet["terms"] + fleet["t"])):
        out.append(Violation("fleet_size", r.scenario, None, r.generation, r.month, r.excess_,
                             f"{r.placed_mw:g} MW placed across sites, {r.installed_mw:g} MW owned"))
    excess = sites["placed_mw"] - sites["mining_capacity_mw"]
    halls = sites["hall_online_mw"] > 0 if "hall_online_mw" in sites else False
    for r in _rows(sites, excess, MW_TOL * (1 + sites["generations"] + halls * (2 + sites["t"]))):
        out.append(Violation(
            "mining_capacity", r.scenario, r.site, None, r.month, r.excess_,
            f"{r.placed_mw:g} MW of ASICs placed; the site hosts {r.mining_capacity_mw:g} MW "
            f"({r.mining_infrastructure_mw:g} MW of mining infrastructure less "
            f"{r.displaced_mw:g} MW displaced by retrofits signed by then)"))
    excess = sites["mining_facility_mw"] + sites["ai_facility_mw"] - sites["energized_mw"]
    for r in _rows(sites, excess, MW_TOL * (1 + 2 * sites["generations"])):
        out.append(Violation(
            "site_power", r.scenario, r.site, None, r.month, r.excess_,
            f"{r.mining_facility_mw:g} MW of mining + {r.ai_facility_mw:g} MW of AI facility power "
            f"exceed the {r.energized_mw:g} MW energized"))
    return out


def check_finance(instance: Instance, monthly: pd.DataFrame) -> list[Violation]:
    """Liquidity floor, revolver within [0, limit], BTC held, distributions and sales >= 0."""
    finance = instance.finance
    limit = finance.revolver.limit_usd if finance.revolver else 0.0
    locked = 0.0 if finance.btc_treasury_sellable else finance.btc_held_at_start_btc
    floor = finance.minimum_cash_usd
    checks = (
        ("liquidity_floor", floor - monthly["cash_end_usd"], monthly["cash_tolerance_usd"],
         "cash {cash_end_usd:,.2f} USD below the floor of " + f"{floor:,.2f}"),
        ("revolver_limit", monthly["revolver_balance_usd"] - limit, USD_TOL,
         "revolver balance {revolver_balance_usd:,.2f} USD above the limit of " + f"{limit:,.2f}"),
        ("revolver_limit", -monthly["revolver_balance_usd"], USD_TOL,
         "revolver balance {revolver_balance_usd:,.2f} USD is negative"),
        ("btc_held", locked - monthly["btc_held_btc"], monthly["btc_tolerance_btc"],
         "{btc_held_btc:.8f} BTC held, below " + f"{locked:g} BTC"
         + (" (the starting stack may not be sold)" if locked else "")),
        ("distribution_nonnegative", monthly["distributions_usd"], USD_TOL,
         "distribution of {distributions_usd:,.2f} USD is an equity injection"),
        ("btc_sold_nonnegative", -monthly["btc_sold_btc"], BTC_TOL,
         "{btc_sold_btc:.8f} BTC sold"),
    )
    out: list[Violation] = []
    frame = monthly.assign(distributions_usd=-monthly["distributions_usd"])
    for rule, excess, tol, text in checks:
        for r in _rows(frame, excess, tol):
            out.append(Violation(rule, r.scenario, None, None, r.month, r.excess_,
                                 text.format(**r._asdict())))
    return out
