"""Comparing two plans: objective and KPI deltas, signings added, removed or moved, and MW
differences by site and year."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from capalloc.models.common import month_ordinal
from capalloc.models.plan import Plan


@dataclass
class SigningChange:
    site: str
    phase: str
    change: str  # added | removed | moved
    month_a: str | None
    month_b: str | None
    shift_months: int | None = None

    def describe(self) -> str:
        if self.change == "moved":
            direction = "later" if (self.shift_months or 0) > 0 else "earlier"
            return (f"{self.site}/{self.phase} moved {abs(self.shift_months or 0)} month(s) {direction}: "
                    f"{self.month_a} -> {self.month_b}")
        if self.change == "added":
            return f"{self.site}/{self.phase} signed only in B ({self.month_b})"
        return f"{self.site}/{self.phase} signed only in A ({self.month_a})"


@dataclass
class KpiDelta:
    scenario: str
    name: str
    a: float
    b: float

    @property
    def delta(self) -> float:
        return self.b - self.a


@dataclass
class MwDelta:
    scenario: str
    site: str
    year: str
    measure: str  # mining_mw_avg | ai_it_mw_year_end | fleet_owned_mw_year_end (site = generation)
    a: float
    b: float


@dataclass
class Comparison:
    objective_a: float
    objective_b: float
    rel_tol: float
    mw_tol: float
    kpis: list[KpiDelta] = field(default_factory=list)
    signings: list[SigningChange] = field(default_factory=list)
    mw: list[MwDelta] = field(default_factory=list)

    @property
    def objective_rel_diff(self) -> float:
        return abs(self.objective_b - self.objective_a) / max(1.0, abs(self.objective_a))

    @property
    def differs(self) -> bool:
        return self.objective_rel_diff > self.rel_tol or bool(self.signings) or bool(self.mw)

    def to_dict(self) -> dict:
        return {
            "differs": self.differs, "objective_a_usd": self.objective_a,
            "objective_b_usd": self.objective_b, "objective_rel_diff": self.objective_rel_diff,
            "rel_tol": self.rel_tol, "mw_tol": self.mw_tol,
            "kpis": [asdict(k) | {"delta": k.delta} for k in self.kpis],
            "signings": [asdict(s) for s in self.signings], "mw": [asdict(m) for m in self.mw],
        }


_KPI_FIELDS = ("npv_usd", "terminal_value_usd", "minimum_cash_usd", "peak_debt_usd",
               "total_capex_usd", "btc_mined_btc", "fleet_purchases_usd", "fleet_resale_usd",
               "curtailment_credits_usd", "fixed_power_charges_usd", "mining_hall_capex_usd",
               "btc_loan_peak_usd", "btc_loan_interest_usd", "btc_pledged_peak_btc",
               "taxes_paid_usd", "notes_issued_usd", "equity_raised_usd", "dilution_cost_usd")


def signing_changes(a: Plan, b: Plan) -> list[SigningChange]:
    months_a = {(s.site, s.phase): s.signing_month for s in a.decisions.signings}
    months_b = {(s.site, s.phase): s.signing_month for s in b.decisions.signings}
    changes = []
    for key in sorted(set(months_a) | set(months_b)):
        ma, mb = months_a.get(key), months_b.get(key)
        if ma == mb:
            continue
        if ma is None:
            changes.append(SigningChange(key[0], key[1], "added", None, mb))
        elif mb is None:
            changes.append(SigningChange(key[0], key[1], "removed", ma, None))
        else:
            changes.append(SigningChange(key[0], key[1], "moved", ma, mb,
                                         month_ordinal(mb) - month_ordinal(ma)))
    return changes


def mw_by_site_year(plan: Plan) -> dict[tuple[str, str, str, str], float]:
    """(scenario, site, year, measure) -> MW: average mining MW running, AI IT MW online at year
    end, and for generations bought or sold the MW owned at year end (the generation in the
    site's place)."""
    out: dict[tuple[str, str, str, str], float] = defaultdict(float)
    months = plan.months
    by_year: dict[str, list[int]] = defaultdict(list)
    for t, month in enumerate(months):
        by_year[month[:4]].append(t)
    for decision in plan.decisions.mining:
        for year, periods in by_year.items():
            mean = sum(decision.running_mw[t] for t in periods) / len(periods)
            out[(decision.scenario, decision.site, year, "mining_mw_avg")] += mean
    for scenario in plan.provenance.scenarios:
        for signing in plan.decisions.signings:
            start, end = month_ordinal(signing.rent_start_month), month_ordinal(signing.rent_end_month)
            for year, periods in by_year.items():
                last = month_ordinal(months[periods[-1]])
                if start <= last <= end:
                    out[(scenario, signing.site, year, "ai_it_mw_year_end")] += signing.critical_it_mw
        for fleet in plan.decisions.fleet:
            for year, periods in by_year.items():
                t = periods[-1]
                if t < len(fleet.owned_mw):
                    owned = fleet.owned_mw[t] - (fleet.sold_mw[t] if t < len(fleet.sold_mw) else 0.0)
                    out[(scenario, fleet.generation, year, "fleet_owned_mw_year_end")] = owned
    return out


def compare_plans(a: Plan, b: Plan, *, rel_tol: float = 1e-6, mw_tol: float = 1e-3) -> Comparison:
    comparison = Comparison(a.npv_usd, b.npv_usd, rel_tol, mw_tol)
    kpis_b = {k.scenario: k for k in b.kpis}
    for kpi_a in a.kpis:
        kpi_b = kpis_b.get(kpi_a.scenario)
        if kpi_b is None:
            continue
        for name in _KPI_FIELDS:
            va, vb = getattr(kpi_a, name), getattr(kpi_b, name)
            if va != vb:
                comparison.kpis.append(KpiDelta(kpi_a.scenario, name, va, vb))
    comparison.signings = signing_changes(a, b)
    mw_a, mw_b = mw_by_site_year(a), mw_by_site_year(b)
    for key in sorted(set(mw_a) | set(mw_b)):
        va, vb = mw_a.get(key, 0.0), mw_b.get(key, 0.0)
        if abs(va - vb) > mw_tol:
            comparison.mw.append(MwDelta(key[0], key[1], key[2], key[3], va, vb))
    return comparison
