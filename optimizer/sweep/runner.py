"""Running a sweep: expand and validate every point, then solve them in this process, on a
local process pool, or on a Dask cluster, storing each row as it finishes.

Backends (the same rows come out of each; only timings differ):

- ``workers == 1`` and no scheduler: one PointSolver in this process.
- ``workers > 1``: a ``ProcessPoolExecutor`` (spawn) of that many processes, each keeping its
  PointSolver; HiGHS runs 1 thread per point.
- ``scheduler``: a Dask distributed cluster at that address; each Dask worker process keeps
  its PointSolver; HiGHS runs 1 thread per point. Workers need capalloc installed.

At most a few points per worker are in flight at once, so Ctrl-C (KeyboardInterrupt) cancels
the rest at once; finished points stay stored and ``--resume`` continues.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from capalloc.optimizer.outputs.output_dir import OutputClaim
from capalloc.optimizer.sweep.expand import Expansion, SweepPoint, expand_file
from capalloc.optimizer.sweep.store import ResultStore
from capalloc.optimizer.sweep.worker import PointSolver, init_pool_worker, solve_task

Task = tuple[str, Any, dict[str, Any], bool]  # point id, instance, params, stress design
OnRow = Callable[[dict[str, Any]], None]


class SweepAborted(RuntimeError):
    """The execution backend failed (a worker process died, the cluster went away)."""


@dataclass
class SweepRun:
    """What a sweep run did."""

    out_dir: Path
    total: int
    done_before: int
    solved_now: int = 0
    counts: Counter = field(default_factory=Counter)
    interrupted: bool = False
    seconds: float = 0.0
    results_csv: Path | None = None
    charts: list[Path] = field(default_factory=list)

    @property
    def points_per_minute(self) -> float:
        return 60.0 * self.solved_now / self.seconds if self.seconds > 0 else 0.0


def _tasks(expansion: Expansion, pending: list[SweepPoint]) -> Iterator[Task]:
    stress = expansion.stress is not None
    for point in pending:
        yield point.point_id, expansion.instance(point), point.params, stress


def run_serial(tasks: Iterator[Task], on_row: OnRow, threads: int | None) -> None:
    solver = PointSolver(threads)
    for point_id, instance, params, stress in tasks:
        on_row(solver.solve(point_id, instance, params, stress=stress).record())


@contextlib.contextmanager
def _ctrl_c_held_while_spawning() -> Iterator[None]:
    """SIGINT blocked while the pool spawns its workers: they inherit the blocked signal and
    ignore it before unblocking it (worker.init_pool_worker), so a Ctrl-C sent to the whole
    process group while they start up reaches only the parent, which gets it, held, as soon
    as the workers are spawned (the technique CPython uses to start its resource tracker)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def run_pool(tasks: Iterator[Task], on_row: OnRow, workers: int, threads: int | None) -> None:
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_pool_worker, initargs=(os.getpid(),))
    in_flight: dict[Future, str] = {}

    def submit_next() -> bool:
        task = next(tasks, None)
        if task is None:
            return False
        in_flight[executor.submit(solve_task, *task, threads)] = task[0]
        return True

    try:
        with _ctrl_c_held_while_spawning():  # the pool spawns its workers in these first submits
            for _ in range(2 * workers):
                if not submit_next():
                    break
        while in_flight:
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: in_flight[f]):
                on_row(_record(future, in_flight.pop(future), "the worker"))
                submit_next()
    except BaseException:
        for future in in_flight:
            future.cancel()
        processes = list((getattr(executor, "_processes", None) or {}).values())
        for process in processes:  # the pool's own children: running points are abandoned
            if process.is_alive():
                process.terminate()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)


def run_dask(tasks: Iterator[Task], on_row: OnRow, address: str, key_prefix: str) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as error:  # pragma: no cover - the dask extra is not installed
        raise SweepAborted("--scheduler needs dask[distributed]: pip install 'capalloc[dask]'") from error
    try:
        client = Client(address, timeout="20s")
    except OSError as error:
        raise SweepAborted(f"cannot reach the Dask scheduler at {address}: {error}") from error
    in_flight: dict[Any, str] = {}
    try:
        slots = max(2, 2 * sum(client.nthreads().values()))

        def submit(task: Task):
            future = client.submit(solve_task, *task, 1, key=f"{key_prefix}-{task[0]}", pure=False)
            in_flight[future] = task[0]
            return future

        first = [submit(t) for t in _take(tasks, slots)]
        queue = as_completed(first)
        for future in queue:
            on_row(_record(future, in_flight.pop(future), "the Dask task"))
            task = next(tasks, None)
            if task is not None:
                queue.add(submit(task))
    except BaseException:
        if in_flight:
            client.cancel(list(in_flight))
        raise
    finally:
        client.close()


def _record(future, point_id: str, what: str) -> dict[str, Any]:
    """A finished point's record; a point whose worker raised aborts the sweep, naming it."""
    try:
        return future.result()
    except Exception as error:
        raise SweepAborted(f"point {point_id}: {what} failed ({type(error).__name__}: {error})") from error


def _take(tasks: Iterator[Task], n: int) -> list[Task]:
    out = []
    for _ in range(n):
        task = next(tasks, None)
        if task is None:
            break
        out.append(task)
    return out


def run_sweep(
    spec_path: str | Path, out_dir: str | Path, *, workers: int = 1, scheduler: str | None = None,
    resume: bool = False, progress: bool = True, charts: bool = True,
    console: Console | None = None,
) -> SweepRun:
    """Run (or resume) a sweep; raises SweepSpecError (before any solve) for a bad spec and
    OutputDirError for an output folder capalloc may not write (a file, a plan directory,
    a folder another capalloc is writing)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    console = console or Console(stderr=True)
    with expand_file(spec_path) as expansion, contextlib.ExitStack() as held:
        expansion.validate_all()
        # Checked, created and locked for the whole run (optimizer.outputs.output_dir); marked once
        # the store has accepted it.
        claim = held.enter_context(OutputClaim(out_dir, "sweep", None))
        store = ResultStore(out_dir)
        done = store.open(expansion, Path(spec_path), resume)
        claim.mark()
        pending = [p for p in expansion.points if p.point_id not in done]
        run = SweepRun(Path(out_dir), len(expansion.points), len(done))
        threads = 1 if (workers > 1 or scheduler) else None
        bar = Progress(
            TextColumn("[bold]sweep[/]"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("eta"),
            TimeRemainingColumn(), console=console, disable=not progress, transient=False,
        )
        task_id = bar.add_task("sweep", total=run.total, completed=run.done_before, counts="")

        def on_row(record: dict[str, Any]) -> None:
            store.write(record)
            run.solved_now += 1
            run.counts[record["status"]] += 1
            counts = " ".join(f"{k}:{v}" for k, v in sorted(run.counts.items()))
            bar.update(task_id, advance=1, counts=counts)

        started = time.perf_counter()
        tasks = _tasks(expansion, pending)
        bar.start()
        try:
            if scheduler:
                token = f"{expansion.sweep_sha256[:10]}-{uuid.uuid4().hex[:8]}"  # fresh keys per run
                run_dask(tasks, on_row, scheduler, f"capalloc-{token}")
            elif workers > 1 and len(pending) > 1:
                run_pool(tasks, on_row, min(workers, len(pending)), threads)
            else:
                run_serial(tasks, on_row, threads)
        except KeyboardInterrupt:
            run.interrupted = True
        finally:
            bar.stop()
            run.seconds = time.perf_counter() - started
            run.results_csv = store.consolidate()
        if charts and not run.interrupted:
            from capalloc.optimizer.sweep.charts import write_charts

            run.charts = write_charts(store.dir, expansion.spec, store.records(),
                                      expansion.base_instance)
    return run
