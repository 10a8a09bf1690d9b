"""The plan: decisions, KPIs, solver statistics and provenance, as written to plan.json.

Monthly arrays run over the plan's months t = 0..T-1 (``months`` lists them as YYYY-MM).
Everything here is deterministic for a given instance and solver settings; wall-clock
timings live in run.json beside it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    omitted_when_default: ClassVar[tuple[str, ...]] = ()
    """Fields of scenario trees (issue 15) left out of plan.json while at their default, so a
    plan without a tree is written byte for byte as before."""

    @model_serializer(mode="wrap")
    def _omit_tree_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        for name in self.omitted_when_default:
            if isinstance(data, dict) and name in data and getattr(self, name) == type(self).model_fields[
                    name].get_default(call_default_factory=True):
                del data[name]
        return data


SCENARIOS_DOC = (
    "Scenarios in which this decision is taken (scenario trees: a decision after a branch "
    "holds in that branch only); absent: every scenario."
)


class Signing(PlanModel):
    """A lease signed for an AI phase: when, how big, and what it brings."""

    site: str = Field(description="Site id.")
    phase: str = Field(description="Phase id within the site.")
    critical_it_mw: float = Field(description="Critical IT leased, MW.")
    signing_month: str = Field(description="Month the lease is signed and the build starts.")
    rent_start_month: str = Field(description="First month of rent (signing + lead time).")
    rent_end_month: str = Field(description="Last month of rent (rent start + term - 1).")
    capex_usd: float = Field(description="Total build cost, USD.")
    first_year_rent_usd: float = Field(description="Rent of the first 12 lease months, USD.")
    scenarios: list[str] | None = Field(None, description=SCENARIOS_DOC)

    omitted_when_default = ("scenarios",)


class MiningDecision(PlanModel):
    """Where one ASIC generation sits and how much of it runs, month by month."""

    scenario: str
    site: str
    generation: str
    placed_mw: list[float] = Field(description="ASIC MW of the generation at the site, per month.")
    running_mw: list[float] = Field(description="ASIC MW running (<= placed), per month.")
    curtailed_mw: list[float] = Field(
        default_factory=list,
        description=(
            "Running ASIC MW whose running hours are curtailed for demand-response credits, per "
            "month (<= the site's share x running); empty where the site cannot curtail."
        ),
    )


class FleetDecision(PlanModel):
    """Orders and sales of one ASIC generation (common to every scenario), and what it owns."""

    generation: str
    ordered_mw: list[float] = Field(description="ASIC MW ordered in each month.")
    delivered_mw: list[float] = Field(description="ASIC MW delivered (able to run) in each month.")
    sold_mw: list[float] = Field(description="ASIC MW sold in each month (they run in it, gone after).")
    owned_mw: list[float] = Field(description="ASIC MW owned in each month (before that month's sale).")
    scenarios: list[str] | None = Field(None, description=SCENARIOS_DOC)

    omitted_when_default = ("scenarios",)


class HallDecision(PlanModel):
    """Mining halls built at one site (common to every scenario)."""

    site: str
    built_mw: list[float] = Field(description="Mining hall MW whose build starts in each month.")
    online_mw: list[float] = Field(description="Mining hall MW hosting miners in each month.")
    scenarios: list[str] | None = Field(None, description=SCENARIOS_DOC)

    omitted_when_default = ("scenarios",)


class FinanceDecision(PlanModel):
    """Monthly treasury decisions of one scenario."""

    scenario: str
    revolver_balance_usd: list[float] = Field(description="Revolver balance at each month's end.")
    btc_sold_btc: list[float] = Field(description="BTC sold in each month.")
    distributions_usd: list[float] = Field(description="Cash paid to equity at each month's end.")
    btc_loan_balance_usd: list[float] = Field(
        default_factory=list,
        description="BTC-backed loan balance at each month's end, USD (empty when no loan is offered).",
    )
    btc_pledged_btc: list[float] = Field(
        default_factory=list,
        description="BTC pledged to the loan at each month's end (empty when no loan is offered).",
    )


class NotesDecision(PlanModel):
    """New notes issued under one program (common to every scenario)."""

    program: str = Field(description="Notes program id (finance.notes_programs).")
    issued_usd: list[float] = Field(description="Principal issued at the end of each month, USD.")
    scenarios: list[str] | None = Field(None, description=SCENARIOS_DOC)

    omitted_when_default = ("scenarios",)


class Decisions(PlanModel):
    signings: list[Signing]
    mining: list[MiningDecision]
    finance: list[FinanceDecision]
    fleet: list[FleetDecision] = Field(
        default_factory=list, description="Generations that can be bought or sold."
    )
    halls: list[HallDecision] = Field(default_factory=list, description="Sites that may build mining halls.")
    notes: list[NotesDecision] = Field(default_factory=list, description="Notes programs offered.")
    equity_issued_usd: list[float] = Field(
        default_factory=list,
        description="Cash raised by issuing shares in each month, USD (empty where equity is not offered).",
    )
    equity_issued_by_scenario_usd: dict[str, list[float]] = Field(
        default_factory=dict,
        description=(
            "Scenario trees whose scenarios issue different equity: cash raised per month in "
            "each scenario, USD (equity_issued_usd is then empty)."
        ),
    )

    omitted_when_default = ("equity_issued_by_scenario_usd",)


class ScenarioKpis(PlanModel):
    """Headline figures of one scenario."""

    scenario: str
    probability: float
    npv_usd: float = Field(
        description=(
            "Discounted distributions plus discounted terminal value, less the value given to new "
            "holders (dilution_cost_usd)."
        )
    )
    distributions_pv_usd: float
    terminal_value_usd: float = Field(description="Terminal value at the end of the last month.")
    minimum_cash_usd: float
    minimum_cash_month: str
    peak_debt_usd: float = Field(description="Largest total debt balance at a month's end.")
    peak_debt_month: str
    total_capex_usd: float
    btc_mined_btc: float
    fleet_purchases_usd: float = Field(0.0, description="ASIC purchases paid (deposits and balances), USD.")
    fleet_resale_usd: float = Field(0.0, description="Cash from ASICs sold, USD.")
    curtailment_credits_usd: float = Field(0.0, description="Demand-response credits earned, USD.")
    fixed_power_charges_usd: float = Field(0.0, description="Fixed charges on contracted power paid, USD.")
    mining_hall_capex_usd: float = Field(0.0, description="Mining halls built, USD.")
    btc_loan_peak_usd: float = Field(0.0, description="Largest BTC-backed loan balance at a month end, USD.")
    btc_loan_interest_usd: float = Field(0.0, description="Interest paid on the BTC-backed loan, USD.")
    btc_pledged_peak_btc: float = Field(0.0, description="Most BTC pledged to the loan at a month's end.")
    taxes_paid_usd: float = Field(0.0, description="Income taxes paid over the horizon, USD.")
    interest_cover_x: float | None = Field(
        None,
        description="EBITDA / interest accrued over the horizon (with taxes or a covenant, and interest).",
    )
    net_leverage_peak_x: float | None = Field(
        None,
        description=(
            "Largest (debt - cash) / trailing-12-month EBITDA at a month's end from the 12th month, "
            "where that EBITDA is positive, x (with taxes or a covenant)."
        ),
    )
    net_leverage_final_x: float | None = Field(
        None, description="(Debt - cash) / trailing-12-month EBITDA at the last month's end, x.",
    )
    minimum_covenant_headroom_usd: float | None = Field(
        None,
        description="Smallest trailing-12-month EBITDA - DSCR x debt service over the tested months, USD.",
    )
    notes_issued_usd: float = Field(0.0, description="Principal of new notes issued, USD.")
    equity_raised_usd: float = Field(0.0, description="Cash raised by issuing shares, USD.")
    dilution_cost_usd: float = Field(
        0.0,
        description=(
            "Present value given to new shareholders: equity raised x (1 + discount) and "
            "conversions (principal x share price / conversion price), each at its month, USD."
        ),
    )
    ai_mw_online_by_year: dict[str, float] = Field(
        description="Critical-IT MW earning rent in December (or the last month) of each year."
    )
    hashrate_ehs_by_year: dict[str, float] = Field(
        description="Average hashrate over the plan's months of each year, EH/s."
    )


class SolverStats(PlanModel):
    """What HiGHS reported (deterministic parts only)."""

    solver: str = "highs"
    solver_version: str
    status: Literal["optimal", "time_limit_with_plan", "gap_limit", "interrupted"] = Field(
        description="optimal: gap within mip_rel_gap; time_limit_with_plan: stopped with a plan; "
        "interrupted: stopped by Ctrl-C with a plan (its gap says how far from the bound)."
    )
    termination: str
    objective_usd: float
    dual_bound_usd: float | None
    gap_pct: float | None
    mip_rel_gap_setting: float
    threads: int
    random_seed: int
    variables: int
    binaries: int
    constraints: int
    nonzeros: int


class AuditVerdict(PlanModel):
    """Result of the independent audit of the plan."""

    passed: bool
    npv_usd: float = Field(description="NPV recomputed from the decisions alone.")
    relative_difference: float = Field(description="|audit NPV - objective| / max(1, |objective|).")
    violations: int
    messages: list[str] = Field(default_factory=list)


class Provenance(PlanModel):
    """What made the plan: capalloc, the instance, and the versions of the packages that
    decide its numbers (plans written before the versions were recorded read them as None)."""

    capalloc_version: str
    instance_name: str
    instance_sha256: str
    start: str
    horizon_months: int
    scenarios: list[str]
    canonical: bool
    highspy_version: str | None = Field(None, description="highspy (HiGHS's Python package) that solved.")
    pyomo_version: str | None = Field(None, description="Pyomo that built the model.")
    pydantic_version: str | None = Field(None, description="pydantic that validated the instance.")
    pandas_version: str | None = Field(None, description="pandas that read the CSVs and wrote the tables.")
    numpy_version: str | None = Field(None, description="numpy under the model hand-off and the tables.")


class TreeScenario(PlanModel):
    """One scenario of a tree: its branch at each branching month and its NPV."""

    scenario: str
    probability: float
    tree_path: list[str] = Field(description="Node label at each branching month.")
    npv_usd: float


class ValueOfInformation(PlanModel):
    """VSS and EVPI (DESIGN.md, "Trees"), in the objective's terms ((1-w) E + w CVaR)."""

    expected_value_solution_usd: float | None = Field(
        description=(
            "EEV: the tree's optimum with the decisions of the months before the first branching "
            "month fixed at the expected-value instance's plan (flat list: its investment and "
            "financing decisions); None when that plan cannot be held in the tree."
        )
    )
    vss_usd: float | None = Field(description="Value of the stochastic solution: tree optimum - EEV.")
    wait_and_see_usd: float = Field(
        description="The objective over scenarios of each scenario's own optimum (perfect foresight)."
    )
    evpi_usd: float = Field(description="Expected value of perfect information: wait-and-see - tree optimum.")
    notes: list[str] = Field(default_factory=list)


class TreeSummary(PlanModel):
    """The distribution of a tree's (or risk-weighed list's) outcomes and what waiting is worth."""

    branching_months: list[str]
    scenarios: list[TreeScenario]
    expected_npv_usd: float
    cvar_alpha: float
    cvar_weight: float
    cvar_usd: float = Field(description="Mean NPV of the worst (1 - alpha) of probability.")
    objective_usd: float = Field(description="(1 - w) x expected NPV + w x CVaR: what the plan maximizes.")
    npv_percentiles_usd: dict[str, float] = Field(
        description="NPV at the 5th ... 95th percentile of probability (p5 ... p95)."
    )
    value_of_information: ValueOfInformation | None = None


class Plan(PlanModel):
    """Everything plan.json holds."""

    schema_version: int = 1
    provenance: Provenance
    months: list[str]
    solver: SolverStats
    kpis: list[ScenarioKpis]
    npv_usd: float = Field(description="Expected NPV over scenarios, USD (the objective).")
    decisions: Decisions
    audit: AuditVerdict | None = None
    tree: TreeSummary | None = Field(
        None, description="Scenario trees and risk (issue 15): per-scenario NPVs, CVaR, VSS, EVPI."
    )

    omitted_when_default = ("tree",)
