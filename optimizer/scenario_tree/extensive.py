"""The extensive form of a scenario tree: one block per scenario, each built by the flat
builder from that scenario's own instance (optimizer.scenario_tree.split), tied together by
non-anticipativity equalities and weighed by one objective (DESIGN.md, "Trees").

Non-anticipativity is found from the variables themselves, not written per concern: every
variable of a block is indexed by a month (its one integer index) and, for operations, by
the block's scenario (the last index); investment and financing variables carry no
scenario. A variable of month t is common to two scenarios when t is before the month
their histories part (split.operations_common_until, split.investment_common_until).
`--decompose ph` (mpi-sppy) can reuse ``scenario_model`` and ``nonanticipativity_map``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyomo.core as pyo

from capalloc.models.instance import Instance
from capalloc.optimizer.formulation import BuiltModel, build_model
from capalloc.optimizer.formulation.context import linear
from capalloc.optimizer.scenario_tree import split

NOT_MONTH_INDEXED = {
    "signed_in_year": "indexed by calendar year; defined by an equality from signed_by, which is linked",
}
"""Variables whose integer index is not a month, and why linking them is not needed."""


def scenario_model(instance: Instance, scenario: str, *, elastic_cash: bool = False) -> BuiltModel:
    """The single-scenario model of one scenario of a tree (its market, power prices and lead
    times, probability 1): the sub-problem of the extensive form and of progressive hedging."""
    return build_model(split.scenario_instance(instance, scenario), elastic_cash=elastic_cash)


@dataclass(frozen=True)
class Link:
    """One non-anticipativity equality: ``scenario``'s variable equals ``reference``'s.

    ``component`` and ``key`` name the variable in the scenario's own model (the key as in
    that model, with its scenario name); ``month`` is the decision's month. For signed_by the
    sides are the 'signed by month t' indicators (optimizer.formulation.ai_phases.SignedBy.at),
    which may be a variable of another month of the window, or 0 before it."""

    scenario: str
    reference: str
    component: str
    key: Any
    month: int


@dataclass
class TreeContext:
    """What the solve pipeline reads of a built model's context: no phase columns (the
    first-plan search works on one flat model; the extensive form starts from HiGHS's own)."""

    instance: Instance
    phase_windows: list = field(default_factory=list)


@dataclass
class TreeModel:
    """The extensive form: the parent model, each scenario's built block, and the links."""

    model: pyo.ConcreteModel
    context: TreeContext
    instance: Instance
    blocks: dict[str, BuiltModel]
    links: list[Link]
    signature: Any = None


def _month_of(component: str, key: tuple) -> int | None:
    """The month index of a variable (None: not month-indexed or exempt)."""
    if component in NOT_MONTH_INDEXED:
        return None
    months = [k for k in key if isinstance(k, int) and not isinstance(k, bool)]
    if len(months) > 1:
        raise ValueError(f"{component}{list(key)} has {len(months)} integer indices: say which is the month "
                         "in optimizer.scenario_tree.extensive")
    return months[0] if months else None


def _with_scenario(key: tuple, scenario: str) -> tuple:
    return (*key[:-1], scenario)


def _variables(built: BuiltModel, scenario: str) -> dict[int, list[tuple[str, tuple, bool]]]:
    """Month -> (component, key, operational) of every linked variable of a block."""
    out: dict[int, list[tuple[str, tuple, bool]]] = {}
    for var in built.model.component_objects(pyo.Var, descend_into=False):
        if var.local_name == "signed_by":
            continue  # linked through its 'signed by month t' indicators, below
        for key in var:  # a one-dimensional Var's keys are plain values, kept as they are
            as_tuple = key if isinstance(key, tuple) else (key,)
            month = _month_of(var.local_name, as_tuple)
            if month is None:
                continue
            operational = as_tuple[-1] == scenario
            out.setdefault(month, []).append((var.local_name, key, operational))
    return out


def nonanticipativity_map(instance: Instance, blocks: dict[str, BuiltModel]) -> list[Link]:
    """Every equality that makes decisions of shared history common (DESIGN, "Trees"): each
    scenario's variable of month t equals that of the first scenario sharing its node at t
    (operations), or of the first scenario overall for investment in a flat list."""
    names = split.scenario_names(instance)
    T = instance.horizon_months
    links: list[Link] = []
    variables = {w: _variables(blocks[w], w) for w in names}
    for index, w in enumerate(names):
        ops = {r: split.operations_common_until(instance, r, w) for r in names[:index]}
        inv = {r: split.investment_common_until(instance, r, w) for r in names[:index]}
        for t in range(T):
            ops_ref = next((r for r in names[:index] if ops[r] > t), None)
            inv_ref = next((r for r in names[:index] if inv[r] > t), None)
            for component, key, operational in variables[w].get(t, []):
                reference = ops_ref if operational else inv_ref
                if reference is not None:
                    links.append(Link(w, reference, component, key, t))
            if inv_ref is not None:
                links += _signing_links(blocks, w, inv_ref, t)
    return links


def _signing_links(blocks: dict[str, BuiltModel], w: str, reference: str, t: int) -> list[Link]:
    """Links of the 'signed by month t' indicators of every phase: windows differ by lead
    time, so an indicator is the window's last variable after it and 0 before it."""
    ours, theirs = blocks[w].context, blocks[reference].context
    links = []
    for window in ours.phase_windows:
        other = next(x for x in theirs.phase_windows if x.key == window.key)
        inside = [x for x in (window, other) if x.signable and x.first <= t <= x.last]
        if inside:
            links.append(Link(w, reference, "signed_by", window.key, t))
    return links


def _side(built: BuiltModel, link: Link, scenario: str):
    """The variable (or None for 0) of one side of a link in ``built``."""
    if link.component == "signed_by":
        return built.context.signed_by.at(link.key, link.month)
    key = link.key
    if isinstance(key, tuple) and key[-1] == link.scenario:
        key = _with_scenario(key, scenario)
    component = getattr(built.model, link.component)
    return component[key] if key in component else None  # noqa: SIM401 (an indexed Var)


def link_sides(tree_blocks: dict[str, BuiltModel], link: Link) -> tuple[Any, Any]:
    """(scenario's side, reference's side) of a link, each a variable or None for 0."""
    return (_side(tree_blocks[link.scenario], link, link.scenario),
            _side(tree_blocks[link.reference], link, link.reference))


def build_extensive_form(instance: Instance, *, elastic_cash: bool = False) -> TreeModel:
    """The extensive form of a tree instance, objective (1 - w) E[NPV] + w CVaR_alpha(NPV)
    plus each block's tie-break weighed by its probability."""
    names = split.scenario_names(instance)
    p = split.probabilities(instance)
    parent = pyo.ConcreteModel(name=instance.name)
    blocks: dict[str, BuiltModel] = {}
    for w in names:
        built = scenario_model(instance, w, elastic_cash=elastic_cash)
        built.model.npv.deactivate()
        parent.add_component(f"scenario_{w}", built.model)
        blocks[w] = built
    links = nonanticipativity_map(instance, blocks)
    rows = []
    for link in links:
        ours, theirs = link_sides(blocks, link)
        if ours is None and theirs is None:
            continue
        terms = [(1.0, ours)] if ours is not None else []
        if theirs is not None:
            terms.append((-1.0, theirs))
        rows.append(linear(terms))
    parent.nonanticipativity = pyo.Constraint(range(len(rows)), rule=lambda m, i: rows[i] == 0.0,
                                              doc="decisions of shared history are common")
    risk = instance.risk
    weight = risk.cvar_weight if risk is not None else 0.0
    npv = {w: blocks[w].model.npv_without_tie_break for w in names}
    tie_break = sum(p[w] * (blocks[w].model.npv.expr - npv[w].expr) for w in names)
    expected = sum(p[w] * npv[w] for w in names)
    if weight > 0.0:
        alpha = risk.cvar_alpha
        parent.cvar_eta = pyo.Var(domain=pyo.Reals, doc="value at risk (model units)")
        parent.cvar_excess = pyo.Var(names, domain=pyo.NonNegativeReals,
                                     doc="shortfall of a scenario's NPV below the value at risk")
        parent.cvar_rows = pyo.Constraint(
            names, rule=lambda m, w: m.cvar_excess[w] >= m.cvar_eta - npv[w],
            doc="Rockafellar-Uryasev: excess >= eta - NPV")
        cvar = parent.cvar_eta - sum(p[w] * parent.cvar_excess[w] for w in names) / (1.0 - alpha)
        parent.cvar = pyo.Expression(expr=cvar)
        risk_objective = (1.0 - weight) * expected + weight * cvar
    else:
        risk_objective = expected
    parent.objective_without_tie_break = pyo.Expression(expr=risk_objective)
    parent.objective = pyo.Objective(expr=risk_objective + tie_break, sense=pyo.maximize)
    return TreeModel(parent, TreeContext(instance), instance, blocks, links)
