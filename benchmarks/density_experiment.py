"""Does HiGHS like the dense cash rows? The same model with each phase's cash terms moved out.

    python -m benchmarks.density_experiment [--sites 10 --months 180 | --file X.yaml]
                                            [--time-limit 60] [--modes base split]

The cash balance row of month t holds, for every phase, one term per age at which the
phase's cash profile changes (2,235 nonzeros per row at 50 sites x 180 months, 61 % of the
matrix). ``split`` rewrites the HiGHS model, not the formulation: for each cash row and
each phase it adds a free column y = (that phase's terms in the row) with its own equality
row, and the cash row gets +1 y instead. Same feasible set and objective; denser columns,
no dense rows. Both versions are solved with the pipeline's options; the output compares
time, status, gap and objective. One instance and one seed say little about a MIP: run
several before concluding anything.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.generate import Size, generate_instance
from benchmarks.run import solve_options


def split_cash_rows(lp, session, built):
    """A copy of ``lp`` whose cash rows hold one aggregate column per phase."""
    import highspy
    import numpy as np

    handoff = session.handoff
    cash_rows = {row for row, con in enumerate(handoff.constraints)
                 if con.parent_component().name == "cash_balance"}
    phase_of = {handoff.column_of[id(v)]: (site, phase)
                for (site, phase, _t), v in built.model.signed_by.items()}
    matrix = lp.a_matrix_
    n_col, n_row = lp.num_col_, lp.num_row_
    start, index, value = np.array(matrix.start_), np.array(matrix.index_), np.array(matrix.value_)
    if matrix.format_ != highspy.MatrixFormat.kRowwise:  # column-wise: transpose to rows
        columns = np.repeat(np.arange(n_col), np.diff(start))
        order = np.argsort(index, kind="stable")
        start = np.concatenate(([0], np.cumsum(np.bincount(index, minlength=n_row))))
        index, value = columns[order], value[order]
    new_start, new_index, new_value, extra_rows = [0], [], [], []
    next_col = n_col
    for r in range(n_row):
        cols, vals = index[start[r]:start[r + 1]], value[start[r]:start[r + 1]]
        if r in cash_rows:
            groups: dict = {}
            keep = []
            for c, v in zip(cols.tolist(), vals.tolist(), strict=True):
                key = phase_of.get(c)
                if key is None:
                    keep.append((c, v))
                else:
                    groups.setdefault(key, []).append((c, v))
            for terms in groups.values():
                keep.append((next_col, 1.0))
                extra_rows.append([(next_col, -1.0), *terms])
                next_col += 1
            new_index += [c for c, _ in keep]
            new_value += [v for _, v in keep]
        else:
            new_index += cols.tolist()
            new_value += vals.tolist()
        new_start.append(len(new_index))
    for terms in extra_rows:
        new_index += [c for c, _ in terms]
        new_value += [v for _, v in terms]
        new_start.append(len(new_index))
    k, m = next_col - n_col, len(extra_rows)
    out = highspy.HighsLp()
    out.num_col_, out.num_row_ = next_col, n_row + m
    out.col_cost_ = np.concatenate([np.array(lp.col_cost_), np.zeros(k)])
    out.offset_ = lp.offset_
    out.col_lower_ = np.concatenate([np.array(lp.col_lower_), np.full(k, -highspy.kHighsInf)])
    out.col_upper_ = np.concatenate([np.array(lp.col_upper_), np.full(k, highspy.kHighsInf)])
    out.row_lower_ = np.concatenate([np.array(lp.row_lower_), np.zeros(m)])
    out.row_upper_ = np.concatenate([np.array(lp.row_upper_), np.zeros(m)])
    out.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    out.a_matrix_.start_ = np.array(new_start, dtype=np.int32)
    out.a_matrix_.index_ = np.array(new_index, dtype=np.int32)
    out.a_matrix_.value_ = np.array(new_value)
    out.a_matrix_.num_col_, out.a_matrix_.num_row_ = out.num_col_, out.num_row_
    out.integrality_ = list(lp.integrality_) + [highspy.HighsVarType.kContinuous] * k
    out.sense_ = lp.sense_
    return out


def solve(lp, options: dict, log_file: Path) -> str:
    from benchmarks.run import logged_highs

    h = logged_highs(lp, options, log_file)
    started = time.perf_counter()
    h.run()
    wall = time.perf_counter() - started
    info = h.getInfo()
    objective = info.objective_function_value if info.primal_solution_status else None
    gap = f"{100 * info.mip_gap:.3f} %" if objective is not None else "no plan"
    return (f"{h.getNumRow()} rows, {h.getNumNz()} nnz: {h.modelStatusToString(h.getModelStatus())} "
            f"in {wall:.1f} s, gap {gap}, objective {objective}, bound {info.mip_dual_bound:.4f}, "
            f"nodes {info.mip_node_count}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.density_experiment",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--months", type=int, default=180)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--file", type=Path, help="an instance file instead of a generated one")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--modes", nargs="+", default=["base", "split"], choices=["base", "split"])
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp"))
    args = parser.parse_args(argv)

    from capalloc.models import load_instance, validate_instance_data
    from capalloc.optimizer.formulation import build_model
    from capalloc.optimizer.solving.solve import HighsSession

    if args.file:
        instance, label = load_instance(args.file), args.file.stem
    else:
        size = Size("density", args.sites, args.months, seed=args.seed)
        instance = validate_instance_data(generate_instance(size))
        label = f"s{args.sites}x{args.months}seed{args.seed}"
    built = build_model(instance)
    session = HighsSession(built)
    lp = session.highs.getLp()
    options = solve_options(instance, args.time_limit)
    for mode in args.modes:
        model = lp if mode == "base" else split_cash_rows(lp, session, built)
        log = args.log_dir / f"density_{label}_{mode}.log"
        print(f"{label} {mode:5s}: {solve(model, options, log)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
