"""Where cleanspark_2026's time goes with and without its income tax (issue 17 item 2).

Runs the whole solve pipeline (build, hand-off, first plan, narrowing, HiGHS) once per
variant in a fresh subprocess, counting every LP the first plan and the narrowing solve
(their wall time and simplex iterations) and keeping HiGHS's log. Variants:

- ``taxes``: the instance as shipped; ``no_taxes``: the same with ``finance.taxes`` removed;
- ``+presolve``: HiGHS's presolve back on (the instance turns it off);
- ``+rec``: the phases' project-debt interest as the recursively defined column of
  formulation.phase_interest (off by default), not convolved into every income row;
- ``+notb``: the tax's tie-break off (the plan may pay a tax before it is due);
- ``+opt=K:V``: any other HiGHS option for the MIP search.

Usage: ``python -m benchmarks.tax_experiment --runs 2 taxes no_taxes taxes+presolve``; one
JSON line per run on stdout (and in ``--out`` when given). Not a test; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLEANSPARK = REPO / "instances" / "cleanspark_2026.yaml"


def _variant_instance(name: str, path: Path):
    from capalloc.models.loader import load_instance

    instance = load_instance(path)
    base, *mods = name.split("+")
    if base == "no_taxes":
        finance = instance.finance.model_copy(update={"taxes": None})
        instance = instance.model_copy(update={"finance": finance})
    elif base != "taxes":
        raise SystemExit(f"unknown variant base {base!r} (taxes, no_taxes)")
    options = dict(instance.solver.highs_options)
    for mod in mods:
        if mod == "presolve":
            options.pop("presolve", None)
        elif mod == "rec":  # the phases' interest as one recursive column (formulation.phase_interest)
            import capalloc.optimizer.formulation.ai_phases as ai_phases

            ai_phases.PHASE_INTEREST_RECURSION = True
        elif mod == "notb":  # the tax's tie-break off for the whole solve (plan's taxes may come early)
            import capalloc.optimizer.formulation.financing.taxes as taxes

            taxes.TIE_BREAK_PER_MODEL_UNIT_MONTH = 0.0
        elif mod.startswith("opt="):
            key, value = mod[4:].split(":", 1)
            options[key] = json.loads(value) if value[:1] in "0123456789-tf" else value
        else:
            raise SystemExit(f"unknown modifier {mod!r}")
    solver = instance.solver.model_copy(update={"highs_options": options})
    return instance.model_copy(update={"solver": solver})


def _one(name: str, path: Path, log: Path | None) -> dict:
    """One run in this process (call in a fresh interpreter)."""
    import capalloc.optimizer.solving.first_plan as first_plan
    from capalloc.optimizer.pipeline import solve_instance

    lp_stats = {"solves": 0, "seconds": 0.0, "iterations": 0, "slowest": 0.0}
    original = first_plan.SigningLp.solve

    def counted(self) -> bool:
        started = time.perf_counter()
        ok = original(self)
        seconds = time.perf_counter() - started
        lp_stats["solves"] += 1
        lp_stats["seconds"] += seconds
        lp_stats["slowest"] = max(lp_stats["slowest"], seconds)
        lp_stats["iterations"] += int(self.highs.getInfo().simplex_iteration_count)
        return ok

    first_plan.SigningLp.solve = counted
    instance = _variant_instance(name, path)
    if log is not None:
        options = dict(instance.solver.highs_options, log_file=str(log))
        instance = instance.model_copy(update={"solver": instance.solver.model_copy(
            update={"highs_options": options})})
    timings: dict[str, float] = {}
    started = time.perf_counter()
    outcome = solve_instance(instance, timings=timings, audit=False)
    plan = outcome.result.plan
    return {
        "variant": name, "total_s": round(time.perf_counter() - started, 3),
        **{k + "_s": round(v, 3) for k, v in timings.items()},
        "highs_s": round(outcome.highs_seconds, 3),
        "lp_solves": lp_stats["solves"], "lp_seconds": round(lp_stats["seconds"], 3),
        "lp_iterations": lp_stats["iterations"], "lp_slowest_s": round(lp_stats["slowest"], 3),
        "objective_usd": plan.solver.objective_usd, "bound_usd": plan.solver.dual_bound_usd,
        "status": plan.solver.status, "gap_pct": plan.solver.gap_pct,
        "cpu_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--instance", type=Path, default=CLEANSPARK)
    parser.add_argument("--logs", type=Path, help="folder for HiGHS's log of each run")
    parser.add_argument("--out", type=Path, help="append each run's JSON line here")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        log = args.logs / f"{args.one.replace(':', '_')}.{time.time_ns()}.log" if args.logs else None
        print(json.dumps(_one(args.one, args.instance, log)))
        return 0
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    for _ in range(args.runs):
        for name in args.variants:  # alternated run by run: the machine's load hits each alike
            command = [sys.executable, "-m", "benchmarks.tax_experiment", "--one", name,
                       "--instance", str(args.instance)]
            if args.logs:
                command += ["--logs", str(args.logs)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            line = done.stdout.strip().splitlines()[-1] if done.returncode == 0 else json.dumps(
                {"variant": name, "error": done.stderr.strip().splitlines()[-1:]})
            print(line, flush=True)
            if args.out:
                with args.out.open("a") as handle:
                    handle.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
