"""Sweeps with the base point's plan as a reference start (issue 17, "MIP starts carried from
the reference plan in sweeps").

Solves every point of a sweep spec in this process, one after another, the way a sweep worker
does (optimizer.sweep.worker.PointSolver), in one of two modes:

- ``none``: as shipped (each point's own LP dive, narrowing, HiGHS);
- ``ref``: the base point is solved first; at every other point its signing months are also
  valued in the point's LP (one LP with every phase fixed), and when that plan is worth more
  than the dive's, it replaces the dive's plan as the MIP start and as the value the narrowing
  prunes against. The reference is a fixed plan, so a point's result still depends only on
  its own numbers.

Usage: ``python -m benchmarks.sweep_reference_experiment MODE [--spec FILE] [--out F.jsonl]``;
one JSON line per point. Not a test; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TORNADO = REPO / "instances" / "sweeps" / "cleanspark_tornado.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["none", "ref"])
    parser.add_argument("--spec", type=Path, default=TORNADO)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--opt", action="append", default=[], metavar="NAME=VALUE",
                        help="a HiGHS option for every point's search (repeatable)")
    args = parser.parse_args(argv)

    import capalloc.optimizer.solving.solve as solve_module
    from capalloc.optimizer.solving.first_plan import Budget, _value, improve
    from capalloc.optimizer.sweep.expand import expand_file
    from capalloc.optimizer.sweep.worker import PointSolver

    original = solve_module.find_first_plan
    state: dict = {"reference": None, "record": {}}

    def patched(lp, phases, threads, **kwargs):
        found = original(lp, phases, threads, **kwargs)
        record = state["record"]
        record["dive_value"] = None if found is None else found.value
        reference = state["reference"]
        if found is None or found.plan is None or reference is None or args.mode == "none":
            return found
        windows = {p.key: len(p.columns) for p in phases}
        plan = {k: (m if m is None or m < windows.get(k, 0) else None) for k, m in reference.items()
                if k in windows}
        value = _value(found.lp, plan)
        record["reference_value"] = value
        if value is not None and (found.value is None or value > found.value):
            plan = improve(found.lp, plan, Budget(kwargs["improve_budget"]))
            value = _value(found.lp, plan)
            record["reference_improved"] = value
            found.plan, found.value, found.solution = plan, value, found.lp.highs.getSolution()
            record["used"] = "reference"
        else:
            _value(found.lp, found.plan)  # the LP back at the dive's plan for the narrowing
            record["used"] = "dive"
        return found

    solve_module.find_first_plan = patched
    solver = PointSolver(args.threads)
    with expand_file(args.spec) as expansion:
        points = expansion.points
        for index, point in enumerate(points):
            state["record"] = {}
            instance = _with_options(expansion.instance(point), args.opt)
            started = time.perf_counter()
            cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime
            row = solver.solve(point.point_id, instance, point.params)
            line = {
                "mode": args.mode, "point": point.point_id, "status": row.status,
                "npv_usd": row.npv_usd, "gap_pct": row.gap_pct,
                "solve_s": round(time.perf_counter() - started, 3),
                "cpu_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu, 3),
                "highs_s": round(row.highs_seconds, 3), **state["record"],
            }
            if index == 0:
                state["reference"] = _plan_of(solver)
                line["reference_plan"] = {f"{k[0]}/{k[1]}": m for k, m in state["reference"].items()}
            text = json.dumps(line)
            print(text, flush=True)
            if args.out:
                with args.out.open("a") as handle:
                    handle.write(text + "\n")
    return 0


def _with_options(instance, options: list[str]):
    if not options:
        return instance
    extra = dict(instance.solver.highs_options)
    for option in options:
        name, value = option.split("=", 1)
        extra[name] = json.loads(value) if value[:1] in "0123456789-tf" else value
    return instance.model_copy(update={"solver": instance.solver.model_copy(
        update={"highs_options": extra})})


def _plan_of(solver) -> dict:
    """The signing month (window index) of each phase in the worker's last solved point."""
    parametric = solver._parametric
    values = {column: var.value for column, var in parametric._columns}
    plan = {}
    for phase in parametric._phases:
        signed = [i for i, c in enumerate(phase.columns) if (values.get(int(c)) or 0.0) > 0.5]
        plan[phase.key] = signed[0] if signed else None
    return plan


if __name__ == "__main__":
    raise SystemExit(main())
