"""Measured alternatives to the hand-off and the build, for the formulation's owner.

    python -m benchmarks.handoff_experiment [--sites 50] [--months 180]

Compares, on one synthetic instance (benchmarks.generate), each in a fresh model:
  A. build_model as it is, with Python's cyclic garbage collector on (today) and paused
     (gc.disable() around the build, what pyomo.common.gc_manager.PauseGC does);
  B. Pyomo's persistent contrib interface (``optimizer.solving.handoff.PersistentHandoff``, what
     sweeps use);
  C. one pass over the rows with Pyomo's LinearRepnVisitor into arrays + one
     ``highspy.passModel`` (``optimizer.solving.handoff.DirectHandoff``, what a plain solve uses
     since the fourth pass; it was first measured here);
and checks that C gives HiGHS the same model as B (sizes, and the same LP relaxation
objective; tests/test_handoff.py checks the arrays themselves).
"""

from __future__ import annotations

import argparse
import gc
import time

from benchmarks.generate import Size, generate_instance


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

    from capalloc.models import validate_instance_data
    from capalloc.optimizer.formulation import build_model
    from capalloc.optimizer.solving.handoff import DirectHandoff, PersistentHandoff

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
        session = PersistentHandoff(built.model)
        persistent = time.perf_counter() - started
        started = time.perf_counter()
        direct = DirectHandoff(built.model).highs
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
