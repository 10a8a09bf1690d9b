"""The example instances against their golden plans (tests/golden, written by
`capalloc regress instances --golden tests/golden --update` and audited when written).

A change to the model or the data that moves an optimal plan fails here; a change that only
picks another equally good plan passes (policy: optimizer.checks.testing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capalloc.models import load_instance
from capalloc.optimizer.checks.testing import assert_plan_matches, solve_for_test

ROOT = Path(__file__).resolve().parents[1]


def check(name: str) -> None:
    instance = load_instance(ROOT / "instances" / f"{name}.yaml")
    plan = solve_for_test(instance)
    assert plan.audit is not None and plan.audit.passed
    assert_plan_matches(plan, ROOT / "tests" / "golden" / name, instance=instance,
                        rel_tol=max(1e-6, instance.solver.mip_rel_gap))


@pytest.mark.parametrize("name", ["tiny", "two_sites"])
def test_example_matches_its_golden_plan(name):
    check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cleanspark_2026", "cleanspark_2026_fixed_fleet"])
def test_cleanspark_matches_its_golden_plan(name):
    check(name)
