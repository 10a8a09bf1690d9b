"""The instance: everything a planner states about sites, fleet, AI phases, market and finance.

Units live in field names. Money is US dollars, power is MW, time is months unless the name
says otherwise. Percentages are written as percent (7.5 means 7.5 %).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from capalloc.models.commitments import Commitments
from capalloc.models.common import Identifier, Month, Series, Strict
from capalloc.models.finance_notes import USD_PER_SHARE, ConversionPrice, EquityIssuance, NotesProgram
from capalloc.models.finance_terms import BtcLoan, Covenant, Taxes
from capalloc.models.highs_options import HIGHS_OPTIONS_DOC, normalized_options
from capalloc.models.mining_terms import Curtailment, MarginalFleet, MiningHalls, Purchase
from capalloc.models.ranges import (
    BLOCKS_PER_DAY,
    BTC_PER_BLOCK,
    EH_PER_S,
    HASHPRICE_USD_PER_PH_DAY,
    SECONDS,
    USD_PER_BTC,
    USD_PER_MWH,
    USD_PER_TH,
    Btc,
    BtcPerBlock,
    JoulesPerTerahash,
    Megawatts,
    PositiveMegawatts,
    Usd,
    UsdPerKwMonth,
    UsdPerMw,
    UsdPerMwMonth,
)
from capalloc.models.tree_terms import (
    BRANCHING_MONTHS_DOC,
    LEAD_TIME_BY_SCENARIO_DOC,
    TREE_PATH_DOC,
    LeadTimeMonths,
    Risk,
    TreeLabel,
)

Fraction = Annotated[float, Field(ge=0, le=1)]


class EnergizationStep(Strict):
    """From this month on the site has this much contracted grid power energized."""

    from_month: Month = Field(description="First month (YYYY-MM) with this contracted power.")
    contracted_mw: Megawatts = Field(
        description="Grid power energized and contracted at the site from that month, MW."
    )


class LeaseRenewal(Strict):
    """Renewal terms of a lease: its expected rent after the term counts, inside the horizon
    as cash and after it in the terminal value at its present value."""

    probability: float = Field(
        ge=0, le=1, description="Probability that the tenant renews at the end of the term (0 to 1)."
    )
    rent_share_pct: float = Field(
        gt=0, le=300,
        description="Renewal rent as a share of the term's last month's rent, % (flat over the renewal).",
    )
    term_months: int = Field(ge=1, le=600, description="Further months of rent after the term, months.")


class AIPhase(Strict):
    """A block of AI/HPC capacity that can be signed with a tenant and built once."""

    id: Identifier = Field(description="Name of the phase, unique within its site.")
    critical_it_mw: PositiveMegawatts = Field(description="Critical IT load leased to the tenant, MW.")
    pue: float = Field(
        1.2, ge=1.0, le=3.0, description="Power usage effectiveness: facility MW per MW of IT."
    )
    capex_usd_per_mw_it: UsdPerMw = Field(
        description="Build cost per MW of critical IT, USD (DOMAIN: 8-11 M$/MW)."
    )
    spend_profile: list[Fraction] | None = Field(
        None,
        description=(
            "Share of the capex paid at the end of each month from the signing month on "
            "(entry i is paid in signing month + i). Must sum to 1 and be no longer than the "
            "lead time. Default: uniform over the lead time."
        ),
    )
    lead_time_months: int = Field(
        ge=1, le=60, description="Months from lease signing to the first month of rent."
    )
    lead_time_months_by_scenario: dict[str, LeadTimeMonths] = Field(
        default_factory=dict, description=LEAD_TIME_BY_SCENARIO_DOC
    )
    lease_usd_per_kw_month: UsdPerKwMonth = Field(
        description="Rent per kW of critical IT per month in the first lease year, USD."
    )
    escalator_pct_per_year: float = Field(
        0.0, ge=0, le=20, description="Rent step-up on every anniversary of the rent start, %."
    )
    term_months: int = Field(ge=1, le=600, description="Lease term from the rent start, months.")
    tax_life_months: int = Field(
        180, ge=1, le=600,
        description=(
            "Months over which the phase's capex is depreciated straight-line for taxes from its "
            "rent start (default 180: 15 years). Used only when finance.taxes is set."
        ),
    )
    opex_usd_per_mw_month: UsdPerMwMonth = Field(
        0.0,
        description=(
            "Landlord operating cost per MW of critical IT per month while rent runs, USD "
            "(power is passed through to the tenant)."
        ),
    )
    earliest_signing_month: Month | None = Field(
        None, description="First month (YYYY-MM) the lease may be signed. Default: plan start."
    )
    prepayment_months: int = Field(
        0,
        ge=0,
        le=600,
        description=(
            "Months of rent the tenant prepays at signing; they stand in for the first months "
            "of rent."
        ),
    )
    conversion: Literal["retrofit", "greenfield"] = Field(
        description=(
            "retrofit: built on mining capacity, which it removes from the signing month; "
            "greenfield: new halls, no mining capacity lost."
        )
    )
    displaced_mining_mw: Megawatts | None = Field(
        None,
        description=(
            "Mining capacity (ASIC MW) a retrofit removes from its signing month on. "
            "Default: the phase's facility MW (critical IT x PUE). Must be absent for greenfield."
        ),
    )
    project_financed: bool = Field(
        True, description="Whether finance.project_debt funds this phase's capex (if defined)."
    )
    renewal: LeaseRenewal | None = Field(
        None,
        description=(
            "Renewal terms of the lease, if the tenant may renew at its end (default none: "
            "the lease ends with its term)."
        ),
    )

    @property
    def facility_mw(self) -> float:
        return self.critical_it_mw * self.pue

    @property
    def displaced_mw(self) -> float:
        if self.conversion == "greenfield":
            return 0.0
        if self.displaced_mining_mw is not None:
            return self.displaced_mining_mw
        return self.facility_mw

    def capex_shares(self) -> list[float]:
        if self.spend_profile is not None:
            return list(self.spend_profile)
        return [1.0 / self.lead_time_months] * self.lead_time_months


class Site(Strict):
    """A place with contracted grid power that can host miners and/or AI halls."""

    id: Identifier = Field(description="Name of the site, unique in the instance.")
    energization: list[EnergizationStep] = Field(
        min_length=1,
        description=(
            "Schedule of energized contracted power; before the first step the site is dark. "
            "Steps in increasing month order."
        ),
    )
    power_price_usd_per_mwh: Annotated[Series, USD_PER_MWH] = Field(
        description="Price of grid power at the site, USD/MWh."
    )
    mining_infrastructure_mw: Megawatts = Field(
        0.0, description="ASIC load the site's mining buildings can host, MW."
    )
    uptime_pct: float = Field(
        92.0, gt=0, le=100, description="Share of hours the miners run (curtailment, outages), %."
    )
    mining_pue: float = Field(
        1.05, ge=1.0, le=2.0, description="Facility MW drawn per MW of ASIC load (cooling, losses)."
    )
    mining_opex_usd_per_mw_month: UsdPerMwMonth = Field(
        0.0, description="Non-power operating cost per MW of running ASICs per month, USD."
    )
    ai_phases: list[AIPhase] = Field(
        default_factory=list, description="AI/HPC phases at the site, in the order they must be signed."
    )
    power_price_by_scenario_usd_per_mwh: dict[str, Annotated[Series, USD_PER_MWH]] = Field(
        default_factory=dict,
        description=(
            "Power price series for named market scenarios, USD/MWh; a scenario not named here "
            "pays power_price_usd_per_mwh."
        ),
    )
    fixed_power_charge_usd_per_mw_month: float = Field(
        0.0, ge=0, le=1e6,
        description=(
            "Take-or-pay or demand charge per MW of contracted power energized in the month, "
            "USD, paid whether the power is used or not (default 0)."
        ),
    )
    curtailment: Curtailment | None = Field(
        None, description="Demand-response credits for curtailed mining hours (default: none)."
    )
    mining_halls: MiningHalls | None = Field(
        None, description="Mining infrastructure the site may add (default: none)."
    )


class FleetGeneration(Strict):
    """A generation of ASICs: one efficiency, one pool of machines that can be placed at sites."""

    id: Identifier = Field(description="Name of the generation, e.g. s21xp.")
    installed_mw: Megawatts = Field(description="ASIC load the company owns, MW.")
    efficiency_j_per_th: JoulesPerTerahash = Field(description="Energy per terahash, J/TH.")
    sites_at_start: dict[str, Megawatts] = Field(
        default_factory=dict,
        description="MW of this generation placed at each site (by site id) in the first month.",
    )
    move_cost_usd_per_mw: UsdPerMw = Field(
        0.0, description="Cost of moving one MW of these machines into a site, USD."
    )
    salvage_usd_per_mw: UsdPerMw = Field(
        0.0,
        description=(
            "Resale value per MW at the end of the horizon (terminal value), USD; used when "
            "resale_usd_per_th is not given."
        ),
    )
    purchase: Purchase | None = Field(
        None, description="Terms on which more of this generation can be ordered (default: none)."
    )
    tax_life_months: int = Field(
        36, ge=1, le=240,
        description=(
            "Months over which machines bought are depreciated straight-line for taxes from their "
            "delivery (default 36: 3 years). Used only when finance.taxes is set."
        ),
    )
    starting_tax_basis_usd: Usd = Field(
        0.0,
        description=(
            "Undepreciated tax basis of the installed machines at the start, USD, depreciated "
            "straight-line over tax_life_months from the first month (default 0: fully written off)."
        ),
    )
    resale_usd_per_th: Annotated[Series, USD_PER_TH] | None = Field(
        None,
        description=(
            "Price per TH/s at which owned machines can be sold in each month, USD; the fleet "
            "left at the end is valued at the last month's price. Default: no sales."
        ),
    )
    sites: list[str] | None = Field(
        None, description="Sites (by id) where the machines may be placed. Default: every site."
    )


class Halving(Strict):
    """From this month on the block subsidy is this many BTC."""

    month: Month = Field(description="First month (YYYY-MM) with the new subsidy.")
    subsidy_btc_per_block: BtcPerBlock = Field(description="Block subsidy after it, BTC.")


class MarketScenario(Strict):
    """One market path: BTC price, network hashrate and fees per month."""

    name: Identifier = Field(description="Name of the scenario, e.g. base, bear.")
    probability: float = Field(1.0, gt=0, le=1, description="Probability weight of the scenario.")
    btc_price_usd: Annotated[Series, USD_PER_BTC] = Field(description="BTC price, USD per BTC.")
    network_hashrate_ehs: Annotated[Series, EH_PER_S] = Field(description="Bitcoin network hashrate, EH/s.")
    fees_btc_per_block: Annotated[Series, BTC_PER_BLOCK] = Field(
        0.03, description="Transaction fees per block, BTC (DOMAIN: below 1-2 % of the reward)."
    )
    hashprice_usd_per_ph_day: Annotated[Series, HASHPRICE_USD_PER_PH_DAY] | None = Field(
        None,
        description=(
            "Hashprice given directly, USD per PH/s per day; when set it replaces the hashprice "
            "implied by BTC price, subsidy, fees and network hashrate (those still value BTC)."
        ),
    )
    share_price_usd: Annotated[Series, USD_PER_SHARE] | None = Field(
        None,
        description=(
            "The company's share price, USD per share; decides whether convertible notes convert "
            "at maturity. Required where a conversion price is given."
        ),
    )
    tree_path: list[TreeLabel] = Field(default_factory=list, description=TREE_PATH_DOC)


DEFAULT_HALVINGS = [{"month": "2028-04", "subsidy_btc_per_block": 1.5625}]


class Market(Strict):
    """Bitcoin market assumptions. The company is a price taker."""

    initial_subsidy_btc_per_block: BtcPerBlock = Field(
        3.125, description="Block subsidy at the plan start, BTC."
    )
    halvings: list[Halving] = Field(
        default_factory=lambda: [Halving(**h) for h in DEFAULT_HALVINGS],
        description="Subsidy changes; default: 1.5625 BTC from April 2028.",
    )
    blocks_per_day: Annotated[float, BLOCKS_PER_DAY] = Field(
        144.0, description="Blocks mined per day network-wide."
    )
    marginal_fleet: MarginalFleet | None = Field(
        None,
        description=(
            "Caps each month's network hashrate where this fleet's revenue (fees included) "
            "equals its energy cost: a floor on hashprice. Default: no cap."
        ),
    )
    branching_months: list[Month] = Field(default_factory=list, description=BRANCHING_MONTHS_DOC)
    scenarios: list[MarketScenario] = Field(
        min_length=1,
        description=(
            "Market paths. Write btc_price_usd, network_hashrate_ehs and fees_btc_per_block "
            "directly under market for a single scenario named 'base'."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _single_base_scenario(cls, data: Any) -> Any:
        if isinstance(data, dict) and "scenarios" not in data:
            keys = ("btc_price_usd", "network_hashrate_ehs", "fees_btc_per_block", "share_price_usd")
            if any(k in data for k in keys):
                data = dict(data)
                scenario = {"name": "base", "probability": 1.0}
                for key in keys:
                    if key in data:
                        scenario[key] = data.pop(key)
                data["scenarios"] = [scenario]
        return data


class ExistingDebt(Strict):
    """A debt already on the balance sheet: fixed coupon, bullet repayment at maturity."""

    id: Identifier = Field(description="Name of the instrument, e.g. converts_2030.")
    principal_usd: Usd = Field(description="Principal outstanding at the start, USD.")
    coupon_pct_per_year: float = Field(
        0.0, ge=0, le=50, description="Annual coupon on the principal, paid monthly, %."
    )
    maturity_month: Month = Field(description="Month (YYYY-MM) whose end repays the principal.")
    conversion_price_usd: ConversionPrice | None = Field(
        None,
        description=(
            "Share price at or above which the note converts into shares at maturity instead of "
            "being repaid, USD per share (requires market.scenarios[*].share_price_usd). "
            "Default: always repaid in cash."
        ),
    )


class Revolver(Strict):
    """A revolving credit line the plan may draw and repay each month."""

    limit_usd: Usd = Field(description="Maximum balance, USD.")
    rate_pct_per_year: float = Field(ge=0, le=50, description="Interest on the drawn balance, %.")
    undrawn_fee_pct_per_year: float = Field(
        0.0, ge=0, le=10, description="Commitment fee on the undrawn limit, %."
    )
    drawn_at_start_usd: Usd = Field(0.0, description="Balance drawn at the start, USD.")


class ProjectDebt(Strict):
    """Construction-to-term loans that fund AI phases."""

    loan_to_cost_pct: float = Field(
        ge=0, le=100, description="Share of each capex payment drawn as debt, % (DOMAIN 60-85)."
    )
    rate_pct_per_year: float = Field(ge=0, le=50, description="Interest rate, % per year.")
    amortization_months: int = Field(
        ge=1, le=600, description="Level monthly payments over this many months from rent start."
    )
    capitalize_construction_interest: bool = Field(
        False,
        description=(
            "Whether interest before rent start is added to the balance (compounding monthly) "
            "instead of paid; the balance at rent start then amortizes (default: paid monthly)."
        ),
    )


class Finance(Strict):
    """Balance sheet at the start and the financing instruments."""

    starting_cash_usd: Usd = Field(description="Cash at the start of the plan, USD.")
    minimum_cash_usd: Usd = Field(
        0.0, description="Cash that must remain at the end of every month (liquidity floor), USD."
    )
    btc_held_at_start_btc: Btc = Field(0.0, description="BTC held at the start.")
    btc_treasury_sellable: bool = Field(
        True, description="Whether the BTC held at the start may be sold (mined BTC always may)."
    )
    cash_interest_pct_per_year: float = Field(
        0.0, ge=0, le=20, description="Interest earned on cash, % per year (default none)."
    )
    existing_debts: list[ExistingDebt] = Field(
        default_factory=list, description="Debts on the books at the start."
    )
    revolver: Revolver | None = Field(None, description="A revolving credit line, if any.")
    project_debt: ProjectDebt | None = Field(
        None, description="Terms of the project loans that fund AI capex, if any."
    )
    btc_loan: BtcLoan | None = Field(
        None, description="A BTC-backed loan facility the plan may draw against pledged BTC, if any."
    )
    taxes: Taxes | None = Field(
        None, description="Income taxes with loss carry-forward (default none)."
    )
    covenant: Covenant | None = Field(
        None, description="A DSCR covenant tested monthly on trailing 12 months (default none)."
    )
    notes_programs: list[NotesProgram] = Field(
        default_factory=list, description="New notes the plan may issue (default: none)."
    )
    equity_issuance: EquityIssuance | None = Field(
        None, description="Shares the plan may issue for cash (default: off)."
    )


class TerminalValue(Strict):
    """How the end of the horizon is valued."""

    btc_haircut_pct: float = Field(
        0.0, ge=0, le=100, description="Discount on BTC held at the end, valued at the final price, %."
    )
    mining_months: int = Field(
        0, ge=0, le=240, description="Months the last month's mining margin is assumed to continue."
    )


DEFAULT_HIGHS_OPTIONS: dict[str, bool | int | float | str] = {
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_allow_restart": False,
    "mip_heuristic_run_rins": False,
}


class SolverSettings(Strict):
    """HiGHS settings. Same settings and instance give byte-identical plans."""

    time_limit_seconds: Annotated[float, SECONDS] = Field(300.0, description="Wall-clock limit of HiGHS, s.")
    mip_rel_gap: float = Field(
        0.001, ge=0, le=1, description="Stop when the relative gap falls below this (0.001 = 0.1 %)."
    )
    threads: int = Field(1, ge=1, le=64, description="HiGHS threads.")
    random_seed: int = Field(0, ge=0, le=2_147_483_647, description="HiGHS random seed.")
    highs_options: dict[str, bool | int | float | str] = Field(
        default_factory=lambda: dict(DEFAULT_HIGHS_OPTIONS),
        description=(
            "Further HiGHS tuning options by name, on top of capalloc's defaults: root restarts "
            "and two sub-MIP heuristics (root reduced-cost and RINS) are off, because they cost "
            "more than they gave once the search starts from the first plan "
            "(benchmarks/HISTORY.md: cleanspark_2026 to a 0.1 % gap in ~5 s instead of ~15 s; "
            "RENS stays on, it finds the plans the cap knapsacks need). Options given here are "
            "added to those defaults; to undo one, set it to HiGHS's own value, e.g. "
            "mip_allow_restart: true. Only these options are allowed, each with the values "
            f"shown: {HIGHS_OPTIONS_DOC}. HiGHS's file options (log_file, solution_file, "
            "write_model_file, read_solution_file, ...) and every other option are refused; "
            "time limit, gap, threads and seed have their own fields above."
        ),
    )

    @field_validator("highs_options", mode="after")
    @classmethod
    def _on_top_of_defaults(cls, options: dict[str, bool | int | float | str]):
        # Replacing the defaults whenever one option is given made a log file cost 8x the
        # solve time; the defaults are a tuning, not a choice the user made.
        return {**DEFAULT_HIGHS_OPTIONS, **normalized_options(options)}


class Instance(Strict):
    """A planning problem: one company, its sites, fleet, market view and balance sheet."""

    name: Identifier = Field(description="Name of the instance.")
    description: str = Field("", description="Free text shown in reports.")
    start: Month = Field(description="First month of the plan (YYYY-MM).")
    horizon_months: int = Field(ge=1, le=600, description="Number of months planned.")
    discount_rate_pct_per_year: float = Field(
        ge=0, le=100, description="Annual rate discounting month t's flows by (1+r)^-((t+1)/12), %."
    )
    sites: list[Site] = Field(min_length=1, description="Sites with contracted power.")
    fleet: list[FleetGeneration] = Field(default_factory=list, description="ASIC generations.")
    signing_cap_mw_per_year: Megawatts | None = Field(
        None,
        description=(
            "Market absorption: critical-IT MW the company may sign per calendar year, all sites."
        ),
    )
    market: Market = Field(description="Bitcoin market scenarios and halving schedule.")
    finance: Finance = Field(description="Cash, BTC, debts and financing terms.")
    terminal: TerminalValue = Field(
        default_factory=TerminalValue, description="Valuation at the horizon's end."
    )
    risk: Risk | None = Field(
        None, description="Risk aversion of the objective (default none: expected NPV)."
    )
    solver: SolverSettings = Field(default_factory=SolverSettings, description="HiGHS settings.")
    commitments: Commitments | None = Field(
        None, description="Decisions pinned before the solve (models.commitments). Default: none.")
    canonical_plan: bool = Field(
        False,
        description=(
            "Break ties between alternative optima deterministically (earlier signings, then "
            "site order) so decisions can be compared exactly."
        ),
    )

    def site(self, site_id: str) -> Site:
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(site_id)

    def phases_over_the_signing_cap(self) -> list[tuple[str, AIPhase, list[str]]]:
        """(site id, phase, ids of the site's later phases) for each phase with more critical
        IT than the yearly signing cap, the first such phase of each site only.

        Such a phase can never be signed: its whole IT load is signed in one month, so in one
        calendar year. Nor can the phases after it at its site, which are signed in order.
        """
        cap = self.signing_cap_mw_per_year
        found = []
        if cap is None:
            return found
        for site in self.sites:
            for order, phase in enumerate(site.ai_phases):
                if phase.critical_it_mw > cap:
                    found.append((site.id, phase, [later.id for later in site.ai_phases[order + 1:]]))
                    break
        return found
