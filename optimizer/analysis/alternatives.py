"""`capalloc alternatives`: near-optimal plans that differ most in their signings.

Modelling to generate alternatives. After the optimum (NPV V*), each alternative is found
in two MIP solves on a fresh model of the instance:

1. with NPV >= V* - within x |V*|, maximize d, where d <= the distance from every plan found
   so far (the optimum first). The distance between two plans is the Hamming distance of
   their cumulative 'signed by' binaries, linear in them: sum over the columns the plan
   left at 0 of z, plus sum over those it set to 1 of (1 - z); for one phase it is the
   number of months between its two signing months (a never-signed phase counts as signed
   after the last month it could be).
2. with d held at its optimum, maximize NPV: the best plan that far from the others.

An alternative at distance 0 would repeat a plan: the search stops there. Each plan found
is extracted and audited as a solve's plan is, and written as a plan directory.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyomo.core as pyo

from capalloc.models.instance import Instance
from capalloc.optimizer.formulation import BuiltModel, build_model
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT, linear
from capalloc.optimizer.outputs.extract import PlanResult, extract_plan
from capalloc.optimizer.outputs.output_dir import (
    META,
    STAGING_PREFIX,
    OutputClaim,
    OutputDirError,
    check_output,
    read_marker,
)
from capalloc.optimizer.outputs.plan_io import OWNED_FILES, write_plan_dir
from capalloc.optimizer.pipeline import AUDIT_REL_TOL, AuditDisagreement, solve_instance
from capalloc.optimizer.solving.solve import NoPlanError, SolveSettings, run_highs

TABLE_FILES = ("alternatives.csv", "alternatives.json")
PLAN_NAME = re.compile(r"^(optimum|alternative-\d+)$")

Signings = dict[tuple[str, str, int], int]
"""The 'signed by' binaries of a plan: (site, phase, month) -> 0 or 1."""


@dataclass
class Alternative:
    name: str
    result: PlanResult
    signings: Signings
    npv_usd: float
    min_distance: int | None  # to the plans before it (None: the optimum)


def _signings(built: BuiltModel) -> Signings:
    return {key: int(round(pyo.value(var))) for key, var in built.model.signed_by.items()}


def _distance_expr(built: BuiltModel, reference: Signings):
    z = built.model.signed_by
    terms, constant = [], 0.0
    for key, var in z.items():
        if reference[key]:
            constant += 1.0
            terms.append((-1.0, var))
        else:
            terms.append((1.0, var))
    return linear(terms, constant)


def _add_mga(built: BuiltModel, floor_usd: float, references: list[Signings]) -> None:
    model = built.model
    model.mga_npv_floor = pyo.Constraint(expr=model.npv_without_tie_break >= floor_usd / USD_PER_MODEL_UNIT)
    model.mga_distance = pyo.Var(domain=pyo.NonNegativeReals)
    model.mga_apart = pyo.ConstraintList()
    for reference in references:
        model.mga_apart.add(model.mga_distance <= _distance_expr(built, reference))
    model.npv.deactivate()
    model.mga_objective = pyo.Objective(expr=model.mga_distance, sense=pyo.maximize)


def _solve(built: BuiltModel, settings: SolveSettings):
    run = run_highs(built, settings)
    if run.interrupted:
        raise KeyboardInterrupt
    return run


def next_alternative(instance: Instance, floor_usd: float, references: list[Signings],
                     settings: SolveSettings) -> tuple[BuiltModel, Any, int] | None:
    """The plan within the floor farthest from every reference (then the best NPV there)."""
    built = build_model(instance)
    if len(built.model.signed_by) == 0:
        return None
    _add_mga(built, floor_usd, references)
    run = _solve(built, settings)
    if not run.has_solution:
        return None
    distance = int(math.floor(pyo.value(built.model.mga_distance) + 1e-6))
    if distance < 1:
        return None
    model = built.model
    model.mga_objective.deactivate()
    model.npv.activate()
    model.mga_distance.setlb(distance)
    run = _solve(built, settings)
    if not run.has_solution:
        return None
    # The bound and gap HiGHS reports hold for this constrained search, not for the
    # instance: the plan carries none rather than a misleading one.
    return built, dataclasses.replace(run, bound_usd=None, gap=None), distance


def _audited(instance: Instance, result: PlanResult) -> float:
    from capalloc.optimizer.checks.audit import audit_plan

    report = audit_plan(instance, result.plan)
    verdict = report.verdict(AUDIT_REL_TOL)
    result.plan.audit = verdict
    if not verdict.passed:
        raise AuditDisagreement(f"the independent audit does not confirm an alternative: "
                                f"{'; '.join(verdict.messages[:5])}")
    return report.npv_usd


def find_alternatives(instance: Instance, *, within: float, count: int, settings: SolveSettings,
                      instance_sha256: str = "", on_step: Callable[[str], None] | None = None
                      ) -> list[Alternative]:
    """The optimum, then up to ``count`` alternatives within ``within`` (a fraction) of it."""
    optimum = solve_instance(instance, instance_sha256=instance_sha256, settings=settings)
    npv = _audited(instance, optimum.result)
    plans = [Alternative("optimum", optimum.result, _from_plan(instance, optimum), npv, None)]
    floor = npv - within * abs(npv)
    for number in range(1, count + 1):
        if on_step:
            on_step(f"alternative {number}")
        found = next_alternative(instance, floor, [p.signings for p in plans], settings)
        if found is None:
            break
        model, run, distance = found
        result = extract_plan(run, instance_sha256)
        audited = _audited(instance, result)
        plans.append(Alternative(f"alternative-{number}", result, _signings(model), audited, distance))
    return plans


def _from_plan(instance: Instance, outcome) -> Signings:
    """A solved plan's 'signed by' binaries, from its signing months."""
    built = build_model(instance)
    labels = built.context.calendar.labels
    months = {(s.site, s.phase): labels.index(s.signing_month)
              for s in outcome.result.plan.decisions.signings}
    return {(site, phase, t): int(months.get((site, phase), math.inf) <= t)
            for site, phase, t in built.model.signed_by}


def comparison_rows(plans: list[Alternative]) -> list[dict[str, Any]]:
    best = plans[0].npv_usd
    rows = []
    for plan in plans:
        signings = [f"{s.site}/{s.phase} {s.signing_month}" for s in plan.result.plan.decisions.signings]
        rows.append({"name": plan.name, "npv_usd": round(plan.npv_usd, 2),
                     "gap_to_optimum_pct": round(100.0 * (best - plan.npv_usd) / max(abs(best), 1.0), 6),
                     "min_distance": plan.min_distance, "signings": signings})
    return rows


def check_alternatives_dir(directory: Path) -> None:
    """OUT may hold only what `capalloc alternatives` writes: its tables and plan folders."""
    check_output(directory, "alternatives", None)
    if not directory.is_dir():
        return
    foreign = []
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name in META or name in TABLE_FILES and entry.is_file() and not entry.is_symlink():
            continue
        if name.startswith(STAGING_PREFIX) and entry.is_dir() and not entry.is_symlink():
            continue
        plan_dir = PLAN_NAME.match(name) and entry.is_dir() and not entry.is_symlink()
        if plan_dir and read_marker(entry) == "plan":
            check_output(entry, "plan", OWNED_FILES)
            continue
        foreign.append(name + ("/" if entry.is_dir() else ""))
    if foreign:
        raise OutputDirError(f"{directory}: holds files capalloc did not write ({', '.join(foreign[:5])}); "
                             "capalloc writes alternatives only into a new or empty folder or one it "
                             "wrote: choose another folder")


def write_alternatives(directory: Path, plans: list[Alternative], tables: dict[str, str]) -> None:
    """Each plan as a plan directory under OUT, then the comparison tables (atomically)."""
    from capalloc.optimizer.analysis.report import add_files

    with OutputClaim(directory, "alternatives", None) as claim:
        check_alternatives_dir(directory)
        claim.mark()
        names = {p.name for p in plans}
        for plan in plans:
            write_plan_dir(plan.result, directory / plan.name, {"alternatives": True})
        for entry in sorted(directory.iterdir()):  # a previous run's extra alternatives
            if PLAN_NAME.match(entry.name) and entry.name not in names and entry.is_dir():
                check_output(entry, "plan", OWNED_FILES)
                shutil.rmtree(entry)
        add_files(directory, tables)  # under OUT's lock, held by the claim


def solve_alternatives(instance: Instance, out: Path, *, within: float, count: int,
                       settings: SolveSettings, instance_sha256: str = "",
                       on_step: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The whole command: check OUT, solve, audit, write; returns the comparison rows."""
    check_alternatives_dir(out)
    plans = find_alternatives(instance, within=within, count=count, settings=settings,
                              instance_sha256=instance_sha256, on_step=on_step)
    if not plans:
        raise NoPlanError("no plan found")
    rows = comparison_rows(plans)
    frame = pd.DataFrame([{**r, "signings": "; ".join(r["signings"])} for r in rows])
    frame["min_distance"] = frame["min_distance"].astype("Int64")  # the optimum has none
    tables = {"alternatives.csv": frame.to_csv(index=False, lineterminator="\n"),
              "alternatives.json": json.dumps({"within_pct": within * 100.0, "plans": rows}, indent=2) + "\n"}
    write_alternatives(out, plans, tables)
    return rows
