"""``capalloc evaluate``: a committed plan re-run under another instance (a stress).

The plan's investment and financing decisions (signings, fleet orders and sales, mining
halls, notes and equity issued) become the other instance's commitments with
``unlisted: none``; operations (mining, curtailment, revolver, BTC sales and loans,
distributions) are re-optimized. Where the liquidity floor cannot be held, three exact
solves say by how much: the shortfall by month (the floor made elastic, the total shortfall
minimized), the least extra starting cash that holds the floor, and the highest floor that
can be held (formulation.cure).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import pyomo.core as pyo

from capalloc.models.commitments import (
    Commitments,
    EquityCommitment,
    FleetCommitment,
    HallCommitment,
    NotesCommitment,
    SigningCommitment,
)
from capalloc.models.instance import Instance
from capalloc.models.loader import Problem
from capalloc.models.loader_commitments import commitment_problems
from capalloc.models.plan import Plan
from capalloc.optimizer.calendar import Calendar
from capalloc.optimizer.formulation import build_model
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.solving.solve import InfeasibleError, SolveSettings, run_highs

MW_DIGITS = 6
USD_DIGITS = 2
SHORTFALL_USD = 0.5
"""Below this a month's elastic shortfall is the solver's tolerance, not a shortfall."""


class EvaluateError(Exception):
    """The plan cannot be carried into the other instance; ``problems`` say why (exit 2)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(f"  - {p}" for p in problems))


@dataclass
class Shortfall:
    scenario: str
    month: str
    usd: float


@dataclass
class Evaluation:
    """What evaluate found: the NPV where the floor holds, else the shortfall and its cures."""

    floor_usd: float
    feasible: bool
    npv_usd: float | None = None
    shortfalls: list[Shortfall] = field(default_factory=list)
    extra_starting_cash_usd: float | None = None
    highest_floor_usd: float | None = None
    result: Any = None  # optimizer.outputs.extract.PlanResult of the re-optimized plan, when feasible
    committed: Instance | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "feasible": self.feasible, "minimum_cash_usd": self.floor_usd,
            "npv_usd": self.npv_usd,
            "shortfalls": [dataclasses.asdict(s) for s in self.shortfalls],
            "extra_starting_cash_usd": self.extra_starting_cash_usd,
            "highest_floor_usd": self.highest_floor_usd,
        }

    def lines(self) -> list[str]:
        if self.feasible:
            return [f"the plan holds the ${self.floor_usd:,.0f} floor; NPV ${self.npv_usd:,.0f}"]
        out = [f"the plan cannot hold the ${self.floor_usd:,.0f} floor (finance.minimum_cash_usd); "
               f"operations that minimize the total shortfall leave {len(self.shortfalls)} month(s) short:"]
        out += [f"  {s.scenario} {s.month}: short by ${s.usd:,.0f}" for s in self.shortfalls]
        if self.extra_starting_cash_usd is not None:
            out.append(f"cure: ${self.extra_starting_cash_usd:,.0f} more starting cash holds the floor")
        if self.highest_floor_usd is not None:
            out.append(f"cure: the highest floor the plan can hold is ${self.highest_floor_usd:,.0f}")
        return out


def plan_commitments(plan: Plan) -> Commitments:
    """Every investment and financing decision of ``plan`` as commitments (unlisted: none)."""
    d = plan.decisions
    months = plan.months

    def listed(values: list[float], digits: int, make, floor: bool = False) -> list:
        out = []
        for t, value in enumerate(values):
            # A sale rounded up could exceed what is owned by the rounding: round it down.
            size = math.floor(value * 10**digits) / 10**digits if floor else round(value, digits)
            if size > 0.0:
                out.append(make(months[t], size))
        return out

    c = Commitments(unlisted="none")
    c.signings = [SigningCommitment(site=s.site, phase=s.phase, in_month=s.signing_month)
                  for s in d.signings]
    for f in d.fleet:
        c.fleet_orders += listed(f.ordered_mw, MW_DIGITS,
                                 lambda m, x, g=f.generation: FleetCommitment(generation=g, month=m, mw=x))
        c.fleet_sales += listed(f.sold_mw, MW_DIGITS,
                                lambda m, x, g=f.generation: FleetCommitment(generation=g, month=m, mw=x),
                                floor=True)
    for h in d.halls:
        c.hall_builds += listed(h.built_mw, MW_DIGITS,
                                lambda m, x, s=h.site: HallCommitment(site=s, month=m, mw=x))
    for n in d.notes:
        c.notes_issued += listed(n.issued_usd, USD_DIGITS,
                                 lambda m, x, p=n.program: NotesCommitment(program=p, month=m, usd=x))
    c.equity_issued = listed(d.equity_issued_usd, USD_DIGITS, lambda m, x: EquityCommitment(month=m, usd=x))
    return c


def structure_differences(base: Instance, other: Instance) -> list[Problem]:
    """What ``other`` lacks for the plan's decisions to mean the same there."""
    problems = []
    if (base.start, base.horizon_months) != (other.start, other.horizon_months):
        problems.append(Problem("start", f"the plan runs {base.horizon_months} months from {base.start}, "
                                f"the instance {other.horizon_months} from {other.start}",
                                "keep the plan's start and horizon_months"))
    pairs = [
        ("sites", [s.id for s in base.sites], [s.id for s in other.sites]),
        ("fleet", [g.id for g in base.fleet], [g.id for g in other.fleet]),
        ("finance.notes_programs", [p.id for p in base.finance.notes_programs],
         [p.id for p in other.finance.notes_programs]),
    ]
    other_sites = {s.id: s for s in other.sites}
    for site in base.sites:
        if site.id in other_sites:
            pairs.append((f"sites[{site.id}].ai_phases", [p.id for p in site.ai_phases],
                          [p.id for p in other_sites[site.id].ai_phases]))
    for path, mine, theirs in pairs:
        if mine != theirs:
            missing = [x for x in mine if x not in theirs]
            extra = [x for x in theirs if x not in mine]
            what = "; ".join(part for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"not in the plan's instance: {', '.join(extra)}" if extra else "",
                "in another order" if not missing and not extra else "") if part)
            problems.append(Problem(path, f"differs from the plan's instance ({what})",
                                    "evaluate a plan under an instance with the same ids"))
    if (base.finance.equity_issuance is None) != (other.finance.equity_issuance is None):
        problems.append(Problem("finance.equity_issuance", "is offered in one instance and not the other",
                                "offer it in both or in neither"))
    return problems


def committed_instance(plan: Plan, base: Instance, other: Instance) -> Instance:
    """``other`` with the plan's decisions as its commitments (replacing any it had), or
    EvaluateError naming what differs or which decision cannot be made there."""
    problems = structure_differences(base, other)
    if problems:
        raise EvaluateError(problems)
    committed = other.model_copy(update={"commitments": plan_commitments(plan)})
    found = [Problem(*f) for f in commitment_problems(committed)]
    if found:
        raise EvaluateError([Problem(p.path, p.message + " (a decision of the plan)",
                                     "the plan's decision cannot be made under this instance")
                             for p in found])
    return committed


def evaluate(plan: Plan, base: Instance, other: Instance, settings: SolveSettings | None = None,
             *, audit: bool = True) -> Evaluation:
    """Re-optimize operations under ``other`` with the plan's decisions fixed."""
    from capalloc.optimizer.pipeline import solve_instance

    committed = committed_instance(plan, base, other)
    settings = settings or SolveSettings.from_instance(committed)
    floor = committed.finance.minimum_cash_usd
    try:
        outcome = solve_instance(committed, settings=settings, audit=audit)
    except InfeasibleError:
        return shortfall_and_cures(committed, settings)
    plan_out = outcome.result.plan
    return Evaluation(floor, True, npv_usd=plan_out.npv_usd, result=outcome.result, committed=committed)


def _exact(settings: SolveSettings) -> SolveSettings:
    return dataclasses.replace(settings, mip_rel_gap=0.0)


def shortfall_and_cures(committed: Instance, settings: SolveSettings) -> Evaluation:
    """The shortfall by month and both cures of an instance whose floor cannot be held."""
    floor = committed.finance.minimum_cash_usd
    evaluation = Evaluation(floor, False, committed=committed)
    exact = _exact(settings)
    elastic = build_model(committed, elastic_cash=True)
    run = run_highs(elastic, exact)
    if not run.has_solution:
        raise InfeasibleError(["the plan's commitments admit no plan even with the liquidity floor "
                               "relaxed; check the fleet, power and signing rules of the instance"])
    calendar = Calendar(committed.start, committed.horizon_months, committed.discount_rate_pct_per_year)
    model = elastic.model
    for w in elastic.context.scenario_names:
        for t in elastic.context.months:
            short = pyo.value(model.cash_shortfall[t, w]) * USD_PER_MODEL_UNIT
            if short > SHORTFALL_USD:
                evaluation.shortfalls.append(Shortfall(w, calendar.label(t), round(short, 2)))
    evaluation.extra_starting_cash_usd = cure_value(committed, settings, "starting_cash")
    evaluation.highest_floor_usd = cure_value(committed, settings, "floor")
    return evaluation


def cure_value(committed: Instance, settings: SolveSettings, cure: str) -> float | None:
    """The least extra starting cash (``starting_cash``) or the highest floor held (``floor``)
    of the instance, USD, solved to optimality; None when no plan exists at all."""
    built = build_model(committed, cure=cure)
    run = run_highs(built, _exact(settings))
    if not run.has_solution:
        return None
    variable = built.model.extra_starting_cash if cure == "starting_cash" else built.model.held_floor
    return round(pyo.value(variable) * USD_PER_MODEL_UNIT, 2)

EVALUATION_FILE = "evaluation.json"


def claim_evaluation_dir(directory):
    """The output folder of an evaluation, checked, created and locked before the solves: a
    plan directory (the re-optimized plan, when the floor holds) plus evaluation.json."""
    from capalloc.optimizer.outputs.output_dir import OutputClaim
    from capalloc.optimizer.outputs.plan_io import OWNED_FILES

    return OutputClaim(directory, "plan", (*OWNED_FILES, EVALUATION_FILE))


def evaluation_files(evaluation: Evaluation, plan_dir: str) -> dict[str, str]:
    """Every file an evaluation writes, by name, as text (byte-stable: no timings)."""
    import json

    from capalloc.optimizer.outputs.plan_io import INSTANCE_FILE, plan_files

    body = {"plan_dir": plan_dir, **evaluation.as_dict()}
    files = {EVALUATION_FILE: json.dumps(body, indent=2, sort_keys=True) + "\n"}
    if evaluation.result is not None:
        files.update(plan_files(evaluation.result, {"note": "written by capalloc evaluate"}))
    elif evaluation.committed is not None:
        files[INSTANCE_FILE] = evaluation.committed.model_dump_json(indent=2) + "\n"
    return files
