"""Issue 17: the phases' project-debt interest as one recursively defined column a month
(optimizer.formulation.phase_interest) instead of convolved into every income row."""

from __future__ import annotations

import highspy
import pytest

from benchmarks.generate import Size, generate_instance
from capalloc.models import validate_instance_data
from capalloc.optimizer.formulation import build_model
from capalloc.optimizer.formulation.phase_interest import recursion_steps
from capalloc.optimizer.solving.handoff import DirectHandoff


def test_an_annuitys_recursion_steps_are_level_over_its_amortization():
    """100 drawn at age 0, 1 %/month, repaid in 2 level payments from age 1. By hand:
    payment A = 100 x 0.01 / (1 - 1.01^-2) = 50.751244; interest I = [0, 1.0, 0.502488]
    (1 % of 100, then of 100 + 1 - A = 50.248756). With q = 1.01, J(a) = I(a) - q I(a-1):
    J = [0, 1.0, 0.502488 - 1.01, 0 - 1.01 x 0.502488] = [0, 1, -0.507512, -0.507512],
    i.e. -0.01 x A at both amortization ages and beyond the last (where I falls to 0)."""
    payment = 100 * 0.01 / (1 - 1.01 ** -2)
    interest = [0.0, 1.0, 0.01 * (101.0 - payment)]
    steps = recursion_steps(interest, 1.01)
    assert steps == pytest.approx([0.0, 1.0, -0.01 * payment, -0.01 * payment], abs=1e-12)
    # and the recursion gives the interest back: I(a) = q I(a-1) + J(a)
    rebuilt, previous = [], 0.0
    for step in steps:
        previous = 1.01 * previous + step
        rebuilt.append(previous)
    assert rebuilt == pytest.approx([*interest, 0.0], abs=1e-12)


def taxed_instance():
    data = generate_instance(Size("interest", 3, 48, 2.0, 2, 1, 4))
    data["finance"]["taxes"] = {"rate_pct": 21.0}
    return validate_instance_data(data)


def relaxation(model) -> tuple[float, int]:
    handoff = DirectHandoff(model)
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.passModel(handoff.highs.getLp())
    highs.setOptionValue("solve_relaxation", True)
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(highs.getInfo().objective_function_value), int(highs.getNumNz())


def test_the_recursion_is_the_same_model_with_fewer_nonzeros(monkeypatch):
    """The recursion is a change of variables: the LP relaxation (and so every plan's value)
    is the one of the convolved interest, which put a term for every age a phase's interest
    reached into every month's taxable-income row."""
    import capalloc.optimizer.formulation.ai_phases as ai_phases

    instance = taxed_instance()
    monkeypatch.setattr(ai_phases, "PHASE_INTEREST_RECURSION", True)
    recursive = build_model(instance).model
    assert hasattr(recursive, "project_debt_interest_recursion")
    value, nonzeros = relaxation(recursive)
    monkeypatch.setattr(ai_phases, "PHASE_INTEREST_RECURSION", False)
    convolved = build_model(instance).model
    assert not hasattr(convolved, "project_debt_interest_recursion")
    old_value, old_nonzeros = relaxation(convolved)
    assert value == pytest.approx(old_value, rel=1e-9)
    assert nonzeros < 0.9 * old_nonzeros
