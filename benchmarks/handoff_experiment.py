"""Measured alternatives to the hand-off and the build, for the formulation's owner.

    python -m benchmarks.handoff_experiment [--sites 50] [--months 180]

Compares, on one synthetic instance (benchmarks.generate), each in a fresh model:
  A. build_model as it is, with Python's cyclic garbage collector on (today) and paused
     (gc.disable() around the build, what pyomo.common.gc_manager.PauseGC does);
  B. the hand-off as it is: Pyomo's persistent contrib interface, ``HighsSession``;
  C. one pass over the rows with Pyomo's LinearRepnVisitor (the walker of Pyomo's LP and NL
     writers) into CSR arrays + one ``highspy.passModel`` (no persistence: no Param updates);
and checks that C gives HiGHS the same model as B (sizes, and the same LP relaxation
objective). (LinearStandardFormCompiler would do C in one call but needs scipy, which is
not a dependency.) Nothing here changes optimizer/; it only measures what a change would buy.
"""

from __future__ import annotations

import argparse
import gc
import time

from benchmarks.generate import Size, generate_instance


def direct_handoff(model):
    """Rows compiled with Pyomo's LinearRepnVisitor (the LP/NL writers' walker), one pass,
    into CSR arrays, passed to a fresh highspy.Highs in one passModel call."""
    import highspy
    import numpy as np
    import pyomo.environ as pyo
    from pyomo.repn.linear import LinearRepnVisitor

    columns = list(model.component_data_objects(pyo.Var, active=True, descend_into=True))
    col_of = {id(v): j for j, v in enumerate(columns)}
    visitor = LinearRepnVisitor({})
    starts, index, value, lower, upper = [0], [], [], [], []
    for con in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        lb, body, ub = con.to_bounded_expression(evaluate_bounds=True)
        repn = visitor.walk_expression(body)
        for var_id, coef in repn.linear.items():
            if coef:
                index.append(col_of[var_id])
                value.append(coef)
        starts.append(len(index))
        constant = repn.constant * repn.multiplier if repn.multiplier != 1 else repn.constant
        lower.append(-highspy.kHighsInf if lb is None else lb - constant)
        upper.append(highspy.kHighsInf if ub is None else ub - constant)
    objective = next(model.component_data_objects(pyo.Objective, active=True))
    obj = visitor.walk_expression(objective.expr)
    cost = np.zeros(len(columns))
    for var_id, coef in obj.linear.items():
        cost[col_of[var_id]] += coef
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(columns), len(lower)
    lp.col_cost_ = cost
    lp.offset_ = float(obj.constant)
    lp.col_lower_ = np.array([-highspy.kHighsInf if v.lb is None else v.lb for v in columns])
    lp.col_upper_ = np.array([highspy.kHighsInf if v.ub is None else v.ub for v in columns])
    lp.row_lower_, lp.row_upper_ = np.array(lower), np.array(upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=np.float64)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(columns), len(lower)
    lp.integrality_ = [highspy.HighsVarType.kInteger if v.is_integer() else highspy.HighsVarType.kContinuous
                       for v in columns]
    lp.sense_ = (highspy.ObjSense.kMaximize if objective.sense == pyo.maximize
                 else highspy.ObjSense.kMinimize)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    return h


def relaxation(h) -> float:
    import highspy

    copy = highspy.Highs()
    copy.setOptionValue("output_flag", False)
    copy.passModel(h.getLp())
    copy.setOptionValue("solve_relaxation", True)
    copy.run()
    return copy.getInfo().objective_function_value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.handoff_experiment",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--months", type=int, default=180)
    parser.add_argument("--phases-per-site", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)

    from models import validate_instance_data
    from optimizer.formulation import build_model
    from optimizer.solve import HighsSession

    size = Size("experiment", args.sites, args.months, args.phases_per_site)
    instance = validate_instance_data(generate_instance(size))
    print(f"# {size.describe()}")
    for attempt in range(args.repeat):
        started = time.perf_counter()
        built = build_model(instance)
        build_gc = time.perf_counter() - started
        del built
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            built = build_model(instance)
            build_nogc = time.perf_counter() - started
        finally:
            gc.enable()
        started = time.perf_counter()
        session = HighsSession(built)
        persistent = time.perf_counter() - started
        started = time.perf_counter()
        direct = direct_handoff(built.model)
        compiled = time.perf_counter() - started
        print(f"run {attempt + 1}: build {build_gc:.2f} s (gc on), {build_nogc:.2f} s (gc paused); "
              f"hand-off {persistent:.2f} s (persistent), {compiled:.2f} s "
              "(LinearRepnVisitor rows + one passModel)")
        if attempt == 0:
            a, b = session.highs, direct
            print(f"  persistent: {a.getNumCol()} cols, {a.getNumRow()} rows, {a.getNumNz()} nnz; "
                  f"direct: {b.getNumCol()} cols, {b.getNumRow()} rows, {b.getNumNz()} nnz")
            print(f"  LP relaxation: persistent {relaxation(a):.6f}, direct {relaxation(b):.6f}")
        del session, direct, built
        gc.collect()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
