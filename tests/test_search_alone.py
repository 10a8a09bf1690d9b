"""Issue 17, third pass: a model with an income tax is searched by HiGHS alone (no LP dive, no
narrowing; solving.solve.first_plan_pays), and the plan that signs nothing is kept aside
rather than handed over as a start: a search stopped before HiGHS has a plan of its own
returns it, in a plain solve and in a sweep's re-solve alike."""

from __future__ import annotations

import pytest

from tests.test_taxes import loss_then_profit


def _instance(**kwargs):
    from capalloc.models import validate_instance_data

    return validate_instance_data(loss_then_profit(**kwargs))


def test_the_dive_runs_only_on_untaxed_models(monkeypatch):
    import capalloc.optimizer.solving.solve as solve
    from capalloc.optimizer.pipeline import solve_instance

    dives = []
    real = solve.find_first_plan

    def counted(*args, **kwargs):
        dives.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(solve, "find_first_plan", counted)
    taxed = solve_instance(_instance()).result.plan
    assert dives == [] and taxed.audit.passed
    untaxed = solve_instance(_instance(tax_pct=None)).result.plan
    assert dives == [1] and untaxed.audit.passed


def test_a_taxed_search_stopped_before_any_plan_returns_the_plan_that_signs_nothing():
    """A zero time limit stops HiGHS before it can find anything. The plan returned signs no
    lease; the independent audit recomputes its NPV, and it is worth less than the optimum,
    which signs the phase in month 0 (test_taxes derives that plan by hand)."""
    from capalloc.optimizer.pipeline import solve_instance
    from capalloc.optimizer.solving.resolve import ParametricSolver
    from capalloc.optimizer.solving.solve import SolveSettings

    instance = _instance()
    stopped = solve_instance(instance, settings=SolveSettings.from_instance(instance, time_limit=0.0))
    plan = stopped.result.plan
    assert plan.solver.status == "time_limit_with_plan"
    assert plan.decisions.signings == []
    assert plan.audit is not None and plan.audit.passed
    best = solve_instance(instance).result.plan
    assert [s.signing_month for s in best.decisions.signings] == ["2027-01"]
    assert plan.npv_usd < best.npv_usd
    # A sweep's re-solve (persistent model, canonical copy) keeps the same plan aside.
    run = ParametricSolver(instance).solve(instance, SolveSettings.from_instance(instance, time_limit=0.0))
    assert run.has_solution and run.termination == "maxTimeLimit"
    assert run.objective_usd == pytest.approx(plan.solver.objective_usd, rel=1e-9)
