"""`--decompose ph`: mpi-sppy's progressive hedging over a scenario tree, HiGHS solving each
scenario's own model (issue 15 item 7).

Each scenario's sub-problem is the tree code's single-scenario model
(extensive.scenario_model). Its non-anticipative variables per tree node are the ones the
extensive form links (extensive.nonanticipativity_map reads the same month indices): at a
node, every variable of the node's months that its scenarios share, plus the phases'
'signed by month t' indicators; one mpi-sppy stage per branching month. A CVaR term is
split the Rockafellar-Uryasev way: the value at risk is a root decision, each scenario's
excess its own.

PH's consensus is not a plan by itself: its integer decisions (signings, orders, halls)
are rounded from the node averages and fixed, and the extensive form is solved again with
them fixed (an LP in the shared continuous decisions plus each scenario's own integers), so
the written plan is exact, its objective PH's, audited like any other.

mpi-sppy is an optional extra (``pip install capalloc[ph]``); under ``mpiexec -n K`` the
scenarios are spread over K ranks and rank 0 writes the plan, otherwise one process runs
every scenario.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Any

import pyomo.core as pyo

from capalloc.models.common import month_ordinal
from capalloc.models.instance import Instance
from capalloc.optimizer.formulation.ai_phases import signing_windows
from capalloc.optimizer.scenario_tree import split
from capalloc.optimizer.scenario_tree.extensive import TreeModel, _variables, scenario_model

INSTALL_HINT = "--decompose ph needs mpi-sppy and mpi4py: pip install capalloc[ph]"


class PHUnavailable(RuntimeError):
    """mpi-sppy (or mpi4py) is not installed."""


class PHInfeasible(RuntimeError):
    """A scenario's own model has no plan (mpi-sppy stops at its first iteration)."""


@dataclass(frozen=True)
class PHSettings:
    """Progressive hedging's settings (mpi-sppy's option names in ph_options).

    rho is in model units ($M) per unit of a decision. $10k: a signing binary's multiplier
    moves by at most $5k an iteration, finer than the few $10k a month's delay of a signing
    is worth, so the scenarios do not flip together and cycle (at $100k and $1M the test tree's
    two scenarios swap their signing every iteration and PH never agrees).
    ``convergence`` is mpi-sppy's convthresh: the probability-weighted mean distance of the
    scenarios' decisions from their node average. PH also stops once every integer decision
    has agreed across its node for ``integer_patience`` iterations in a row (IntegerConsensus):
    the continuous ones are then re-optimized exactly by the fixed extensive form. A CVaR's
    value at risk gets its own rho, ``value_at_risk_rho`` ($M per $M: at the signings' $10k it
    converges too slowly and PH settles the root signings before it)."""

    rho: float = 0.01
    max_iterations: int = 100
    convergence: float = 1e-4
    subproblem_gap: float = 1e-6
    integer_patience: int = 5
    continuous_settled: float = 1e-2
    value_at_risk_rho: float = 1.0


def available() -> bool:
    try:
        _import_mpisppy()
    except PHUnavailable:
        return False
    return True


def _import_mpisppy():
    """mpi-sppy's PH and ScenarioNode; its import prints a timer line on stdout, kept off."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import mpi4py  # noqa: F401
            from mpisppy.opt.ph import PH
            from mpisppy.scenario_tree import ScenarioNode
    except ImportError as error:
        raise PHUnavailable(f"{INSTALL_HINT} ({error})") from None
    return PH, ScenarioNode


def mpi_rank_and_size() -> tuple[int, int]:
    """This process's MPI rank and the number of ranks ((0, 1) outside mpiexec)."""
    _import_mpisppy()
    from mpisppy.MPI import COMM_WORLD

    return COMM_WORLD.Get_rank(), COMM_WORLD.Get_size()


@dataclass(frozen=True)
class Node:
    """A non-leaf node of mpi-sppy's tree: its name (ROOT, ROOT_0, ROOT_0_1...), stage (1 at
    the root), months [first, end), conditional probability and scenarios."""

    name: str
    stage: int
    first: int
    end: int
    cond_prob: float
    scenarios: tuple[str, ...]


@dataclass(frozen=True)
class TreeShape:
    """The tree as mpi-sppy wants it: scenarios in node order (each node's contiguous), every
    node name (None for two stages) and, per scenario, its non-leaf nodes by stage."""

    scenarios: list[str]
    all_nodenames: list[str] | None
    nodes_of: dict[str, list[Node]]
    flat: bool


def tree_shape(instance: Instance) -> TreeShape:
    """Stages from the branching months: the root holds months before the first, a node
    opened at branching month b_k holds [b_k, b_k+1). A flat list is two stages whose root
    holds every month's investment decisions (operations are each scenario's own)."""
    names = split.scenario_names(instance)
    p = split.probabilities(instance)
    branching = split.branching_indices(instance)
    T = instance.horizon_months
    if not branching:
        root = Node("ROOT", 1, 0, T, 1.0, tuple(names))
        return TreeShape(names, None, {w: [root] for w in names}, True)
    paths = split.paths(instance)
    bounds = [0, *branching, T]
    ids: dict[tuple[str, ...], str] = {(): "ROOT"}
    children: dict[tuple[str, ...], list[str]] = {}
    for w in names:
        for k in range(1, len(branching) + 1):
            prefix, label = tuple(paths[w][:k - 1]), paths[w][k - 1]
            kids = children.setdefault(prefix, [])
            if label not in kids:
                kids.append(label)
            ids.setdefault((*prefix, label), f"{ids[prefix]}_{kids.index(label)}")
    order = sorted(names, key=lambda w: [children[tuple(paths[w][:k])].index(paths[w][k])
                                         for k in range(len(branching))])
    members: dict[tuple[str, ...], list[str]] = {}
    for w in order:
        for k in range(len(branching) + 1):
            members.setdefault(tuple(paths[w][:k]), []).append(w)
    leaf_prefixes = [prefix for prefix in members if len(prefix) == len(branching)]
    for prefix in leaf_prefixes:
        if len(members[prefix]) > 1:
            raise ValueError(f"scenarios {', '.join(members[prefix])} share every tree_path label: "
                             "--decompose ph needs one scenario per leaf of the tree")

    def node(prefix: tuple[str, ...]) -> Node:
        k = len(prefix)
        mass = sum(p[w] for w in members[prefix])
        parent = sum(p[w] for w in members[prefix[:-1]]) if k else 1.0
        return Node(ids[prefix], k + 1, bounds[k], bounds[k + 1], mass / parent, tuple(members[prefix]))

    nodes_of = {w: [node(tuple(paths[w][:k])) for k in range(len(branching))] for w in order}
    all_nodenames = sorted(ids.values(), key=lambda n: [int(x) for x in n.split("_")[1:]])
    return TreeShape(order, None if len(branching) == 1 else all_nodenames, nodes_of, False)


def _generic(key: Any, scenario: str) -> Any:
    """A variable's key with its scenario index made generic, to order keys across scenarios."""
    if isinstance(key, tuple) and key and key[-1] == scenario:
        return (*key[:-1], "*")
    return key


def node_nonants(instance: Instance, built, scenario: str, node: Node, flat: bool) -> list:
    """The scenario's variables that must agree across ``node``'s scenarios, in an order every
    scenario of the node shares: by month, component and key; then the 'signed by month t'
    indicators of each phase from its first signable month to the last of any scenario's
    window in the node (after its own window, a scenario's indicator is its last variable)."""
    by_month = _variables(built, scenario)
    out = []
    for t in range(node.first, node.end):
        rows = [(c, _generic(k, scenario), k) for c, k, operational in by_month.get(t, [])
                if not (flat and operational)]
        rows.sort(key=lambda row: (row[0], repr(row[1])))
        out += [getattr(built.model, c)[k] for c, _, k in rows]
    widest = _widest_windows(instance, node.scenarios)
    for key in sorted(widest):  # phases no scenario of the node may sign have no indicators
        first, last = widest[key]
        for t in range(max(first, node.first), min(last + 1, node.end)):
            var = built.context.signed_by.at(key, t)
            if var is None:
                raise ValueError(f"phase {key}: no 'signed by' indicator in month {t} of {scenario}")
            out.append(var)
    return out


def _widest_windows(instance: Instance, scenarios: tuple[str, ...]) -> dict[tuple[str, str], tuple[int, int]]:
    """Per phase, its first signable month and the last of any of the scenarios' windows
    (lead times differ by scenario; DESIGN: a phase is signable while s + L <= T - 1)."""
    start = month_ordinal(instance.start)
    widest: dict[tuple[str, str], tuple[int, int]] = {}
    for w in scenarios:
        own = split.scenario_instance(instance, w)
        for window in signing_windows(own, own.horizon_months, lambda m: month_ordinal(m) - start):
            if not window.signable:
                continue
            first, last = widest.get(window.key, (window.first, window.last))
            widest[window.key] = (min(first, window.first), max(last, window.last))
    return widest


def _risk_objective(instance: Instance, model: pyo.ConcreteModel, is_root_var) -> Any:
    """The scenario's share of the extensive form's objective: (1 - w) NPV + w (eta - excess /
    (1 - alpha)) + its tie-break; eta (the value at risk) is a root decision."""
    risk = instance.risk
    weight = risk.cvar_weight if risk is not None else 0.0
    if weight <= 0.0:
        return model.npv.expr
    model.ph_cvar_eta = pyo.Var(domain=pyo.Reals, doc="value at risk (model units), a root decision")
    model.ph_cvar_excess = pyo.Var(domain=pyo.NonNegativeReals, doc="NPV's shortfall below it")
    model.ph_cvar_row = pyo.Constraint(expr=model.ph_cvar_excess >= model.ph_cvar_eta
                                       - model.npv_without_tie_break)
    is_root_var(model.ph_cvar_eta)
    tie_break = model.npv.expr - model.npv_without_tie_break.expr
    cvar = model.ph_cvar_eta - model.ph_cvar_excess / (1.0 - risk.cvar_alpha)
    return (1.0 - weight) * model.npv_without_tie_break + weight * cvar + tie_break


def scenario_creator(scenario: str, instance: Instance | None = None, shape: TreeShape | None = None):
    """mpi-sppy's scenario creator: the scenario's own model with its node list attached."""
    _, ScenarioNode = _import_mpisppy()
    built = scenario_model(instance, scenario)
    model = built.model
    root_extra: list = []
    objective = _risk_objective(instance, model, root_extra.append)
    model.npv.deactivate()
    model.ph_objective = pyo.Objective(expr=objective, sense=pyo.maximize)
    model._mpisppy_probability = split.probabilities(instance)[scenario]
    node_list = []
    for node in shape.nodes_of[scenario]:
        nonants = node_nonants(instance, built, scenario, node, shape.flat)
        if node.stage == 1:
            nonants += root_extra
        parent = None if node.stage == 1 else node.name.rsplit("_", 1)[0]
        cost = objective if node.stage == 1 else 0.0
        node_list.append(ScenarioNode(node.name, node.cond_prob, node.stage, cost, nonants, model,
                                      parent_name=parent))
    model._mpisppy_node_list = node_list
    return model


def _options(settings, ph: PHSettings) -> dict:
    highs = {"mip_rel_gap": ph.subproblem_gap, "threads": 1, "random_seed": settings.random_seed,
             "time_limit": settings.time_limit_seconds}
    return {
        "solver_name": "appsi_highs", "PHIterLimit": ph.max_iterations, "defaultPHrho": ph.rho,
        "convthresh": ph.convergence, "verbose": False, "display_progress": False,
        "display_timing": False,
        "solver_options_layers": [{"when": "default", "options": highs}],
        # HiGHS takes no quadratic term in a MIP: the proximal term is linearized (mpi-sppy).
        "linearize_proximal_terms": True, "linearize_binary_proximal_terms": True,
        "proximal_linearization_tolerance": 1e-2,
        # Names differ by design (a variable's scenario index; a 'signed by' indicator past a
        # shorter window is that window's last month): node_nonants orders them by generic key.
        "turn_off_names_check": True,
        # --time-limit bounds PH's iterations too (checked after each); the fixed extensive
        # form then gets its own.
        "time_limit": settings.time_limit_seconds,
    }


def _integer_consensus(patience: int, continuous: float):
    """An mpi-sppy converger: converged once every integer non-anticipative variable of every
    scenario equals its node average (so the node agrees) for ``patience`` iterations while
    PH's own metric of all decisions is below ``continuous`` (so they are not agreeing on the
    integers by chance while, say, the value at risk is still far apart)."""
    from mpisppy.convergers.converger import Converger

    class IntegerConsensus(Converger):
        def __init__(self, opt):
            super().__init__(opt)
            self.opt = opt
            self.streak = 0

        def is_converged(self) -> bool:
            worst = 0.0
            for model in self.opt.local_scenarios.values():
                xbars = model._mpisppy_model.xbars
                for index, var in model._mpisppy_data.nonant_indices.items():
                    if var.is_integer() or var.is_binary():
                        worst = max(worst, abs(pyo.value(var) - pyo.value(xbars[index])))
            worst = self.opt.mpicomm.allreduce(worst, op=_mpi_max())
            self.conv = worst
            settled = self.opt.conv is not None and self.opt.conv < continuous
            self.streak = self.streak + 1 if worst < 1e-6 and settled else 0
            return self.streak >= patience

    return IntegerConsensus


def _rho_setter(ph: PHSettings):
    """The value at risk's own rho (it is worth a dollar per dollar, unlike a signing binary)."""

    def rhos(model) -> list[tuple[int, float]]:
        eta = getattr(model, "ph_cvar_eta", None)
        return [] if eta is None else [(id(eta), ph.value_at_risk_rho)]

    return rhos


def _mpi_max():
    from mpisppy import MPI

    return MPI.MAX


@dataclass
class PHResult:
    """What rank 0 keeps of a PH run: each scenario's integer decisions at PH's last iteration
    by node position ((node, i) -> scenario -> (component, key, rounded value)), PH's
    iterations, its convergence metric and the integer consensus's largest disagreement."""

    integers: dict[tuple[str, int], dict[str, tuple[str, Any, float]]]
    iterations: int
    convergence: float
    disagreement: float

    def agreed(self) -> dict[tuple[str, str, Any], float]:
        """(scenario, component, key) -> value of every integer decision its node agrees on."""
        out: dict[tuple[str, str, Any], float] = {}
        for by_scenario in self.integers.values():
            values = {value for _, _, value in by_scenario.values()}
            if len(values) == 1:
                out.update({(w, c, k): v for w, (c, k, v) in by_scenario.items()})
        return out


def run_ph(instance: Instance, settings, ph_settings: PHSettings | None = None) -> PHResult | None:
    """Progressive hedging on every rank; rank 0 gets the PHResult, other ranks None."""
    PH, _ = _import_mpisppy()
    ph_settings = ph_settings or PHSettings()
    shape = tree_shape(instance)
    with contextlib.redirect_stdout(io.StringIO()):  # mpi-sppy's timer lines
        ph = PH(_options(settings, ph_settings), shape.scenarios, scenario_creator,
                all_nodenames=shape.all_nodenames,
                ph_converger=_integer_consensus(ph_settings.integer_patience,
                                                ph_settings.continuous_settled),
                rho_setter=_rho_setter(ph_settings),
                scenario_creator_kwargs={"instance": instance, "shape": shape})
        try:
            convergence, _, _ = ph.ph_main()
        except RuntimeError as error:  # mpi-sppy's word for a scenario without a plan
            if "Infeasibility detected" in str(error):
                raise PHInfeasible(str(error)) from None
            raise
    local = []
    for name, model in ph.local_scenarios.items():
        for index, var in model._mpisppy_data.nonant_indices.items():
            if var.is_integer() or var.is_binary():
                local.append((index, name, var.parent_component().local_name, var.index(),
                              float(round(pyo.value(var)))))
    gathered = ph.mpicomm.gather(local, root=0)
    if ph.cylinder_rank != 0:
        return None
    integers: dict[tuple[str, int], dict[str, tuple[str, Any, float]]] = {}
    for part in gathered:
        for index, name, component, key, value in part:
            integers.setdefault(index, {})[name] = (component, key, value)
    disagreement = ph.convobject.conv if ph.convobject is not None else math.nan
    return PHResult(integers, int(ph._PHIter), float(convergence if convergence is not None else math.nan),
                    float(disagreement if disagreement is not None else math.nan))


def fix_integer_decisions(tree: TreeModel, fixed: dict[tuple[str, str, Any], float]) -> int:
    """Bound each integer decision PH's node agreed on to its value (lower = upper bound, so
    the solve hands HiGHS the same columns); a disputed one is left to the extensive form.
    Returns how many were fixed."""
    count = 0
    for (scenario, component, key), value in sorted(fixed.items(), key=repr):
        var = getattr(tree.blocks[scenario].model, component)[key]
        var.setlb(value)
        var.setub(value)
        count += 1
    return count
