"""The audit of a tree's plan: each scenario's own plan through the independent audit under
its own instance, non-anticipativity checked on the plan's decisions alone, and the
objective ((1 - w) E + w CVaR) recomputed from the audited scenario NPVs.

Like optimizer.checks.audit, it imports nothing from the formulation, the solve or Pyomo."""

from __future__ import annotations

import pandas as pd

from capalloc.models.instance import Instance
from capalloc.models.plan import Plan
from capalloc.optimizer.checks.audit_rules import Violation
from capalloc.optimizer.scenario_tree import risk, split
from capalloc.optimizer.scenario_tree.decisions import scenario_decisions, scenario_plan

MW_TOL = 1e-5
"""MW written to 6 decimals from a solve whose equalities hold to 1e-7."""
USD_TOL = 1.0
BTC_TOL = 1e-6
SCENARIO_NPV_REL_TOL = 1e-6


def audit_tree(instance: Instance, plan: Plan):
    """An AuditReport of a tree plan: objective_usd is the plan's objective, npv_usd the one
    recomputed from each scenario's audited NPV."""
    from capalloc.optimizer.checks.audit import AuditReport, audit_plan

    names = split.scenario_names(instance)
    violations: list[Violation] = []
    npv: dict[str, float] = {}
    monthly, mining, terminal = [], [], {}
    for w in names:
        sub = scenario_plan(plan, w)
        report = audit_plan(split.scenario_instance(instance, w), sub)
        violations += report.violations
        npv[w] = report.scenario_npv_usd[w]
        monthly.append(report.monthly)
        mining.append(report.mining)
        terminal.update(report.terminal)
        if report.relative_difference > SCENARIO_NPV_REL_TOL:
            gap = abs(report.npv_usd - sub.npv_usd)
            violations.append(Violation("scenario_npv", w, None, None, None, gap,
                                        f"the plan states NPV {sub.npv_usd:,.2f} USD, the audit finds "
                                        f"{report.npv_usd:,.2f} USD"))
    violations += nonanticipativity_violations(instance, plan)
    p = split.probabilities(instance)
    weight = instance.risk.cvar_weight if instance.risk is not None else 0.0
    alpha = instance.risk.cvar_alpha if instance.risk is not None else 0.8
    objective = risk.risk_objective([npv[w] for w in names], [p[w] for w in names], weight, alpha)
    stated = plan.tree.objective_usd if plan.tree is not None else plan.npv_usd
    return AuditReport(violations, objective, stated, npv, pd.concat(monthly, ignore_index=True),
                       pd.concat(mining, ignore_index=True), terminal)


def _first_difference(a: list[float], b: list[float], until: int, tol: float) -> int | None:
    for t in range(min(until, max(len(a), len(b)))):
        x = a[t] if t < len(a) else 0.0
        y = b[t] if t < len(b) else 0.0
        if abs(x - y) > tol:
            return t
    return None


def nonanticipativity_violations(instance: Instance, plan: Plan) -> list[Violation]:
    """Every decision of shared history that differs between two scenarios (DESIGN, "Trees":
    before their branching month everything is common; in a flat list the investment and
    financing decisions are common in every month)."""
    names = [w for w in split.scenario_names(instance)]
    labels = plan.months
    found: list[Violation] = []
    own = {w: scenario_decisions(plan.decisions, w) for w in names}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            inv = split.investment_common_until(instance, a, b)
            ops = split.operations_common_until(instance, a, b)
            found += _investment(own[a], own[b], a, b, inv, labels)
            found += _operations(own[a], own[b], a, b, ops, labels)
    return found


def _violation(a: str, b: str, site: str | None, item: str | None, labels: list[str], t: int,
               amount: float, what: str) -> Violation:
    month = labels[t] if t < len(labels) else None
    return Violation("nonanticipativity", b, site, item, month, amount,
                     f"{what} differs from scenario {a!r}, which shares its history in that month")


def _investment(da, db, a: str, b: str, until: int, labels: list[str]) -> list[Violation]:
    found = []
    index = {m: t for t, m in enumerate(labels)}
    signed_a = {(s.site, s.phase, index.get(s.signing_month, -1)) for s in da.signings}
    signed_b = {(s.site, s.phase, index.get(s.signing_month, -1)) for s in db.signings}
    for site, phase, t in sorted(signed_a ^ signed_b):
        if 0 <= t < until:
            found.append(_violation(a, b, site, phase, labels, t, 1.0, "the signing of this phase"))
    for records, name, fields in ((("fleet",), "generation", ("ordered_mw", "sold_mw")),
                                  (("halls",), "site", ("built_mw",)),
                                  (("notes",), "program", ("issued_usd",))):
        by_a = {getattr(r, name): r for r in getattr(da, records[0])}
        by_b = {getattr(r, name): r for r in getattr(db, records[0])}
        for key in sorted(set(by_a) | set(by_b)):
            for f in fields:
                xa = getattr(by_a[key], f) if key in by_a else []
                xb = getattr(by_b[key], f) if key in by_b else []
                tol = USD_TOL if f.endswith("_usd") else MW_TOL
                t = _first_difference(xa, xb, until, tol)
                if t is not None:
                    found.append(_violation(a, b, None, key, labels, t, abs(_at(xa, t) - _at(xb, t)),
                                            f"{records[0]} {f}"))
    t = _first_difference(da.equity_issued_usd, db.equity_issued_usd, until, USD_TOL)
    if t is not None:
        amount = abs(_at(da.equity_issued_usd, t) - _at(db.equity_issued_usd, t))
        found.append(_violation(a, b, None, None, labels, t, amount, "equity issued"))
    return found


def _operations(da, db, a: str, b: str, until: int, labels: list[str]) -> list[Violation]:
    if until <= 0:
        return []
    found = []
    mining_b = {(m.site, m.generation): m for m in db.mining}
    for m in da.mining:
        other = mining_b.get((m.site, m.generation))
        for f in ("placed_mw", "running_mw", "curtailed_mw"):
            xa, xb = getattr(m, f), getattr(other, f) if other is not None else []
            t = _first_difference(xa, xb, until, MW_TOL)
            if t is not None:
                found.append(_violation(a, b, m.site, m.generation, labels, t, abs(_at(xa, t) - _at(xb, t)),
                                        f"mining {f}"))
    for fa in da.finance:
        fb = db.finance[0] if db.finance else None
        for f, tol in (("revolver_balance_usd", USD_TOL), ("btc_sold_btc", BTC_TOL),
                       ("distributions_usd", USD_TOL), ("btc_loan_balance_usd", USD_TOL),
                       ("btc_pledged_btc", BTC_TOL)):
            xa, xb = getattr(fa, f), getattr(fb, f) if fb is not None else []
            t = _first_difference(xa, xb, until, tol)
            if t is not None:
                found.append(_violation(a, b, None, None, labels, t, abs(_at(xa, t) - _at(xb, t)), f))
    return found


def _at(values: list[float], t: int) -> float:
    return values[t] if t < len(values) else 0.0
