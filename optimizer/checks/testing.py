"""Assertions for planners' own regression suites on optimal plans.

The policy holds up under alternative optima (equal-valued plans that differ in their
decisions, common when identical phases sit at different sites):

1. the new plan's objective matches the golden one within ``rel_tol``;
2. given the instance, the golden plan re-audited against today's code and data is still
   feasible and still worth the new objective (so a different but equally good plan passes,
   while a change that moves the optimum or breaks the golden plan fails);
3. decisions (signings, and mining MW by site and year) are compared exactly only when the
   plan is canonical (``canonical_plan: true`` in the instance: a deterministic tie-break
   preferring earlier signings, worth at most a few dollars of objective).

Example, in a planner's pytest file::

    from capalloc.optimizer.checks.testing import assert_plan_matches, solve_for_test
    def test_georgia_plan():
        plan = solve_for_test("instances/georgia.yaml")
        assert_plan_matches(plan, "tests/golden/georgia", instance="instances/georgia.yaml")
"""

from __future__ import annotations

from pathlib import Path

from capalloc.models.instance import Instance
from capalloc.models.loader import load_instance
from capalloc.models.plan import Plan

DEFAULT_REL_TOL = 1e-6


def _as_plan(value: Plan | str | Path) -> Plan:
    if isinstance(value, Plan):
        return value
    from capalloc.optimizer.outputs.plan_io import read_plan

    return read_plan(value)


def _as_instance(value: Instance | str | Path | None) -> Instance | None:
    if value is None or isinstance(value, Instance):
        return value
    return load_instance(value)


def plan_mismatches(
    plan: Plan, golden: Plan, *, rel_tol: float = DEFAULT_REL_TOL, instance: Instance | None = None,
    canonical: bool | None = None,
) -> list[str]:
    """Every way ``plan`` fails to match ``golden`` under the policy above (empty: it matches)."""
    from capalloc.optimizer.checks.compare import compare_plans

    problems: list[str] = []
    scale = max(1.0, abs(golden.npv_usd))
    moved = abs(plan.npv_usd - golden.npv_usd) / scale
    if moved > rel_tol:
        problems.append(
            f"objective moved: golden ${golden.npv_usd:,.2f}, now ${plan.npv_usd:,.2f} "
            f"(relative {moved:.3g} > {rel_tol:.3g})"
        )
    if instance is not None:
        from capalloc.optimizer.checks.audit import audit_plan

        report = audit_plan(instance, golden)
        for violation in report.violations[:10]:
            problems.append(f"golden plan no longer feasible: {violation}")
        if len(report.violations) > 10:
            problems.append(f"... and {len(report.violations) - 10} more violations of the golden plan")
        revalued = abs(report.npv_usd - plan.npv_usd) / scale
        if revalued > rel_tol:
            problems.append(
                f"golden plan re-audited today is worth ${report.npv_usd:,.2f}, the new optimum "
                f"${plan.npv_usd:,.2f} (relative {revalued:.3g} > {rel_tol:.3g})"
            )
    if canonical is None:
        canonical = golden.provenance.canonical and plan.provenance.canonical
    if canonical:
        comparison = compare_plans(golden, plan, rel_tol=rel_tol)
        problems += [f"canonical decision changed: {c.describe()}" for c in comparison.signings]
        problems += [
            f"canonical decision changed: {m.measure} at {m.site} in {m.year} ({m.scenario}) "
            f"{m.a:,.3f} -> {m.b:,.3f} MW"
            for m in comparison.mw
        ]
    return problems


def assert_plan_matches(
    plan: Plan | str | Path, golden: Plan | str | Path, *, rel_tol: float = DEFAULT_REL_TOL,
    instance: Instance | str | Path | None = None, canonical: bool | None = None,
) -> None:
    """Raise AssertionError listing every mismatch between a plan and its golden plan."""
    problems = plan_mismatches(
        _as_plan(plan), _as_plan(golden), rel_tol=rel_tol, instance=_as_instance(instance),
        canonical=canonical,
    )
    if problems:
        raise AssertionError("plan does not match its golden plan:\n  - " + "\n  - ".join(problems))


def solve_for_test(instance: Instance | str | Path, **settings) -> Plan:
    """Solve an instance (path or Instance) and return its audited plan."""
    from capalloc.optimizer.pipeline import solve_instance
    from capalloc.optimizer.solving.solve import SolveSettings

    loaded = _as_instance(instance)
    assert loaded is not None
    outcome = solve_instance(loaded, settings=SolveSettings.from_instance(loaded, **settings))
    return outcome.result.plan
