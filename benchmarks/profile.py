"""Where build and hand-off time goes, for one synthetic size.

    python -m benchmarks.profile [--sites 50] [--months 180] [--phases-per-site 2] [--top 25]

Prints: the time of each formulation stage (builder.STAGES, timed one by one), the
constraint and variable blocks with their row, column and nonzero counts (rows mapped back
from HiGHS to Pyomo components), the cumulative cProfile of build_model and of the hand-off
(Pyomo's persistent HiGHS set_instance), each restricted to capalloc's own functions and to
the top functions overall. Profiling slows Python down ~1.5-2x; compare shares, not seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections import Counter

from benchmarks.generate import Size, generate_instance


def _timed_stages():
    """Replace builder.STAGES by timed wrappers; return the dict they fill."""
    import capalloc.optimizer.formulation.builder as builder

    seconds: dict[str, float] = {}

    def wrap(stage):
        def timed(model, ctx):
            started = time.perf_counter()
            stage(model, ctx)
            seconds[stage.__name__] = seconds.get(stage.__name__, 0.0) + time.perf_counter() - started

        timed.__name__ = stage.__name__
        return timed

    original = builder.STAGES
    builder.STAGES = tuple(wrap(s) for s in original)
    return seconds, lambda: setattr(builder, "STAGES", original)


def block_counts(session) -> list[tuple[str, int, int]]:
    """(constraint component, rows, nonzeros) from HiGHS's matrix, rows mapped to components."""
    import highspy

    matrix = session.highs.getLp().a_matrix_
    if matrix.format_ == highspy.MatrixFormat.kRowwise:
        start = list(matrix.start_)
        row_nnz = {r: start[r + 1] - start[r] for r in range(len(start) - 1)}
    else:
        row_nnz = Counter(list(matrix.index_))
    rows: Counter = Counter()
    nnz: Counter = Counter()
    for row, con in enumerate(session.handoff.constraints):
        name = con.parent_component().name
        rows[name] += 1
        nnz[name] += row_nnz.get(row, 0)
    return sorted(((n, rows[n], nnz[n]) for n in rows), key=lambda item: -item[2])


def var_counts(model) -> list[tuple[str, int]]:
    import pyomo.environ as pyo

    return sorted(((v.name, len(v)) for v in model.component_objects(pyo.Var, active=True)),
                  key=lambda item: -item[1])


def _stats(profile: cProfile.Profile, restrict: str, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(restrict, top)
    text = out.getvalue()
    # Drop pstats's header noise, keep the table.
    return text[text.find("   ncalls"):] if "   ncalls" in text else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--months", type=int, default=180)
    parser.add_argument("--phases-per-site", type=float, default=2.0)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--scenarios", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    from capalloc.models import validate_instance_data
    from capalloc.optimizer.formulation import build_model
    from capalloc.optimizer.solving.solve import HighsSession

    size = Size("profile", args.sites, args.months, args.phases_per_site, args.generations, args.scenarios)
    instance = validate_instance_data(generate_instance(size))
    print(f"# {size.describe()}")

    # 1. Unprofiled: stage times of the build, and the hand-off.
    seconds, restore = _timed_stages()
    started = time.perf_counter()
    built = build_model(instance)
    build_s = time.perf_counter() - started
    restore()
    started = time.perf_counter()
    session = HighsSession(built)
    handoff_s = time.perf_counter() - started
    print(f"\nbuild {build_s:.2f} s, hand-off {handoff_s:.2f} s (unprofiled wall)")
    for name, value in seconds.items():
        print(f"  {name:22s} {value:7.2f} s  {100 * value / build_s:5.1f} %")
    print(f"  {'(context, knobs)':22s} {build_s - sum(seconds.values()):7.2f} s")

    print("\nconstraint blocks: rows, nonzeros")
    blocks = block_counts(session)
    total_nnz = sum(b[2] for b in blocks) or 1
    for name, rows, nnz in blocks:
        share, per_row = 100 * nnz / total_nnz, nnz / max(rows, 1)
        print(f"  {name:22s} {rows:8d} {nnz:9d}  {share:5.1f} %  {per_row:6.1f}/row")
    print("variable blocks")
    for name, count in var_counts(built.model):
        print(f"  {name:22s} {count:8d}")
    del session, built

    # 2. Profiled: build, then hand-off.
    profile = cProfile.Profile()
    profile.enable()
    built = build_model(instance)
    profile.disable()
    print("\n## cProfile of build_model: capalloc functions (cumulative)")
    print(_stats(profile, r"optimizer|models", args.top))
    print("## cProfile of build_model: all functions (cumulative)")
    print(_stats(profile, "", args.top))

    profile = cProfile.Profile()
    profile.enable()
    HighsSession(built)
    profile.disable()
    print("## cProfile of the hand-off (HighsSession -> DirectHandoff), cumulative")
    print(_stats(profile, "", args.top))
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    text = out.getvalue()
    print("## cProfile of the hand-off, by own time")
    print(text[text.find("   ncalls"):])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
