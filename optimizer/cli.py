"""The `capalloc` command line.

Exit codes: 0 plan found within the gap (or a time-limited plan, marked with its gap),
1 a check failed (audit, compare, regress) or an unexpected internal error (one line, the
trace saved under the temp folder), 2 invalid input or an output folder capalloc may not
write, 3 infeasible, 4 time limit without a plan, 5 internal disagreement between solver and
audit, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from capalloc.models.loader import InstanceError, load_instance
from capalloc.models.reading import printable

EXIT_OK, EXIT_CHECK_FAILED, EXIT_INVALID, EXIT_INFEASIBLE, EXIT_NO_PLAN, EXIT_AUDIT = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 1

app = typer.Typer(
    name="capalloc",
    help="Capital allocation for power-rich compute operators: mining vs AI/HPC leases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# emoji=False: ':rocket:' in a file name or an id is text, not an emoji. Markup stays on for
# capalloc's own styling; user text goes through _user_text (printable, markup escaped).
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


def _user_text(text: object) -> str:
    """Text from the user's files or command line, safe inside a rich markup string."""
    return escape(printable(text))


def _fail(code: int, message: str) -> typer.Exit:
    err_console.print(message, markup=False, highlight=False)
    return typer.Exit(code)


_announced: list[str] = []  # an "interrupted" line already printed by a command


def _interrupted(message: str) -> typer.Exit:
    """Ctrl-C: say what was kept, exit 130."""
    _announced.append(message)
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)  # one line, whole paths
    return typer.Exit(EXIT_INTERRUPTED)


def _instance_problems(error: InstanceError, what: str = "instance") -> typer.Exit:
    err_console.print(f"[bold red]invalid {what}[/] " + _user_text(error.source), highlight=False)
    for problem in error.problems:
        err_console.print(f"  - {problem}", markup=False, highlight=False)
    return typer.Exit(EXIT_INVALID)


def _print_notes(instance) -> None:
    """What a valid instance rules out by itself, so that a plan's silence is explained."""
    cap = instance.signing_cap_mw_per_year
    for site, phase, later in instance.phases_over_the_signing_cap():
        after = f"; nor can {', '.join(later)} after it" if later else ""
        field = _user_text(f"sites[{site}].ai_phases[{phase.id}]")
        err_console.print(
            f"[yellow]note[/]: {field} has {phase.critical_it_mw:g} MW of critical IT, more than "
            f"signing_cap_mw_per_year ({cap:g} MW): it can never be signed{_user_text(after)}",
            highlight=False,
        )


@app.command()
def validate(file: Annotated[Path, typer.Argument(help="Instance file (YAML or JSON).")]) -> None:
    """Check an instance file and report every problem at once."""
    try:
        instance = load_instance(file)
    except InstanceError as error:
        raise _instance_problems(error) from None
    phases = sum(len(s.ai_phases) for s in instance.sites)
    console.print(
        f"[green]valid[/] {_user_text(file)}: {len(instance.sites)} site(s), {phases} AI phase(s), "
        f"{len(instance.fleet)} ASIC generation(s), {len(instance.market.scenarios)} scenario(s), "
        f"{instance.horizon_months} months from {instance.start}",
        highlight=False,
    )
    _print_notes(instance)


@app.command()
def schema(
    what: Annotated[str, typer.Argument(help="instance or plan")] = "instance",
) -> None:
    """Print the JSON Schema of instance files (or of plan.json)."""
    from capalloc.models.instance import Instance
    from capalloc.models.plan import Plan

    models = {"instance": Instance, "plan": Plan}
    if what not in models:
        raise _fail(EXIT_INVALID, f"unknown schema {what!r}: use instance or plan")
    typer.echo(json.dumps(models[what].model_json_schema(), indent=2))


@app.command()
def solve(
    file: Annotated[Path, typer.Argument(help="Instance file (YAML or JSON).")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Plan directory to write.")] = None,
    time_limit: Annotated[float | None, typer.Option(help="HiGHS time limit, seconds.")] = None,
    mip_gap: Annotated[float | None, typer.Option(help="Relative MIP gap, e.g. 0.001.")] = None,
    threads: Annotated[int | None, typer.Option(help="HiGHS threads.")] = None,
    write_model: Annotated[
        Path | None, typer.Option(help="Also write the exact model handed to HiGHS (.mps/.lp).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a plan directory written by an older capalloc (without its "
        ".capalloc marker); never a folder holding anything else.")] = False,
    decompose: Annotated[str | None, typer.Option(
        help="Solve a scenario tree by decomposition: 'ph' (mpi-sppy's progressive hedging, HiGHS per "
        "scenario; under mpiexec one scenario group per rank). Default: the extensive form.")] = None,
    no_vss: Annotated[bool, typer.Option(
        "--no-vss", help="A scenario tree: skip the expected-value and wait-and-see solves behind "
        "its VSS and EVPI (together they take about as long as the tree's own solve).")] = False,
) -> None:
    """Solve an instance and write its plan directory (default: plans/<instance name>)."""
    try:
        instance = load_instance(file)
    except InstanceError as error:
        raise _instance_problems(error) from None
    _print_notes(instance)
    # Pyomo and HiGHS take a second to import: only once the input is known to be good.
    from capalloc.optimizer.outputs.output_dir import InterruptedAfterWrite, OutputDirError
    from capalloc.optimizer.outputs.report import ProgressDisplay, print_summary
    from capalloc.optimizer.pipeline import AuditDisagreement, PlanInterrupted, solve_file
    from capalloc.optimizer.solving.solve import InfeasibleError, NoPlanError

    if time_limit is not None and not 0 < time_limit < float("inf"):  # NaN fails this too
        raise _fail(EXIT_INVALID, "--time-limit: must be a finite number > 0 seconds")
    if mip_gap is not None and not 0 <= mip_gap <= 1:  # NaN and inf fail this too
        raise _fail(EXIT_INVALID, "--mip-gap: must be between 0 and 1 (0.001 = 0.1 %)")
    if threads is not None and threads < 1:
        raise _fail(EXIT_INVALID, "--threads: must be >= 1")
    if write_model is not None and write_model.suffix not in (".mps", ".lp"):
        raise _fail(EXIT_INVALID, "--write-model: the file must end in .mps or .lp")
    if decompose is not None and _ph_worker(instance, decompose, time_limit, mip_gap, threads):
        return  # an MPI rank other than 0: it served its scenarios; rank 0 writes the plan
    out_dir = out if out is not None else Path("plans") / instance.name
    display = None if quiet else ProgressDisplay()
    try:
        if display:
            display.start()
        outcome = solve_file(
            file, out_dir, time_limit=time_limit, mip_gap=mip_gap, threads=threads,
            progress=display.update if display else None,
            write_model=str(write_model) if write_model else None, instance=instance, force=force,
            decompose=decompose, value_of_information=not no_vss,
        )
    except OutputDirError as error:
        raise _fail(EXIT_INVALID, f"-o {error}") from None
    except PlanInterrupted as error:
        if display:
            display.stop()
        print_summary(console, error.outcome)
        gap = error.outcome.result.plan.solver.gap_pct
        distance = "an unknown distance" if gap is None else f"{gap:.3g} %"
        raise _interrupted(f"interrupted: HiGHS was stopped with a plan {distance} from its bound; "
                           f"written to {out_dir} and marked interrupted in plan.json") from None
    except InterruptedAfterWrite:
        raise _interrupted(f"interrupted: the plan was written to {out_dir} first") from None
    except KeyboardInterrupt:
        raise _interrupted(f"interrupted: no plan written ({out_dir} left as it was)") from None
    except InfeasibleError as error:
        err_console.print("[bold red]infeasible[/]: no plan satisfies every rule.")
        for reason in error.reasons:
            err_console.print(f"  - {reason}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INFEASIBLE) from None
    except NoPlanError as error:
        raise _fail(EXIT_NO_PLAN, f"no plan: {error}") from None
    except AuditDisagreement as error:
        raise _fail(EXIT_AUDIT, f"internal error: {error}") from None
    finally:
        if display:
            display.stop()
    print_summary(console, outcome)


def _ph_worker(instance, decompose: str, time_limit, mip_gap, threads) -> bool:
    """Check --decompose (exit 2 when it cannot apply); on an MPI rank other than 0, take part
    in progressive hedging and return True (nothing to write there)."""
    from capalloc.optimizer.scenario_tree.split import needs_extensive_form

    if decompose != "ph":
        raise _fail(EXIT_INVALID, f"--decompose: unknown engine {decompose!r}; the one offered is 'ph'")
    if not needs_extensive_form(instance):
        raise _fail(EXIT_INVALID, "--decompose ph: the instance is not a scenario tree (no "
                    "market.branching_months, lead times by scenario or risk); solve it without --decompose")
    from capalloc.optimizer.scenario_tree import ph

    try:
        rank, _ = ph.mpi_rank_and_size()
        ph.tree_shape(instance)
    except ph.PHUnavailable:
        raise _fail(EXIT_INVALID, ph.INSTALL_HINT) from None
    except ValueError as error:
        raise _fail(EXIT_INVALID, f"--decompose ph: market.scenarios: {error}") from None
    if rank == 0:
        return False
    from capalloc.optimizer.solving.solve import SolveSettings

    ph.run_ph(instance, SolveSettings.from_instance(instance, time_limit=time_limit, mip_gap=mip_gap,
                                                    threads=threads))
    return True


@app.command()
def compare(
    plan_a: Annotated[Path, typer.Argument(help="First plan directory (A).")],
    plan_b: Annotated[Path, typer.Argument(help="Second plan directory (B).")],
    rel_tol: Annotated[float, typer.Option(help="Relative objective tolerance.")] = 1e-6,
    mw_tol: Annotated[float, typer.Option(help="MW tolerance by site and year.")] = 1e-3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Compare two plans; exit 1 when they differ beyond the tolerances."""
    from capalloc.optimizer.checks.compare import compare_plans
    from capalloc.optimizer.outputs.plan_io import PlanDirError, read_plan
    from capalloc.optimizer.outputs.report import print_comparison

    try:
        a, b = read_plan(plan_a), read_plan(plan_b)
    except PlanDirError as error:
        raise _fail(EXIT_INVALID, str(error)) from None
    comparison = compare_plans(a, b, rel_tol=rel_tol, mw_tol=mw_tol)
    if as_json:
        typer.echo(json.dumps(comparison.to_dict(), indent=2))
    else:
        print_comparison(console, comparison, str(plan_a), str(plan_b))
    raise typer.Exit(EXIT_CHECK_FAILED if comparison.differs else EXIT_OK)


@app.command()
def regress(
    instance_dir: Annotated[Path, typer.Argument(help="Folder of instance files.")],
    golden: Annotated[Path, typer.Option(help="Folder of golden plan directories.")],
    update: Annotated[bool, typer.Option(help="Rewrite the golden plans from today's solves.")] = False,
    rel_tol: Annotated[
        float | None, typer.Option(help="Objective tolerance (default: each instance's mip_rel_gap).")
    ] = None,
) -> None:
    """Solve every instance in a folder and hold each plan to its golden plan."""
    from capalloc.optimizer.checks.regress import regress as run_regress
    from capalloc.optimizer.outputs.output_dir import OutputDirError
    from capalloc.optimizer.solving.solve import InfeasibleError, NoPlanError

    if not instance_dir.is_dir():
        raise _fail(EXIT_INVALID, f"{instance_dir}: not a folder of instance files")
    if not update and not golden.is_dir():
        raise _fail(EXIT_INVALID, f"--golden {golden}: no such folder (create it with --update)")

    def show(result) -> None:
        style = {"pass": "green", "fail": "red", "updated": "cyan"}[result.status]
        console.print(f"[{style}]{result.status:>7}[/] {result.instance}", highlight=False)
        for problem in result.problems:
            console.print(f"          - {problem}", markup=False, highlight=False)
        for note in result.notes:
            console.print(f"          note: {note}", markup=False, highlight=False)

    try:
        results = run_regress(instance_dir, golden, update=update, rel_tol=rel_tol, on_result=show)
    except InstanceError as error:
        raise _instance_problems(error) from None
    except (InfeasibleError, NoPlanError) as error:
        raise _fail(EXIT_CHECK_FAILED, f"regression solve failed: {error}") from None
    except OutputDirError as error:
        raise _fail(EXIT_INVALID, f"--golden {error}") from None
    failed = [r for r in results if r.status == "fail"]
    console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    raise typer.Exit(EXIT_CHECK_FAILED if failed else EXIT_OK)


@app.command()
def audit(
    plan_dir: Annotated[Path, typer.Argument(help="Plan directory (or its plan.json).")],
    instance_file: Annotated[
        Path | None, typer.Option("--instance", help="The instance file the plan was solved from.")
    ] = None,
) -> None:
    """Recompute a plan from its instance alone and check every rule; exit 1 if it fails."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from capalloc.models.loader import instance_fingerprint
    from capalloc.optimizer.checks.audit import audit_plan
    from capalloc.optimizer.outputs.plan_io import PlanDirError, read_plan
    from capalloc.optimizer.pipeline import AUDIT_REL_TOL

    if instance_file is None:
        raise _fail(EXIT_INVALID, "--instance: required; give the instance file the plan was solved from")
    try:
        instance = load_instance(instance_file)
    except InstanceError as error:
        raise _instance_problems(error) from None
    try:
        plan = read_plan(plan_dir)
    except PlanDirError as error:
        raise _fail(EXIT_INVALID, str(error)) from None
    if instance_fingerprint(instance_file) != plan.provenance.instance_sha256:
        err_console.print(f"[yellow]warning[/]: {instance_file} is not the file this plan was solved "
                          "from (its sha256 differs from the plan's provenance)", highlight=False)
    report = audit_plan(instance, plan)
    if report.violations and console.width < 110:  # too narrow for a table: one line each
        console.print(f"[bold]{len(report.violations)} violation(s)[/]")
        for v in report.violations:
            console.print(Text(f"  - {v.line()}"))
    elif report.violations:
        table = Table(title=f"{len(report.violations)} violation(s)", box=box.SIMPLE_HEAD)
        for column in ("rule", "scenario", "site", "month", "amount", "message"):
            table.add_column(column, justify="right" if column == "amount" else "left",
                             no_wrap=column != "message")
        for v in report.violations:
            site = "/".join(x for x in (v.site, v.item) if x)
            table.add_row(*(Text(x or "-") for x in (v.rule, v.scenario, site, v.month)),
                          Text(f"{v.amount:.4g}"), Text(v.message))
        console.print(table)
    for scenario, npv in report.scenario_npv_usd.items():
        stated = {k.scenario: k.npv_usd for k in plan.kpis}.get(scenario)
        console.print(f"  {scenario}: NPV recomputed {npv:,.2f} USD, plan says "
                      f"{'-' if stated is None else f'{stated:,.2f}'}", highlight=False)
    console.print(report.npv_line(AUDIT_REL_TOL), highlight=False)
    if not report.verdict(AUDIT_REL_TOL).passed:
        console.print("[bold red]audit failed[/]")
        raise typer.Exit(EXIT_CHECK_FAILED)
    console.print("[green]audit passed[/]: no rule violated, NPV agrees with the objective")


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="Sweep spec file (YAML); see models/sweep.py.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder: results, charts.")],
    workers: Annotated[int, typer.Option(help="Local worker processes (1: solve in this process).")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (e.g. tcp://127.0.0.1:8786) to run on.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the sweep in OUT.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Solve every point of a sensitivity sweep (grid, oat, lhs, random); write results and charts."""
    from capalloc.optimizer.outputs.output_dir import OutputDirError
    from capalloc.optimizer.sweep.charts import print_summary
    from capalloc.optimizer.sweep.runner import SweepAborted, run_sweep
    from capalloc.optimizer.sweep.store import ResultStore

    if workers < 1:
        raise _fail(EXIT_INVALID, "--workers: must be >= 1")
    try:
        run = run_sweep(spec, out, workers=workers, scheduler=scheduler, resume=resume,
                        progress=not quiet, console=err_console)
    except InstanceError as error:
        raise _instance_problems(error, "sweep") from None
    except SweepAborted as error:
        raise _fail(EXIT_CHECK_FAILED, f"sweep stopped: {error}; finished points are kept, "
                    "rerun with --resume") from None
    except OutputDirError as error:
        raise _fail(EXIT_INVALID, f"-o {error}") from None
    finished = run.done_before + run.solved_now
    if run.interrupted:
        raise _interrupted(f"interrupted: {finished} of {run.total} point(s) finished and kept in "
                           f"{out}; rerun with --resume to continue")
    if not quiet:
        from capalloc.models.loader import load_instance as _load

        store = ResultStore(out)
        base = _load(Path(store.manifest()["base_instance"]))
        print_summary(console, store.records(), base)
        console.print(f"{run.solved_now} point(s) solved in {run.seconds:.1f} s "
                      f"({run.points_per_minute:.1f} points/min), {run.done_before} resumed; "
                      f"{', '.join(f'{k} {v}' for k, v in sorted(run.counts.items())) or 'nothing to do'}",
                      markup=False, highlight=False)
        console.print(f"results: {run.results_csv}; charts: "
                      f"{', '.join(p.name for p in run.charts if p.suffix == '.png') or 'none'}",
                      markup=False, highlight=False)


@app.command()
def breakeven(
    instance_file: Annotated[Path, typer.Argument(help="Instance file (YAML or JSON).")],
    param: Annotated[str, typer.Option("--param", help="Path of the parameter, as in sweep specs.")],
    value_range: Annotated[
        tuple[float, float], typer.Option("--range", help="LO HI: the interval searched.")
    ],
    watch: Annotated[str, typer.Option("--watch", help=(
        "signed:SITE/PHASE, signed_by:SITE/PHASE:YYYY-MM or npv_positive."))],
    tol: Annotated[float | None, typer.Option(help="Bracket width to stop at (default (HI-LO)/1000).")
                   ] = None,
    time_limit: Annotated[float | None, typer.Option(help="HiGHS time limit per solve, s.")] = None,
    mip_gap: Annotated[float | None, typer.Option(help="Relative MIP gap per solve (0: exact).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Find by bisection the parameter value at which a decision of the optimal plan flips."""
    from capalloc.optimizer.outputs.report import usd
    from capalloc.optimizer.sweep.breakeven import find_breakeven

    def show(step) -> None:
        if not as_json:
            err_console.print(f"  {param} = {step.value:,.6g}: {step.state} (NPV {usd(step.npv_usd)})",
                              markup=False, highlight=False)

    try:
        result = find_breakeven(instance_file, param, value_range[0], value_range[1], watch, tol=tol,
                                time_limit=time_limit, mip_gap=mip_gap, on_step=show)
    except InstanceError as error:
        raise _instance_problems(error, "input") from None
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=1))
        return
    console.print(
        f"break-even of {watch}: {param} = {result.value:,.6g} (+/- {result.tolerance / 2:,.3g}); "
        f"at {result.low:,.6g}: {result.state_low} (NPV {usd(result.npv_low_usd)}), "
        f"at {result.high:,.6g}: {result.state_high} (NPV {usd(result.npv_high_usd)}); "
        f"{len(result.steps)} solves", markup=False, highlight=False)


@app.command()
def scenarios(
    instance_file: Annotated[Path, typer.Argument(help="Instance file (YAML or JSON) to branch.")],
    spec: Annotated[Path, typer.Option("--spec", help="Tree spec (YAML); see models/scenario_spec.py.")],
    out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="New instance file (default: INSTANCE.tree.yaml beside the input).")] = None,
    plot: Annotated[bool, typer.Option("--plot", help="Also write OUT.fan.png (BTC paths).")] = False,
) -> None:
    """Sample a seeded scenario tree (BTC and hashrate GBMs, lead-time slips) into a new instance."""
    from capalloc.models.scenario_spec import ScenarioSpecError
    from capalloc.optimizer.scenarios.scenario_files import (
        ScenarioOutputError,
        summary_lines,
        write_scenarios,
    )

    try:
        written = write_scenarios(instance_file, spec, out, plot)
    except ScenarioSpecError as error:
        raise _instance_problems(error, "scenario spec") from None
    except InstanceError as error:
        raise _instance_problems(error) from None
    except ScenarioOutputError as error:
        raise _fail(EXIT_INVALID, f"-o {error}") from None
    for line in summary_lines(written):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command()
def evaluate(
    plan_dir: Annotated[Path, typer.Argument(help="Plan directory written by `capalloc solve`.")],
    instance_file: Annotated[Path, typer.Option(
        "--instance", help="The other instance (a stress: slipped builds, another price path).")],
    out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="Folder to write the evaluation to.")] = None,
) -> None:
    """Fix a plan's investment and financing decisions under another instance, re-optimize
    operations: the NPV, or (exit 3) the shortfall by month and what cures it."""
    try:
        other = load_instance(instance_file)
    except InstanceError as error:
        raise _instance_problems(error) from None
    from capalloc.optimizer.analysis.evaluate import EvaluateError, claim_evaluation_dir, evaluation_files
    from capalloc.optimizer.analysis.evaluate import evaluate as run_evaluation
    from capalloc.optimizer.outputs.output_dir import OutputDirError
    from capalloc.optimizer.outputs.plan_io import PlanDirError, open_plan_dir
    from capalloc.optimizer.solving.solve import InfeasibleError, NoPlanError

    try:
        opened = open_plan_dir(plan_dir)
    except PlanDirError as error:
        raise _fail(EXIT_INVALID, str(error)) from None
    try:
        claim = claim_evaluation_dir(out) if out is not None else None
        with claim if claim is not None else _nothing():
            evaluation = run_evaluation(opened.plan, opened.instance, other)
            verdict = evaluation.result.plan.audit if evaluation.result is not None else None
            if verdict is not None and not verdict.passed:
                raise _fail(EXIT_AUDIT, "internal error: the independent audit does not confirm the "
                            f"re-optimized plan: {'; '.join(verdict.messages[:5])}")
            if claim is not None:
                claim.commit(evaluation_files(evaluation, str(plan_dir)))
    except OutputDirError as error:
        raise _fail(EXIT_INVALID, f"-o {error}") from None
    except EvaluateError as error:
        err_console.print(f"[bold red]cannot evaluate[/] {_user_text(plan_dir)} under "
                          f"{_user_text(instance_file)}", highlight=False)
        for problem in error.problems:
            err_console.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    except InfeasibleError as error:
        err_console.print("[bold red]infeasible[/]: the plan's decisions admit no plan here.")
        for reason in error.reasons:
            err_console.print(f"  - {reason}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INFEASIBLE) from None
    except NoPlanError as error:
        raise _fail(EXIT_NO_PLAN, f"no plan: {error}") from None
    for line in evaluation.lines():
        (console if evaluation.feasible else err_console).print(line, markup=False, highlight=False)
    if not evaluation.feasible:
        raise typer.Exit(EXIT_INFEASIBLE)


def _nothing():
    import contextlib

    return contextlib.nullcontext()


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="Plan directory (capalloc solve -o) or sweep folder.")],
    out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="Report folder to write instead (new, empty or a report capalloc wrote); "
        "default: into FOLDER itself.")] = None,
) -> None:
    """Write report.html (charts and tables, opens offline) and a workbook (plan.xlsx or sweep.xlsx)."""
    from capalloc.optimizer.outputs.output_dir import InterruptedAfterWrite, OutputBusyError, OutputDirError
    from capalloc.optimizer.outputs.report_files import ReportInputError, write_report

    try:
        written = write_report(folder, out)
    except ReportInputError as error:
        raise _fail(EXIT_INVALID, str(error)) from None
    except OutputBusyError as error:
        raise _fail(EXIT_INVALID, f"{'-o ' if out is not None else ''}{error}") from None
    except OutputDirError as error:
        if out is not None:
            raise _fail(EXIT_INVALID, f"-o {error}") from None
        raise _fail(EXIT_INVALID, f"{error}; or write the report elsewhere with -o DIR") from None
    except InterruptedAfterWrite:
        raise _interrupted("interrupted: the report was written first") from None
    except KeyboardInterrupt:
        raise _interrupted("interrupted: no report written") from None
    console.print(f"{written.kind} report: {', '.join(str(p) for p in written.files)}",
                  markup=False, highlight=False, soft_wrap=True)


@app.command()
def explain(
    plan_dir: Annotated[Path, typer.Argument(help="Plan directory (the -o folder of a solve).")],
    time_limit: Annotated[float | None, typer.Option(help="HiGHS time limit per re-solve, s.")] = None,
    mip_gap: Annotated[float | None, typer.Option(help="Relative MIP gap per re-solve.")] = None,
    resolves: Annotated[bool, typer.Option(
        "--resolves/--no-resolves", help="Re-solve the MIP per phase for 'sign now' and 'never'.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print explain.json instead of tables.")] = False,
) -> None:
    """Shadow prices of a plan (its integer decisions held) and what-ifs per phase; writes explain.json."""
    from capalloc.optimizer.outputs.plan_io import PlanDirError, open_plan_dir

    if time_limit is not None and not 0 < time_limit < float("inf"):
        raise _fail(EXIT_INVALID, "--time-limit: must be a finite number > 0 seconds")
    if mip_gap is not None and not 0 <= mip_gap <= 1:
        raise _fail(EXIT_INVALID, "--mip-gap: must be between 0 and 1 (0.001 = 0.1 %)")
    from capalloc.optimizer.outputs.output_dir import OutputDirError
    from capalloc.optimizer.outputs.plan_io import check_plan_dir

    try:
        opened = open_plan_dir(plan_dir)
        check_plan_dir(plan_dir)  # explain.json may be added there: before the work, not after
    except PlanDirError as error:
        raise _fail(EXIT_INVALID, str(error)) from None
    except OutputDirError as error:
        raise _fail(EXIT_INVALID, str(error)) from None
    from capalloc.optimizer.analysis.report import explain_plan, write_explain
    from capalloc.optimizer.analysis.tables import print_explain
    from capalloc.optimizer.solving.solve import SolveSettings

    settings = SolveSettings.from_instance(opened.instance, time_limit=time_limit, mip_gap=mip_gap)
    try:
        data = explain_plan(opened, settings, resolves=resolves,
                            on_step=None if as_json else lambda step: err_console.print(
                                f"  {step}", markup=False, highlight=False))
        written = write_explain(opened.path, data)
    except PlanDirError as error:
        raise _fail(EXIT_INVALID, str(error)) from None
    except OutputDirError as error:
        raise _fail(EXIT_INVALID, str(error)) from None
    except KeyboardInterrupt:
        raise _interrupted(f"interrupted: nothing written to {plan_dir}") from None
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    print_explain(console, data)
    console.print(f"written to {_user_text(written)}", highlight=False)


def _percent(text: str) -> float | None:
    """'1%' or '1' -> 0.01; None when it is not a number in (0, 100]."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        return None
    return value / 100.0 if 0.0 < value <= 100.0 else None


@app.command()
def alternatives(
    file: Annotated[Path, typer.Argument(help="Instance file (YAML or JSON).")],
    within: Annotated[str, typer.Option(help="NPV slack below the optimum, in percent (e.g. 1%).")] = "1%",
    count: Annotated[int, typer.Option("-n", "--count", help="Alternatives to look for.")] = 5,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Folder for the plans and the table.")
                   ] = None,
    time_limit: Annotated[float | None, typer.Option(help="HiGHS time limit per solve, s.")] = None,
    mip_gap: Annotated[float | None, typer.Option(help="Relative MIP gap per solve.")] = None,
) -> None:
    """Near-optimal plans that differ most in their signings, each a plan directory under OUT."""
    slack = _percent(within)
    if slack is None:
        raise _fail(EXIT_INVALID, f"--within: {printable(within)!r} is not a percentage in (0, 100]; e.g. 1%")
    if not 1 <= count <= 50:
        raise _fail(EXIT_INVALID, "--count: must be between 1 and 50")
    if time_limit is not None and not 0 < time_limit < float("inf"):
        raise _fail(EXIT_INVALID, "--time-limit: must be a finite number > 0 seconds")
    if mip_gap is not None and not 0 <= mip_gap <= 1:
        raise _fail(EXIT_INVALID, "--mip-gap: must be between 0 and 1 (0.001 = 0.1 %)")
    try:
        instance = load_instance(file)
    except InstanceError as error:
        raise _instance_problems(error) from None
    from capalloc.models.loader import instance_fingerprint
    from capalloc.optimizer.analysis.alternatives import solve_alternatives
    from capalloc.optimizer.analysis.tables import print_alternatives
    from capalloc.optimizer.outputs.output_dir import OutputDirError
    from capalloc.optimizer.pipeline import AuditDisagreement
    from capalloc.optimizer.solving.solve import InfeasibleError, NoPlanError, SolveSettings

    out_dir = out if out is not None else Path("plans") / f"{instance.name}-alternatives"
    settings = SolveSettings.from_instance(instance, time_limit=time_limit, mip_gap=mip_gap)
    try:
        rows = solve_alternatives(instance, out_dir, within=slack, count=count, settings=settings,
                                  instance_sha256=instance_fingerprint(file),
                                  on_step=lambda step: err_console.print(f"  {step}", markup=False,
                                                                         highlight=False))
    except OutputDirError as error:
        raise _fail(EXIT_INVALID, f"-o {error}") from None
    except InfeasibleError as error:
        raise _fail(EXIT_INFEASIBLE, f"infeasible: {'; '.join(error.reasons)}") from None
    except NoPlanError as error:
        raise _fail(EXIT_NO_PLAN, f"no plan: {error}") from None
    except AuditDisagreement as error:
        raise _fail(EXIT_AUDIT, f"internal error: {error}") from None
    except KeyboardInterrupt:
        raise _interrupted(f"interrupted: nothing written to {out_dir}") from None
    print_alternatives(console, rows)
    if len(rows) - 1 < count:
        console.print(f"{len(rows) - 1} alternative(s) within {within}: no further plan within the slack "
                      "differs in its signings from all of these", highlight=False, markup=False)
    console.print(f"written to {_user_text(out_dir)}", highlight=False)


def _save_trace(error: BaseException) -> Path | None:
    """The full trace, in a new file under the temp folder (never the user's folders)."""
    try:
        fd, name = tempfile.mkstemp(prefix="capalloc-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"capalloc {' '.join(sys.argv[1:])}\n\n")
            handle.write("".join(traceback.format_exception(error)))
        return Path(name)
    except OSError:
        return None


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    printable = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return printable if len(printable) <= limit else printable[: limit - 3] + "..."


def main() -> None:
    # HiGHS and Pyomo write to the process's file descriptors; keep a handle on the terminal.
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        app()
    except SystemExit as done:
        # typer turns Ctrl-C into a silent exit 130; say so unless the command already did.
        if done.code == EXIT_INTERRUPTED and not _announced:
            err_console.print("interrupted", markup=False, highlight=False)
        raise
    except KeyboardInterrupt:
        err_console.print("interrupted", markup=False, highlight=False)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:  # the top-level guard: one line, the trace kept for a report
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), "capalloc")
        saved = _save_trace(error)
        where = f"full trace saved to {saved}" if saved else "the trace could not be saved"
        err_console.print(
            f"internal error in capalloc {command}: {_one_line(f'{type(error).__name__}: {error}')} "
            f"({where}; please report it)", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
