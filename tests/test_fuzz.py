"""Property-based fuzzing of the input contract (issue 12): generated bad instances, each run
through the real CLI (`capalloc solve FILE -o OUT`, in-process), must end with exit 2, a
message naming a field path, no traceback, and nothing written.

Every instance starts from instances/tiny.yaml's data and gets one to three mutations, each
of which alone makes it invalid: a bad number (NaN, infinity, 1e300, a negative value) in a
numeric field, a value of the wrong type, an unknown key, a missing required key, a
reference to an unknown site, a duplicated phase id (no field refers to a phase by id; two
phases with one id is the phase-reference error an instance can make), a month that is
malformed or outside the horizon, or a HiGHS option off the allow-list. A mutation never
repairs another: none of them writes a valid value.
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from capalloc.optimizer.cli import app
from tests.conftest import INSTANCES

TINY = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
RUNNER = CliRunner()


@dataclass(frozen=True)
class Mutation:
    """One change that makes the instance invalid, and the field path its message names."""

    label: str
    apply: Callable[[dict], None]
    where: str  # a regular expression for the field path the message names

    def __repr__(self) -> str:  # hypothesis prints falsifying examples with it
        return self.label


def node_at(data: dict, path: tuple) -> Any:
    """The mapping or list at path, or None when an earlier mutation removed it."""
    node: Any = data
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def setter(path: tuple, value: Any) -> Callable[[dict], None]:
    def apply(data: dict) -> None:
        parent = node_at(data, path[:-1])
        if isinstance(parent, dict):  # gone when an earlier mutation removed or replaced it
            parent[path[-1]] = value
    return apply


def remover(path: tuple) -> Callable[[dict], None]:
    def apply(data: dict) -> None:
        parent = node_at(data, path[:-1])
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return apply


SITE, PHASE, GEN = ("sites", 0), ("sites", 0, "ai_phases", 0), ("fleet", 0)
SITE_P, PHASE_P, GEN_P = r"sites\[alpha\]", r"sites\[alpha\]\.ai_phases\[hall1\]", r"fleet\[s19xp\]"
MARKET_P = r"market\.(scenarios\[\w+\]\.)?"  # the shorthand fields live in scenario 'base'

# Numeric fields: where they are in the data, the path the message names, whether whole.
NUMBERS: list[tuple[tuple, str, bool]] = [
    (SITE + ("power_price_usd_per_mwh",), SITE_P + r"\.power_price_usd_per_mwh", False),
    (SITE + ("energization", 0, "contracted_mw"), SITE_P + r"\.energization\[0\]\.contracted_mw", False),
    (SITE + ("mining_infrastructure_mw",), SITE_P + r"\.mining_infrastructure_mw", False),
    (SITE + ("uptime_pct",), SITE_P + r"\.uptime_pct", False),
    (SITE + ("mining_pue",), SITE_P + r"\.mining_pue", False),
    (SITE + ("mining_opex_usd_per_mw_month",), SITE_P + r"\.mining_opex_usd_per_mw_month", False),
    (PHASE + ("critical_it_mw",), PHASE_P + r"\.critical_it_mw", False),
    (PHASE + ("pue",), PHASE_P + r"\.pue", False),
    (PHASE + ("capex_usd_per_mw_it",), PHASE_P + r"\.capex_usd_per_mw_it", False),
    (PHASE + ("lead_time_months",), PHASE_P + r"\.lead_time_months", True),
    (PHASE + ("lease_usd_per_kw_month",), PHASE_P + r"\.lease_usd_per_kw_month", False),
    (PHASE + ("escalator_pct_per_year",), PHASE_P + r"\.escalator_pct_per_year", False),
    (PHASE + ("term_months",), PHASE_P + r"\.term_months", True),
    (PHASE + ("opex_usd_per_mw_month",), PHASE_P + r"\.opex_usd_per_mw_month", False),
    (PHASE + ("prepayment_months",), PHASE_P + r"\.prepayment_months", True),
    (GEN + ("installed_mw",), GEN_P + r"\.installed_mw", False),
    (GEN + ("efficiency_j_per_th",), GEN_P + r"\.efficiency_j_per_th", False),
    (GEN + ("sites_at_start", "alpha"), GEN_P + r"\.sites_at_start\.alpha", False),
    (GEN + ("salvage_usd_per_mw",), GEN_P + r"\.salvage_usd_per_mw", False),
    (GEN + ("move_cost_usd_per_mw",), GEN_P + r"\.move_cost_usd_per_mw", False),
    (("market", "btc_price_usd"), MARKET_P + "btc_price_usd", False),
    (("market", "network_hashrate_ehs"), MARKET_P + "network_hashrate_ehs", False),
    (("market", "fees_btc_per_block"), MARKET_P + "fees_btc_per_block", False),
    (("market", "initial_subsidy_btc_per_block"), r"market\.initial_subsidy_btc_per_block", False),
    (("market", "blocks_per_day"), r"market\.blocks_per_day", False),
    (("finance", "starting_cash_usd"), r"finance\.starting_cash_usd", False),
    (("finance", "minimum_cash_usd"), r"finance\.minimum_cash_usd", False),
    (("finance", "btc_held_at_start_btc"), r"finance\.btc_held_at_start_btc", False),
    (("finance", "project_debt", "loan_to_cost_pct"), r"finance\.project_debt\.loan_to_cost_pct", False),
    (("finance", "project_debt", "rate_pct_per_year"), r"finance\.project_debt\.rate_pct_per_year", False),
    (("finance", "project_debt", "amortization_months"), r"finance\.project_debt\.amortization_months",
     True),
    (("horizon_months",), r"horizon_months", True),
    (("discount_rate_pct_per_year",), r"discount_rate_pct_per_year", False),
    (("signing_cap_mw_per_year",), r"signing_cap_mw_per_year", False),
    (("terminal",), r"terminal\.mining_months", True),
    (("solver",), r"solver\.time_limit_seconds", False),
]

OPTIONAL = [("signing_cap_mw_per_year",)]  # None is a valid value for these: no cap
BAD_NUMBERS = [float("nan"), float("inf"), float("-inf"), 1e300, -1e300, -1.0, 1e30, -5e12]
WRONG_TYPES = ["not a number", "12,5", [1.0, 2.0], True, None]


@st.composite
def bad_number(draw) -> Mutation:
    path, where, whole = draw(st.sampled_from(NUMBERS))
    wrong = [v for v in WRONG_TYPES if v is not None or path not in OPTIONAL]
    value = draw(st.sampled_from(BAD_NUMBERS + wrong + ([1.5] if whole else [])))
    if whole and value == -1.0:
        value = -1  # a negative whole number: refused by its range, not its type
    if path in (("terminal",), ("solver",)):  # optional sections: write the field inside them
        field = "mining_months" if path == ("terminal",) else "time_limit_seconds"
        return Mutation(f"{path[0]}.{field}={value!r}", setter(path, {field: value}), where)
    return Mutation(f"{'.'.join(map(str, path))}={value!r}", setter(path, value), where)


@st.composite
def bad_growth(draw) -> Mutation:
    """A series written as {start_value, growth_pct_per_year} with a bad part."""
    field = draw(st.sampled_from(["btc_price_usd", "network_hashrate_ehs"]))
    start = draw(st.sampled_from([90000.0 if field == "btc_price_usd" else 900.0, float("nan"), 1e300]))
    growth = draw(st.sampled_from([1e300, float("inf"), -100.0, -1e3, 5000.0, float("nan")]
                                  if start < 1e6 else [0.0, 5.0]))
    value = {"start_value": start, "growth_pct_per_year": growth}
    return Mutation(f"market.{field}={value!r}", setter(("market", field), value), MARKET_P + field)


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
SECTIONS: list[tuple[tuple, str]] = [
    ((), ""), (SITE, SITE_P + r"\."), (PHASE, PHASE_P + r"\."), (GEN, GEN_P + r"\."),
    (("market",), r"market\."), (("finance",), r"finance\."), (("finance", "project_debt"),
                                                             r"finance\.project_debt\."),
    (SITE + ("energization", 0), SITE_P + r"\.energization\[0\]\."),
]


@st.composite
def unknown_key(draw) -> Mutation:
    section, prefix = draw(st.sampled_from(SECTIONS))
    name = "x_" + draw(NAMES)  # no field starts with x_
    return Mutation(f"unknown key {name} in {section}", setter(section + (name,), 1.0),
                    prefix + re.escape(name))


REQUIRED: list[tuple[tuple, str]] = [
    (("name",), "name"), (("start",), "start"), (("horizon_months",), "horizon_months"),
    (("discount_rate_pct_per_year",), "discount_rate_pct_per_year"), (("sites",), "sites"),
    (("market",), "market"), (("finance",), "finance"),
    (SITE + ("id",), r"sites\[0\]\.id"), (SITE + ("energization",), SITE_P + r"\.energization"),
    (SITE + ("power_price_usd_per_mwh",), SITE_P + r"\.power_price_usd_per_mwh"),
    (SITE + ("energization", 0, "from_month"), SITE_P + r"\.energization\[0\]\.from_month"),
    (PHASE + ("id",), SITE_P + r"\.ai_phases\[0\]\.id"),
    (PHASE + ("critical_it_mw",), PHASE_P + r"\.critical_it_mw"),
    (PHASE + ("capex_usd_per_mw_it",), PHASE_P + r"\.capex_usd_per_mw_it"),
    (PHASE + ("lead_time_months",), PHASE_P + r"\.lead_time_months"),
    (PHASE + ("lease_usd_per_kw_month",), PHASE_P + r"\.lease_usd_per_kw_month"),
    (PHASE + ("term_months",), PHASE_P + r"\.term_months"),
    (PHASE + ("conversion",), PHASE_P + r"\.conversion"),
    (GEN + ("id",), r"fleet\[0\]\.id"), (GEN + ("installed_mw",), GEN_P + r"\.installed_mw"),
    (GEN + ("efficiency_j_per_th",), GEN_P + r"\.efficiency_j_per_th"),
    (("market", "btc_price_usd"), MARKET_P + "btc_price_usd"),
    (("market", "network_hashrate_ehs"), MARKET_P + "network_hashrate_ehs"),
    (("finance", "starting_cash_usd"), r"finance\.starting_cash_usd"),
    (("finance", "project_debt", "rate_pct_per_year"), r"finance\.project_debt\.rate_pct_per_year"),
]


@st.composite
def missing_key(draw) -> Mutation:
    path, where = draw(st.sampled_from(REQUIRED))
    return Mutation(f"without {'.'.join(map(str, path))}", remover(path), where)


@st.composite
def unknown_site(draw) -> Mutation:
    name = draw(NAMES.filter(lambda n: n != "alpha"))
    return Mutation(f"sites_at_start.{name}", setter(GEN + ("sites_at_start", name), 1.0),
                    GEN_P + r"\.sites_at_start\." + re.escape(name))


def duplicate_phase(data: dict) -> None:
    phases = node_at(data, SITE + ("ai_phases",))
    if isinstance(phases, list) and phases:
        phases.append(copy.deepcopy(phases[0]))


MONTH_FIELDS: list[tuple[tuple, str]] = [
    (("start",), "start"),
    (SITE + ("energization", 0, "from_month"), SITE_P + r"\.energization\[0\]\.from_month"),
    (PHASE + ("earliest_signing_month",), PHASE_P + r"\.earliest_signing_month"),
]


@st.composite
def bad_month(draw) -> Mutation:
    kind = draw(st.sampled_from(["malformed", "after the horizon", "debt before the start"]))
    if kind == "after the horizon":  # the horizon ends 2029-06
        month = f"{draw(st.integers(2029, 2999)):04d}-{draw(st.integers(7, 12)):02d}"
        return Mutation(f"earliest_signing_month {month}", setter(PHASE + ("earliest_signing_month",), month),
                        PHASE_P + r"\.earliest_signing_month")
    if kind == "debt before the start":  # before 2026-07
        month = f"{draw(st.integers(1900, 2025)):04d}-{draw(st.integers(1, 12)):02d}"
        debt = {"id": "notes", "principal_usd": 1e8, "maturity_month": month}
        return Mutation(f"debt maturing {month}", setter(("finance", "existing_debts"), [debt]),
                        r"finance\.existing_debts\[notes\]\.maturity_month")
    path, where = draw(st.sampled_from(MONTH_FIELDS))
    year = draw(st.integers(0, 9999))
    month = draw(st.sampled_from([
        f"{year:04d}-{draw(st.sampled_from([0, 13, 19, 20, 99])):02d}", f"{year}-7", f"{year:04d}/07",
        f"{year:04d}-07-01", "", "July 2027", f"{year % 100:02d}-07", 202707,
    ]))
    return Mutation(f"{'.'.join(map(str, path))}={month!r}", setter(path, month), where)


FILE_OPTIONS = ["log_file", "solution_file", "write_solution_to_file", "write_model_file",
                "write_model_to_file", "mip_improving_solution_file", "write_iis_model_file",
                "read_solution_file", "read_basis_file", "write_basis_file", "write_presolved_model_file"]


@st.composite
def bad_highs_option(draw) -> Mutation:
    kind = draw(st.sampled_from(["file", "unknown", "owned", "value"]))
    if kind == "file":
        name = draw(st.sampled_from(FILE_OPTIONS))
        value: Any = draw(st.sampled_from(["out.txt", "/etc/passwd", "../x.lp", True]))
    elif kind == "unknown":
        name, value = "z_" + draw(NAMES), draw(st.sampled_from([True, 1, 0.5, "on"]))
    elif kind == "owned":
        name = draw(st.sampled_from(["time_limit", "mip_rel_gap", "threads", "random_seed",
                                     "output_flag", "log_to_console"]))
        value = draw(st.sampled_from([1, 0.5, True]))
    else:
        name, value = draw(st.sampled_from([
            ("mip_heuristic_effort", 1.5), ("mip_heuristic_effort", -0.1), ("mip_heuristic_effort", "x"),
            ("presolve", "always"), ("presolve", True), ("mip_allow_restart", "yes"),
            ("mip_allow_restart", 1), ("simplex_strategy", 7), ("simplex_strategy", 1.0),
            ("mip_pool_soft_limit", 0), ("mip_feasibility_tolerance", 0.1),
            ("mip_detect_symmetry", float("nan")), ("mip_heuristic_effort", float("inf")),
        ]))
    return Mutation(f"highs_options.{name}={value!r}", setter(("solver",), {"highs_options": {name: value}}),
                    r"solver\.highs_options\." + re.escape(name))


MUTATIONS = st.one_of(
    bad_number(), bad_growth(), unknown_key(), missing_key(), unknown_site(),
    st.just(Mutation("duplicate phase hall1", duplicate_phase, SITE_P + r"\.ai_phases")),
    bad_month(), bad_highs_option(),
)


def check_refused(mutations: list[Mutation]) -> None:
    data = copy.deepcopy(TINY)
    for mutation in mutations:
        mutation.apply(data)
    with tempfile.TemporaryDirectory() as folder:
        file, out = Path(folder) / "instance.yaml", Path(folder) / "out"
        file.write_text(yaml.safe_dump(data))
        result = RUNNER.invoke(app, ["solve", str(file), "-o", str(out), "-q"])
        text = result.output + (result.stderr or "")
        assert result.exit_code == 2, (mutations, text, result.exception)
        assert "Traceback" not in text, text
        # The problems are listed one per line: "  - PATH: message". Rich may wrap long lines,
        # so the path is looked for in the text with line breaks undone.
        flat = " ".join(text.split())
        assert any(re.search(rf"- {m.where}\b[^ ]*:", flat) for m in mutations), (mutations, flat)
        assert not out.exists()
        assert [p.name for p in Path(folder).iterdir()] == ["instance.yaml"]


FAST = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=2000, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(MUTATIONS, min_size=1, max_size=3))
def test_generated_bad_instances_exit_2_naming_a_field(mutations: list[Mutation]) -> None:
    check_refused(mutations)


@pytest.mark.slow
@SLOW
@given(st.lists(MUTATIONS, min_size=1, max_size=3))
def test_generated_bad_instances_exit_2_naming_a_field_2000(mutations: list[Mutation]) -> None:
    check_refused(mutations)


@pytest.mark.parametrize("mutation", [
    Mutation("one bad number", setter(("market", "btc_price_usd"), float("nan")), MARKET_P + "btc_price_usd"),
    Mutation("one file option", setter(("solver",), {"highs_options": {"log_file": "x.log"}}),
             r"solver\.highs_options\.log_file"),
])
def test_the_fuzz_check_sees_each_kind_of_failure(mutation: Mutation) -> None:
    """The property's assertions hold for refused instances and fail for a valid one."""
    check_refused([mutation])
    with pytest.raises(AssertionError):
        check_refused([Mutation("nothing wrong", lambda data: None, "name")])
