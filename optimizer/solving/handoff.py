"""How a built model reaches HiGHS, and how HiGHS's answer comes back to the Pyomo variables.

Two hand-offs give HiGHS the same model, column for column and row for row (tests/
test_handoff.py checks the arrays), so a solve follows the same search path either way:

- ``DirectHandoff`` compiles every row once with Pyomo's LinearRepnVisitor (the walker of
  Pyomo's LP and NL writers) into arrays and passes them in one ``passModel``. A plain solve
  uses it: at 50 sites x 180 months it takes ~1.6 s where the persistent interface took ~5.5 s
  (benchmarks/HISTORY.md, "Fourth pass").
- ``PersistentHandoff`` is Pyomo's persistent HiGHS interface, which remembers where each
  mutable Param sits so that a sweep can change knobs and re-solve without rebuilding
  (optimizer/solving/resolve.py).

The column order is the persistent interface's: variables in the order the rows first
mention them, then those only the objective mentions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import pyomo.core as pyo
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.core.base.constraint import ConstraintData
from pyomo.core.base.var import VarData
from pyomo.repn.linear import LinearRepnVisitor


@dataclass
class HighsOutcome:
    """What one HiGHS run reports, in Pyomo's vocabulary for the termination."""

    termination: TerminationCondition
    has_solution: bool
    objective: float | None
    bound: float | None
    cumulative_seconds: float  # HiGHS's run clock, which adds up over runs of one object


_TERMINATION = {
    highspy.HighsModelStatus.kOptimal: TerminationCondition.convergenceCriteriaSatisfied,
    highspy.HighsModelStatus.kInfeasible: TerminationCondition.provenInfeasible,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: TerminationCondition.infeasibleOrUnbounded,
    highspy.HighsModelStatus.kUnbounded: TerminationCondition.unbounded,
    highspy.HighsModelStatus.kTimeLimit: TerminationCondition.maxTimeLimit,
    highspy.HighsModelStatus.kIterationLimit: TerminationCondition.iterationLimit,
    highspy.HighsModelStatus.kSolutionLimit: TerminationCondition.iterationLimit,
    highspy.HighsModelStatus.kObjectiveBound: TerminationCondition.objectiveLimit,
    highspy.HighsModelStatus.kObjectiveTarget: TerminationCondition.objectiveLimit,
    highspy.HighsModelStatus.kInterrupt: TerminationCondition.interrupted,
}


def outcome_of(highs: highspy.Highs) -> HighsOutcome:
    """The run's status, incumbent and bound, read as Pyomo's interface reads them."""
    status = highs.getModelStatus()
    info = highs.getInfo()
    has_solution = info.primal_solution_status == 2
    termination = _TERMINATION.get(status, TerminationCondition.error
                                   if "Error" in str(status) else TerminationCondition.unknown)
    objective = info.objective_function_value if has_solution else None
    if info.mip_node_count == -1:  # solved as an LP: the optimum is its own bound
        optimal = termination == TerminationCondition.convergenceCriteriaSatisfied
        bound = info.objective_function_value if has_solution and optimal else None
    else:
        bound = info.mip_dual_bound
    return HighsOutcome(termination, has_solution, objective, bound, float(highs.getRunTime()))


@dataclass
class CompiledModel:
    """A Pyomo model as HiGHS arrays, with the Pyomo objects behind each column and row."""

    lp: highspy.HighsLp
    variables: list[VarData]
    constraints: list[ConstraintData]
    column_of: dict[int, int]  # id(variable) -> column


def compile_model(model: pyo.ConcreteModel) -> CompiledModel:
    """Every active row and the active objective of a linear model, as one HighsLp.

    A variable fixed with Pyomo's ``fix()`` stays a column, with both bounds at its value, as
    the persistent interface keeps it: the walk would otherwise fold it into the constants and
    leave callers that look up its column (the first plan's phase columns) without one."""
    fixed = [v for v in model.component_data_objects(pyo.Var, descend_into=True) if v.fixed]
    for var in fixed:
        var.unfix()
    try:
        compiled = _compile(model)
    finally:
        for var in fixed:
            var.fix()
    if fixed:
        lower, upper = np.array(compiled.lp.col_lower_), np.array(compiled.lp.col_upper_)
        for var in fixed:
            column = compiled.column_of.get(id(var))
            if column is not None:
                lower[column] = upper[column] = var.value
        compiled.lp.col_lower_, compiled.lp.col_upper_ = lower, upper
    return compiled


def _compile(model: pyo.ConcreteModel) -> CompiledModel:
    visitor = LinearRepnVisitor({})
    known = visitor.var_map  # id -> variable, filled as the walk meets them
    column_of: dict[int, int] = {}
    variables: list[VarData] = []

    def column(var_id: int) -> int:
        found = column_of.get(var_id)
        if found is None:
            found = column_of[var_id] = len(variables)
            variables.append(known[var_id])
        return found

    constraints: list[ConstraintData] = []
    starts, index, value, lower, upper = [0], [], [], [], []
    for constraint in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        low, body, high = constraint.to_bounded_expression(evaluate_bounds=True)
        repn = visitor.walk_expression(body)
        if repn.nonlinear is not None:
            raise ValueError(f"constraint {constraint.name} is not linear")
        for var_id, coefficient in repn.linear.items():
            index.append(column(var_id))
            value.append(coefficient)
        starts.append(len(index))
        lower.append(-highspy.kHighsInf if low is None else low - repn.constant)
        upper.append(highspy.kHighsInf if high is None else high - repn.constant)
        constraints.append(constraint)

    objectives = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    if len(objectives) != 1:
        raise ValueError(f"expected one active objective, found {len(objectives)}")
    objective = objectives[0]
    repn = visitor.walk_expression(objective.expr)
    if repn.nonlinear is not None:
        raise ValueError("the objective is not linear")
    cost_terms = [(column(var_id), coefficient) for var_id, coefficient in repn.linear.items()]
    cost = np.zeros(len(variables))
    for j, coefficient in cost_terms:
        cost[j] = coefficient

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(variables), len(constraints)
    lp.col_cost_ = cost
    lp.offset_ = float(repn.constant)
    bounds = [v.bounds for v in variables]
    lp.col_lower_ = np.array([-highspy.kHighsInf if lb is None else lb for lb, _ in bounds], dtype=np.float64)
    lp.col_upper_ = np.array([highspy.kHighsInf if ub is None else ub for _, ub in bounds], dtype=np.float64)
    lp.row_lower_ = np.array(lower, dtype=np.float64)
    lp.row_upper_ = np.array(upper, dtype=np.float64)
    lp.a_matrix_ = _rowwise(starts, index, value, len(variables))
    lp.integrality_ = [highspy.HighsVarType.kInteger if v.is_integer() else highspy.HighsVarType.kContinuous
                       for v in variables]
    lp.sense_ = highspy.ObjSense.kMaximize if objective.sense == pyo.maximize else highspy.ObjSense.kMinimize
    return CompiledModel(lp, variables, constraints, column_of)


def _rowwise(starts: list[int], index: list[int], value: list[float], columns: int):
    """The rows as HiGHS's row-wise matrix: what the persistent interface's addRows leaves."""
    matrix = highspy.HighsSparseMatrix()
    matrix.format_ = highspy.MatrixFormat.kRowwise
    matrix.num_col_, matrix.num_row_ = columns, len(starts) - 1
    matrix.start_ = np.asarray(starts, dtype=np.int32)
    matrix.index_ = np.asarray(index, dtype=np.int32)
    matrix.value_ = np.asarray(value, dtype=np.float64)
    return matrix


def quiet_highs() -> highspy.Highs:
    """A HiGHS that writes nothing to the console (a log_file option still gets the log)."""
    highs = highspy.Highs()
    highs.setOptionValue("log_to_console", False)
    return highs


class DirectHandoff:
    """The model passed to a fresh HiGHS in one call; no Param updates afterwards."""

    def __init__(self, model: pyo.ConcreteModel):
        compiled = compile_model(model)
        self.variables = compiled.variables
        self.constraints = compiled.constraints
        self.column_of = compiled.column_of
        self.highs = quiet_highs()
        self.highs.passModel(compiled.lp)

    def solve(self, options: dict[str, Any]) -> HighsOutcome:
        for name, option in options.items():
            self.highs.setOptionValue(name, option)
        self.highs.HandleKeyboardInterrupt = True
        self.highs.run()
        return outcome_of(self.highs)

    def load_values(self) -> None:
        """The last run's values into the Pyomo variables."""
        values = self.highs.getSolution().col_value
        for var, x in zip(self.variables, values, strict=True):
            var.set_value(x, skip_validation=True)


class PersistentHandoff:
    """Pyomo's persistent HiGHS interface: knob Params can change between runs (update())."""

    def __init__(self, model: pyo.ConcreteModel):
        import pyomo.environ  # noqa: F401  (registers the solver plugins with the factory)
        from pyomo.contrib.solver.common.factory import SolverFactory

        self.model = model
        self.solver = SolverFactory("highs")
        self.solver.set_instance(model)
        self.highs = self.solver._solver_model
        self._results = None

    @property
    def column_of(self) -> dict[int, int]:
        return self.solver._pyomo_var_to_solver_var_map

    @property
    def variables(self) -> list[VarData]:
        by_column = sorted(self.solver._pyomo_var_to_solver_var_map.items(), key=lambda item: item[1])
        return [self.solver._vars[var_id][0] for var_id, _ in by_column]

    @property
    def constraints(self) -> list[ConstraintData]:
        return sorted(self.solver._pyomo_con_to_solver_con_map,
                      key=self.solver._pyomo_con_to_solver_con_map.__getitem__)

    def update(self) -> None:
        """Push the model's changed Params and bounds to HiGHS."""
        self.solver.update()

    def solve(self, options: dict[str, Any]) -> HighsOutcome:
        options = dict(options)
        self._results = self.solver.solve(
            self.model,
            time_limit=options.pop("time_limit", None), rel_gap=options.pop("mip_rel_gap", None),
            threads=options.pop("threads", None), solver_options=options,
            raise_exception_on_nonoptimal_result=False, load_solutions=False,
        )
        return outcome_of(self.highs)

    def load_values(self) -> None:
        self._results.solution_loader.load_vars()
