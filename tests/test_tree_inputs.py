"""Bad tree, lead-time and risk inputs through the command line: exit 2, a message naming the
field, nothing written (issue 15)."""

from __future__ import annotations

import copy

import pytest

from tests.test_cli import run_cli_many
from tests.test_tree import START, tree_data, write


def _bad(mutate) -> dict:
    data = copy.deepcopy(tree_data())
    mutate(data)
    return data


def _phase(data: dict) -> dict:
    return data["sites"][0]["ai_phases"][0]


def _set(path_fn, key, value):
    def mutate(data):
        path_fn(data)[key] = value
    return mutate


def _shift_bear_hashprice(data):
    # bear's own column differs from bull's before the branching month
    data["market"]["scenarios"][1]["hashprice_usd_per_ph_day"] = 5.0


CASES = {
    "probabilities": (_set(lambda d: d["market"]["scenarios"][0], "probability", 0.4),
                      "market.scenarios: probabilities sum to 0.9, not 1"),
    "branching_after_horizon": (_set(lambda d: d["market"], "branching_months", ["2027-05"]),
                                "market.branching_months: 2027-05 is outside the horizon"),
    "branching_at_first_month": (_set(lambda d: d["market"], "branching_months", [START]),
                                 f"market.branching_months: {START} is outside the horizon"),
    "branching_order": (_set(lambda d: d["market"], "branching_months", ["2026-06", "2026-03"]),
                        "market.branching_months: must be in strictly increasing month order"),
    "lead_below_one": (_set(_phase, "lead_time_months_by_scenario", {"bear": 0}),
                       "sites[alpha].ai_phases[p1].lead_time_months_by_scenario.bear"),
    "lead_unknown_scenario": (_set(_phase, "lead_time_months_by_scenario", {"nosuch": 9}),
                              "sites[alpha].ai_phases[p1].lead_time_months_by_scenario.nosuch: unknown "
                              "scenario"),
    "alpha_one": (_set(lambda d: d, "risk", {"cvar_weight": 0.5, "cvar_alpha": 1.0}), "risk.cvar_alpha"),
    "alpha_zero": (_set(lambda d: d, "risk", {"cvar_alpha": 0.0}), "risk.cvar_alpha"),
    "weight": (_set(lambda d: d, "risk", {"cvar_weight": 1.5}), "risk.cvar_weight"),
    "path_length": (_set(lambda d: d["market"]["scenarios"][0], "tree_path", ["up", "again"]),
                    "market.scenarios[bull].tree_path: has 2 labels for 1 branching month(s)"),
    "siblings_differ": (_shift_bear_hashprice,
                        "market.scenarios[bear].hashprice_usd_per_ph_day: differs from scenario 'bull' in "
                        f"{START}"),
}


def test_bad_tree_inputs_exit_2_naming_the_field(tmp_path):
    commands, expected = [], []
    for name, (mutate, message) in CASES.items():
        folder = tmp_path / name
        folder.mkdir()
        path = write(folder, _bad(mutate))
        commands.append(["solve", path, "-o", folder / "plan", "-q"])
        expected.append((name, folder, message))
    for (name, folder, message), result in zip(expected, run_cli_many(commands, cwd=tmp_path), strict=True):
        text = " ".join((result.stdout + result.stderr).split())
        assert result.returncode == 2, (name, text)
        assert message in text, (name, text)
        assert "Traceback" not in text
        assert not (folder / "plan").exists(), name


@pytest.mark.parametrize("alpha", [0.5])
def test_a_good_tree_validates(tmp_path, alpha):
    from capalloc.models import load_instance

    instance = load_instance(write(tmp_path, tree_data(risk={"cvar_alpha": alpha})))
    assert instance.market.branching_months == ["2026-05"] and instance.risk.cvar_alpha == alpha
