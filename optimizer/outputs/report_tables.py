"""The numbers a plan report shows, as DataFrames: pure functions of plan.json, its instance and
its CSV tables (what `capalloc report` reads back from a plan directory, never the model).

Money stays in USD here; the charts scale to $M, the tables print whole dollars."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from capalloc.models.instance import Instance
from capalloc.models.plan import Plan
from capalloc.optimizer.outputs.plan_io import PLAN_FILES, PlanDir, read_table

TABLE_NAMES = tuple(name.removesuffix(".csv") for name in PLAN_FILES if name.endswith(".csv"))
"""The plan's CSV tables, in the order plan_io writes them."""


@dataclass(frozen=True)
class PlanTables:
    """One plan directory read back: plan.json, the instance and every CSV it holds."""

    path: Path
    plan: Plan
    instance: Instance
    tables: dict[str, pd.DataFrame]

    @property
    def scenarios(self) -> list[str]:
        return list(self.plan.provenance.scenarios)

    def table(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)


def read_plan_tables(opened: PlanDir) -> PlanTables:
    """The CSVs of an opened plan directory (the fleet and debt tables only where written)."""
    tables = {}
    for name in TABLE_NAMES:
        if (opened.path / f"{name}.csv").is_file():
            # Months stay text (2027-01), ids stay text even when they look like numbers.
            tables[name] = read_table(opened.path, f"{name}.csv")
    return PlanTables(opened.path, opened.plan, opened.instance, tables)


def year_of(months: pd.Series) -> pd.Series:
    return months.astype(str).str.slice(0, 4)


REVENUE_ITEMS = {  # sites_monthly column -> label
    "mining_revenue_usd": "Mining revenue (BTC mined x price)",
    "ai_rent_usd": "AI rent and prepayments",
    "curtailment_credit_usd": "Curtailment credits",
}
COST_ITEMS = {
    "mining_power_cost_usd": "Mining power",
    "fixed_power_charge_usd": "Fixed power charges",
    "mining_opex_usd": "Mining opex",
    "fleet_move_cost_usd": "Fleet moves",
    "ai_opex_usd": "AI opex",
}
FINANCING_SUFFIXES = ("_interest_usd", "_coupons_usd", "_fees_usd")
"""Cash-flow columns that are financing costs (signed, negative when paid)."""


def financing_columns(cashflow: pd.DataFrame) -> list[str]:
    return [c for c in cashflow.columns if c.endswith(FINANCING_SUFFIXES) and c != "cash_interest_usd"]


def mix_by_year(tables: PlanTables) -> pd.DataFrame:
    """Revenue (positive) and costs (negative) per scenario, year and item, USD.

    Operating lines come from sites_monthly summed over sites; interest on cash, financing
    costs (interest, coupons, fees) and taxes from cashflow_monthly, as paid."""
    sites, cash = tables.tables["sites_monthly"], tables.tables["cashflow_monthly"]
    parts = []
    site_year = sites.assign(year=year_of(sites["month"]))
    for column, label in REVENUE_ITEMS.items():
        parts.append(_item(site_year, column, label, "revenue", 1.0))
    for column, label in COST_ITEMS.items():
        parts.append(_item(site_year, column, label, "cost", -1.0))
    cash_year = cash.assign(year=year_of(cash["month"]))
    parts.append(_item(cash_year, "cash_interest_usd", "Interest on cash", "revenue", 1.0))
    financing = cash_year.assign(financing_usd=cash_year[financing_columns(cash)].sum(axis=1))
    parts.append(_item(financing, "financing_usd", "Interest, coupons and fees", "cost", 1.0))
    if "taxes_usd" in cash.columns:
        parts.append(_item(cash_year, "taxes_usd", "Taxes", "cost", 1.0))
    frame = pd.concat(parts, ignore_index=True)
    return frame[frame["usd"] != 0].reset_index(drop=True)


def _item(frame: pd.DataFrame, column: str, label: str, kind: str, sign: float) -> pd.DataFrame:
    if column not in frame.columns:
        return pd.DataFrame(columns=["scenario", "year", "item", "kind", "usd"])
    summed = frame.groupby(["scenario", "year"], sort=True)[column].sum().reset_index()
    return pd.DataFrame({"scenario": summed["scenario"], "year": summed["year"], "item": label,
                         "kind": kind, "usd": sign * summed[column]})


YEARLY_COLUMNS = {  # column -> header with its unit
    "scenario": "Scenario",
    "year": "Year",
    "ai_it_online_december_mw": "AI IT online in December (MW)",
    "hashrate_ehs": "Hashrate, yearly average (EH/s)",
    "btc_mined_btc": "BTC mined (BTC)",
    "revenue_usd": "Revenue (USD)",
    "operating_costs_usd": "Operating costs (USD)",
    "capex_usd": "Capex: AI, halls, ASICs (USD)",
    "distributions_usd": "Distributions (USD)",
    "cash_end_usd": "Cash at year end (USD)",
    "total_debt_usd": "Total debt at year end (USD)",
}


def yearly_kpis(tables: PlanTables) -> pd.DataFrame:
    """One row per scenario and year: plan.json's yearly KPIs beside yearly sums of the CSVs."""
    sites, cash = tables.tables["sites_monthly"], tables.tables["cashflow_monthly"]
    site_year = sites.assign(year=year_of(sites["month"]))
    cash_year = cash.assign(year=year_of(cash["month"]))
    by_site = site_year.groupby(["scenario", "year"], sort=True)
    revenue = by_site[list(REVENUE_ITEMS)].sum().sum(axis=1)
    costs = by_site[list(COST_ITEMS)].sum().sum(axis=1)
    btc = by_site["btc_mined_btc"].sum()
    by_cash = cash_year.groupby(["scenario", "year"], sort=True)
    capex_columns = [c for c in ("ai_capex_usd", "mining_hall_capex_usd", "fleet_purchase_deposits_usd",
                                 "fleet_purchase_balances_usd") if c in cash.columns]
    capex = -by_cash[capex_columns].sum().sum(axis=1)
    last = by_cash.tail(1).set_index(["scenario", "year"])  # rows are in month order
    kpis = {k.scenario: k for k in tables.plan.kpis}
    rows = []
    for scenario, year in revenue.index:
        kpi = kpis[scenario]
        rows.append({
            "scenario": scenario, "year": year,
            "ai_it_online_december_mw": kpi.ai_mw_online_by_year.get(year),
            "hashrate_ehs": kpi.hashrate_ehs_by_year.get(year),
            "btc_mined_btc": btc[(scenario, year)],
            "revenue_usd": revenue[(scenario, year)],
            "operating_costs_usd": costs[(scenario, year)],
            "capex_usd": capex[(scenario, year)],
            "distributions_usd": -by_cash["distributions_usd"].sum()[(scenario, year)],
            "cash_end_usd": last.loc[(scenario, year), "cash_end_usd"],
            "total_debt_usd": last.loc[(scenario, year), "total_debt_usd"],
        })
    order = {name: i for i, name in enumerate(tables.scenarios)}
    frame = pd.DataFrame(rows, columns=list(YEARLY_COLUMNS))
    sums = ["btc_mined_btc", "revenue_usd", "operating_costs_usd", "capex_usd", "distributions_usd"]
    frame[sums] = frame[sums] + 0.0  # a negated zero sum is 0, not -0
    return frame.sort_values(["scenario", "year"], key=lambda s: s.map(order) if s.name == "scenario"
                             else s, kind="stable").reset_index(drop=True)


SIGNING_COLUMNS = {
    "site": "Site",
    "phase": "Phase",
    "critical_it_mw": "Critical IT (MW)",
    "signing_month": "Signed (month)",
    "rent_start_month": "Rent from (month)",
    "rent_end_month": "Rent to (month)",
    "capex_usd": "Capex (USD)",
    "first_year_rent_usd": "First-year rent (USD)",
}


def signings_table(plan: Plan) -> pd.DataFrame:
    """plan.json's signings in signing order (then site, phase)."""
    rows = [s.model_dump() for s in plan.decisions.signings]
    frame = pd.DataFrame(rows, columns=list(SIGNING_COLUMNS))
    return frame.sort_values(["signing_month", "site", "phase"], kind="stable").reset_index(drop=True)


KPI_ROWS = {  # ScenarioKpis field -> label with its unit
    "probability": "Probability",
    "npv_usd": "NPV (USD)",
    "distributions_pv_usd": "Distributions, present value (USD)",
    "terminal_value_usd": "Terminal value (USD)",
    "minimum_cash_usd": "Minimum cash (USD)",
    "minimum_cash_month": "Minimum cash in (month)",
    "peak_debt_usd": "Peak debt (USD)",
    "peak_debt_month": "Peak debt in (month)",
    "total_capex_usd": "Total capex (USD)",
    "btc_mined_btc": "BTC mined (BTC)",
    "fleet_purchases_usd": "ASIC purchases (USD)",
    "taxes_paid_usd": "Taxes paid (USD)",
    "equity_raised_usd": "Equity raised (USD)",
    "dilution_cost_usd": "Dilution cost (USD)",
}


def kpi_table(plan: Plan) -> pd.DataFrame:
    """Scenario KPIs from plan.json: one row per KPI, one column per scenario."""
    data = {"kpi": list(KPI_ROWS.values())}
    for kpi in plan.kpis:
        dumped = kpi.model_dump()
        data[kpi.scenario] = [dumped[field] for field in KPI_ROWS]
    return pd.DataFrame(data)
