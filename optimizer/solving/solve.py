"""The solve pipeline: build, hand the model to HiGHS (optimizer.solving.handoff), solve with
progress, extract the plan, explain infeasibility."""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyomo.core as pyo
from pyomo.contrib.solver.common.results import TerminationCondition

from capalloc.models.instance import Instance
from capalloc.optimizer.formulation import BuiltModel, build_model
from capalloc.optimizer.formulation.context import USD_PER_MODEL_UNIT
from capalloc.optimizer.solving.first_plan import Budget, PhaseColumns, find_first_plan
from capalloc.optimizer.solving.handoff import DirectHandoff, HighsOutcome, PersistentHandoff
from capalloc.optimizer.solving.narrowing import Narrowing, narrow_windows


@dataclass(frozen=True)
class SolveSettings:
    """HiGHS settings actually used (instance defaults overridden from the command line)."""

    time_limit_seconds: float
    mip_rel_gap: float
    threads: int
    random_seed: int
    highs_options: tuple[tuple[str, bool | int | float | str], ...] = ()

    def highs_option_values(self) -> dict[str, bool | int | float | str]:
        """Every HiGHS option this solve sets, by HiGHS's own names."""
        return {
            "time_limit": float(self.time_limit_seconds), "mip_rel_gap": float(self.mip_rel_gap),
            "threads": int(self.threads), "random_seed": int(self.random_seed),
            **dict(self.highs_options),
        }

    @classmethod
    def from_instance(
        cls, instance: Instance, *, time_limit: float | None = None, mip_gap: float | None = None,
        threads: int | None = None, seed: int | None = None,
    ) -> SolveSettings:
        s = instance.solver
        return cls(
            time_limit_seconds=time_limit if time_limit is not None else s.time_limit_seconds,
            mip_rel_gap=mip_gap if mip_gap is not None else s.mip_rel_gap,
            threads=threads if threads is not None else s.threads,
            random_seed=seed if seed is not None else s.random_seed,
            highs_options=tuple(sorted(s.highs_options.items())),
        )


@dataclass
class Progress:
    """A snapshot HiGHS reports while it works (objective values in USD)."""

    elapsed_seconds: float
    incumbent_usd: float | None
    bound_usd: float | None
    gap: float | None
    nodes: int


ProgressCallback = Callable[[Progress], None]


@dataclass
class SolverRun:
    """What one HiGHS run produced."""

    built: BuiltModel
    settings: SolveSettings
    termination: str
    has_solution: bool
    optimal: bool
    objective_usd: float | None
    bound_usd: float | None
    gap: float | None
    highs_seconds: float
    highs_version: str
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # Ctrl-C stopped HiGHS (its best plan, if any, is kept)


class InfeasibleError(Exception):
    """No plan satisfies every rule; ``reasons`` says what cannot be met."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


class NoPlanError(Exception):
    """HiGHS stopped (time limit) before it found any plan."""


_threads_used: int | None = None


def _prepare_threads(threads: int) -> None:
    """HiGHS's thread pool is process-wide: resize it before a solve that asks for another size."""
    global _threads_used
    if _threads_used is not None and _threads_used != threads:
        import highspy

        highspy.Highs.resetGlobalScheduler(True)
    _threads_used = threads


def model_counts(highs) -> dict[str, int]:
    lp = highs.getLp()
    integrality = list(lp.integrality_) if lp.integrality_ else []
    return {
        "variables": int(highs.getNumCol()),
        "binaries": int(sum(1 for v in integrality if int(v) != 0)),
        "constraints": int(highs.getNumRow()),
        "nonzeros": int(highs.getNumNz()),
    }


def no_signing_start(highs, threads: int) -> object | None:
    """A plan that signs nothing (every binary at 0), completed by an LP, or None.

    HiGHS rarely finds this plan itself on large instances, yet it is feasible whenever the
    balance sheet can carry the existing business; handed over as a MIP start it guarantees
    a plan within any time limit and gives the search a first bound to prune with.
    """
    import highspy
    import numpy as np

    lp = highs.getLp()
    integer = np.flatnonzero(np.asarray([int(v) for v in lp.integrality_], dtype=np.int32))
    if integer.size == 0:
        return None
    probe = highspy.Highs()
    probe.setOptionValue("output_flag", False)
    # HiGHS's thread pool is process-wide: the probe must ask for the solve's own size.
    probe.setOptionValue("threads", int(threads))
    probe.passModel(lp)
    zeros = np.zeros(integer.size)
    probe.changeColsBounds(int(integer.size), integer.astype(np.int32), zeros, zeros)
    probe.setOptionValue("solve_relaxation", True)
    probe.run()
    if probe.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return probe.getSolution()


FIRST_PLAN_SHARE_OF_TIME_LIMIT = 0.5
"""The first-plan search stops once it has used this share of the time limit (it keeps the
best complete plan; a dive cut short signs what it had fixed and leaves the rest unsigned)."""

FIRST_PLAN_SHARE_WHEN_HIGHS_CANNOT_START = 0.9
"""The share it may use when HiGHS could not get through its presolve and root LP in the
rest: HiGHS would spend its half without finding or proving anything."""

HIGHS_ROOT_PER_RELAXATION_SOLVE = 3.5
"""HiGHS's presolve and root LP take about this many times our relaxation's first, cold
solve: measured 2.4-4.8 times (cleanspark 1.1 s against 0.23 s, 20 x 180 5.4 s against
1.56 s, 50 x 180 24-33 s against 10-12 s; benchmarks/HISTORY.md, fourth pass). The top of
that range (5) was tried and dropped: it helped 50 x 180 with its tight generated cap (2.6 %
against 5.0 % at 60 s) and hurt the same instance with a cleanspark-like cap, where
HiGHS's half finds better plans (1.6 % against 0.56 %; benchmarks/HISTORY.md, fifth pass)."""


def first_plan_pays(built: BuiltModel) -> bool:
    """Whether the LP dive (first plan) and the narrowing run before HiGHS's search.

    Not on a model with an income tax. Its LPs crawl in HiGHS's dual ratio test when re-solved
    after a phase is fixed (the tax base's tie-break leaves many near-equal ratios), and HiGHS
    finds the plan by itself. On cleanspark_2026 the dive and the narrowing cost ~50 CPU s and
    HiGHS's search after them took as long as without them (85 against 79 CPU s; its root
    heuristics find the same plan). Without a tax the dive is what makes the fixed fleet take
    seconds and `large` reach its gap (benchmarks/README.md, issue 17)."""
    taxes = built.context.instance.finance.taxes
    return taxes is None or taxes.rate_pct <= 0.0


def first_plan_share(time_limit_seconds: float, relaxation_seconds: float) -> float:
    """The share of the time limit the first plan and the narrowing may use.

    At 50 sites x 180 months and a 60 s limit, half the limit cut the first plan's
    improvement pass while HiGHS, given the other 30 s, got little past its root LP: the
    plan ended 5-7 % from the bound; with 90 % of the limit it ends 3.9 % from it."""
    rest = (1.0 - FIRST_PLAN_SHARE_OF_TIME_LIMIT) * time_limit_seconds
    if rest < HIGHS_ROOT_PER_RELAXATION_SOLVE * relaxation_seconds:
        return FIRST_PLAN_SHARE_WHEN_HIGHS_CANNOT_START
    return FIRST_PLAN_SHARE_OF_TIME_LIMIT


def remaining_time(settings: SolveSettings, used_seconds: float, share: float) -> float:
    """HiGHS's own limit: what the first-plan search (allowed ``share`` of the limit) left."""
    limit = settings.time_limit_seconds
    return max(limit - used_seconds, (1.0 - share) * limit)


def dive_budget(phases: int) -> int:
    """LP solves the first-plan dive may use: a few per phase (bisections included)."""
    return 20 + 10 * phases


def improve_budget(phases: int) -> int:
    """LP solves the first plan's improvement may use."""
    return 20 + 4 * phases


def narrowing_budget(phases: int) -> int:
    """LP solves the narrowing may use: one probe per phase when nothing can be forced,
    about six when a bisection runs."""
    return 20 + 8 * phases


@dataclass
class Start:
    """What HiGHS starts from: a MIP start, where it came from, and the signing months
    ruled out by it (bounds on the 'signed by' columns, set for the search only)."""

    solution: object | None
    source: str
    relaxation_bound: float | None = None
    share: float = FIRST_PLAN_SHARE_OF_TIME_LIMIT  # of the time limit the search could use
    first_plan_value: float | None = None
    narrowing: Narrowing = field(default_factory=Narrowing)
    columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    lower: np.ndarray = field(default_factory=lambda: np.zeros(0))
    upper: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fallback: object | None = None  # the do-nothing plan, kept out of the search (first_plan_pays)
    fallback_value: float | None = None

    def fall_back(self, outcome: HighsOutcome, variables) -> HighsOutcome:
        """The outcome of a search that stopped (time limit, Ctrl-C) before it found a plan:
        the do-nothing plan kept aside, its values loaded into ``variables`` (column order),
        or the outcome as it was when there is none."""
        if outcome.has_solution or self.fallback is None:
            return outcome
        for var, x in zip(variables, self.fallback.col_value, strict=True):
            var.set_value(x, skip_validation=True)
        return dataclasses.replace(outcome, has_solution=True, objective=self.fallback_value)

    def narrow(self, highs) -> tuple[np.ndarray, np.ndarray] | None:
        """Set the narrowed bounds on ``highs``; returns the bounds they replaced."""
        if self.columns.size == 0:
            return None
        lp = highs.getLp()
        replaced = (np.asarray(lp.col_lower_)[self.columns], np.asarray(lp.col_upper_)[self.columns])
        highs.changeColsBounds(int(self.columns.size), self.columns, self.lower, self.upper)
        return replaced

    def restore(self, highs, replaced: tuple[np.ndarray, np.ndarray] | None) -> None:
        if replaced is not None:
            highs.changeColsBounds(int(self.columns.size), self.columns, *replaced)

    def instance_bound(self, highs_bound: float | None) -> float | None:
        """A bound on every plan of the instance (objectives are maximized).

        HiGHS's bound holds for the narrowed model; every plan the narrowing cut away is
        worth less than the first plan, so the larger of the two bounds the instance (the
        first plan's value only matters if HiGHS had rejected it as a start). HiGHS stopped
        before its root LP has no bound of its own (large portfolios); the relaxation
        solved for the first plan still bounds every plan, and the tighter one is kept."""
        known = []
        if _finite(highs_bound):
            if self.columns.size and _finite(self.first_plan_value):
                highs_bound = max(highs_bound, self.first_plan_value)
            known.append(highs_bound)
        if _finite(self.relaxation_bound):
            known.append(self.relaxation_bound)
        return min(known) if known else None


def starting_plan(highs, phases: list[PhaseColumns], settings: SolveSettings, *,
                  dive: bool = True) -> Start:
    """The MIP start handed to HiGHS (the LP dive of optimizer.solving.first_plan, else the
    do-nothing plan, else none) and, after a dive, the months optimizer.solving.narrowing rules out.

    Without the dive (``dive=False``, first_plan_pays) HiGHS searches from no start: handed as
    a start, the do-nothing plan made HiGHS's search on cleanspark_2026 take 75 instead of 60
    CPU s and end on a worse plan. It is kept aside instead, the plan of a search that stops
    before it finds one (Start.fall_back)."""
    if not dive:
        fallback = no_signing_start(highs, settings.threads)
        value = _objective_of(highs, fallback) if fallback is not None else None
        return Start(None, "none (HiGHS searches alone)", fallback=fallback, fallback_value=value)
    started = time.perf_counter()
    limit = settings.time_limit_seconds

    def deadline(relaxation_seconds: float) -> float:
        return started + first_plan_share(limit, relaxation_seconds) * limit

    found = find_first_plan(highs.getLp(), phases, settings.threads,
                            dive_budget=dive_budget(len(phases)),
                            improve_budget=improve_budget(len(phases)), deadline=deadline)
    share = FIRST_PLAN_SHARE_OF_TIME_LIMIT
    if found is not None and found.lp.relaxation_seconds is not None:
        share = first_plan_share(limit, found.lp.relaxation_seconds)
    bound = found.relaxation_bound if found is not None else None
    if found is None or found.solution is None:
        start = no_signing_start(highs, settings.threads)
        return Start(start, "nothing signed" if start is not None else "none", bound, share)
    narrowing_started = time.perf_counter()
    narrowing = narrow_windows(found.lp, found.plan, found.value,
                               Budget(narrowing_budget(len(phases)), found.deadline))
    narrowing.seconds = time.perf_counter() - narrowing_started
    columns, lower, upper = narrowing.column_bounds({p.key: p.columns for p in phases})
    return Start(found.solution, "lp dive", bound, share, found.value, narrowing, columns, lower, upper)


def _objective_of(highs, solution) -> float:
    lp = highs.getLp()
    return float(np.dot(np.asarray(lp.col_cost_), np.asarray(solution.col_value)) + lp.offset_)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and abs(value) < 1e20


def _subscribe_progress(highs, callback: ProgressCallback, started: float) -> None:
    last = [0.0]

    def on_interrupt(event) -> None:
        now = time.perf_counter()
        if now - last[0] < 0.25:
            return
        last[0] = now
        out = event.data_out
        primal, dual = out.mip_primal_bound, out.mip_dual_bound

        def usd(value: float) -> float | None:
            return value * USD_PER_MODEL_UNIT if math.isfinite(value) and abs(value) < 1e20 else None

        gap = out.mip_gap if math.isfinite(out.mip_gap) and out.mip_gap < 1e10 else None
        callback(Progress(now - started, usd(primal), usd(dual), gap, int(out.mip_node_count)))

    highs.cbMipInterrupt.subscribe(on_interrupt)


class StopOnCtrlC:
    """While HiGHS runs, Ctrl-C asks it to stop through its interrupt callbacks, so that it
    returns with its best plan instead of the exception tearing through the C++ search.

    Only where Ctrl-C would raise KeyboardInterrupt (the main thread, Python's own handler):
    sweep pool workers ignore SIGINT and leave it to their parent."""

    def __init__(self, highs):
        self.highs = highs
        self.requested = False
        self._previous = None
        self._events = ()

    def __enter__(self) -> StopOnCtrlC:
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._on_signal)
            self._events = (self.highs.cbMipInterrupt, self.highs.cbSimplexInterrupt,
                            self.highs.cbIpmInterrupt)
            for event in self._events:
                event.subscribe(self._check)
        return self

    def _on_signal(self, signum, frame) -> None:
        self.requested = True

    def _check(self, event) -> None:
        if self.requested:
            event.interrupt()

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            for event in self._events:
                event.unsubscribe(self._check)
            self._previous, self._events = None, ()


class HighsSession:
    """One model handed to HiGHS once and solved one or more times.

    A plain solve hands the model over in one call (``DirectHandoff``). With
    ``persistent=True`` it goes through Pyomo's persistent interface instead, so that after
    the model's knob Params change (formulation.knobs) ``handoff.update()`` edits only those
    coefficients. Each run starts from a cleared solver state, so a re-solve follows the
    same path as a fresh solve of the same coefficients.
    """

    def __init__(self, built: BuiltModel, *, persistent: bool = False, write_model: str | None = None,
                 timings: dict[str, float] | None = None):
        self.built = built
        started = time.perf_counter()
        self.handoff = PersistentHandoff(built.model) if persistent else DirectHandoff(built.model)
        if timings is not None:
            timings["handoff"] = time.perf_counter() - started
        self.highs = self.handoff.highs
        if write_model:
            self.write_model(write_model)
        self._highs_seconds_before = 0.0

    def phase_columns(self) -> list[PhaseColumns]:
        """Each signable phase's 'signed by' binaries as HiGHS columns, in window order."""
        if not self.built.context.phase_windows:  # a tree's extensive form (scenario_tree)
            return []
        columns = self.handoff.column_of
        signed_by = self.built.model.signed_by
        phases, previous = [], {}
        for window in self.built.context.phase_windows:
            if window.signable:
                months = range(window.first, window.last + 1)
                phases.append(PhaseColumns(
                    window.key, previous.get(window.site), window.first,
                    np.asarray([columns[id(signed_by[window.site, window.phase.id, t])] for t in months],
                               dtype=np.int32),
                ))
            previous[window.site] = window.key
        return phases

    def write_model(self, path: str) -> None:
        """Write the exact model HiGHS holds (MPS or LP by the file's suffix), with Pyomo's
        variable and constraint names, so that another solver can check it and its
        solution can be read back by name."""
        highs = self.highs
        for column, var in enumerate(self.handoff.variables):
            highs.passColName(column, var.name.replace(" ", ""))
        for row, constraint in enumerate(self.handoff.constraints):
            highs.passRowName(row, constraint.name.replace(" ", ""))
        highs.setOptionValue("output_flag", False)  # HiGHS announces the write on stdout
        highs.writeModel(path)
        highs.setOptionValue("output_flag", True)

    def run(self, settings: SolveSettings, *, progress: ProgressCallback | None = None,
            timings: dict[str, float] | None = None) -> SolverRun:
        timings = {} if timings is None else timings
        _prepare_threads(settings.threads)
        highs = self.highs
        highs.clearSolver()
        highs.cbMipInterrupt.clear()
        started = time.perf_counter()
        start = starting_plan(highs, self.phase_columns(), settings, dive=first_plan_pays(self.built))
        # Bounds set on HiGHS directly hold for this search only and are put back after it
        # (Pyomo's persistent interface would not see them change on the Pyomo side).
        # They go first: changing the model drops a MIP start set before.
        replaced = start.narrow(highs)
        if start.solution is not None:
            highs.setSolution(start.solution)
        timings["first_plan"] = time.perf_counter() - started - start.narrowing.seconds
        timings["narrowing"] = start.narrowing.seconds
        if progress is not None:
            _subscribe_progress(highs, progress, time.perf_counter())
        try:
            started = time.perf_counter()
            with StopOnCtrlC(highs) as stop:
                outcome = self.handoff.solve({
                    **settings.highs_option_values(),
                    "time_limit": remaining_time(settings, timings["first_plan"] + timings["narrowing"],
                                                 start.share),
                })
            timings["highs_wall"] = time.perf_counter() - started
            if outcome.has_solution:  # before the bounds go back: a model change drops the solution
                started = time.perf_counter()
                self.handoff.load_values()
                timings["load"] = time.perf_counter() - started
            else:
                outcome = start.fall_back(outcome, self.handoff.variables)
        finally:
            start.restore(highs, replaced)
        counts = model_counts(highs)
        optimal = outcome.termination == TerminationCondition.convergenceCriteriaSatisfied
        objective = outcome.objective
        bound = start.instance_bound(outcome.bound)
        gap = None
        if objective is not None and bound is not None:
            gap = abs(bound - objective) / max(abs(objective), 1e-9)
        # HiGHS's run clock adds up over re-solves on one HiGHS object.
        highs_seconds = max(0.0, outcome.cumulative_seconds - self._highs_seconds_before)
        self._highs_seconds_before = outcome.cumulative_seconds
        version = f"{highs.versionMajor()}.{highs.versionMinor()}.{highs.versionPatch()}"
        return SolverRun(
            built=self.built, settings=settings, termination=outcome.termination.name,
            has_solution=outcome.has_solution, optimal=optimal,
            objective_usd=objective * USD_PER_MODEL_UNIT if objective is not None else None,
            bound_usd=bound * USD_PER_MODEL_UNIT if bound is not None else None,
            gap=gap, highs_seconds=highs_seconds, highs_version=version,
            counts=counts, timings=timings, interrupted=stop.requested,
        )


def run_highs(
    built: BuiltModel, settings: SolveSettings, *, progress: ProgressCallback | None = None,
    write_model: str | None = None, timings: dict[str, float] | None = None,
) -> SolverRun:
    """Hand the built model to HiGHS in one call and solve it once."""
    timings = {} if timings is None else timings
    session = HighsSession(built, write_model=write_model, timings=timings)
    return session.run(settings, progress=progress, timings=timings)


def explain_infeasibility(instance: Instance, settings: SolveSettings) -> list[str]:
    """Re-solve with the liquidity floor made elastic and name the months it cannot hold."""
    from capalloc.optimizer.calendar import Calendar

    built = build_model(instance, elastic_cash=True)
    quick = dataclasses.replace(settings, time_limit_seconds=min(settings.time_limit_seconds, 60.0),
                                mip_rel_gap=0.01)
    run = run_highs(built, quick)
    if run.interrupted:  # Ctrl-C while explaining: the explanation is not the answer to give
        raise KeyboardInterrupt
    if not run.has_solution:
        covenant = instance.finance.covenant
        if covenant is not None:
            without = instance.model_copy(update={"finance": instance.finance.model_copy(
                update={"covenant": None})})
            relaxed = run_highs(build_model(without, elastic_cash=True), quick)
            if getattr(relaxed, "interrupted", False):  # main's Ctrl-C rule, once merged
                raise KeyboardInterrupt
            if relaxed.has_solution:
                return [f"no plan meets the DSCR covenant (finance.covenant: {covenant.min_dscr:g}x "
                        f"from {covenant.from_month}); lower min_dscr, start it later or carry "
                        "less debt service"]
        if _pins_something(instance):
            return ["the commitments admit no plan even with the liquidity floor relaxed: check them "
                    "against the signing order and yearly cap, the fleet owned (sales) and the site "
                    "power (commitments)"]
        return ["the model has no plan even with the liquidity floor relaxed; check the fleet, "
                "power and signing rules"]
    model = built.model
    calendar = Calendar(instance.start, instance.horizon_months, instance.discount_rate_pct_per_year)
    floor = instance.finance.minimum_cash_usd
    reasons = []
    for scenario in built.context.scenario_names:
        short = [(t, pyo.value(model.cash_shortfall[t, scenario]) * USD_PER_MODEL_UNIT)
                 for t in built.context.months]
        short = [(t, s) for t, s in short if s > 0.5]
        if not short:
            continue
        worst_t, worst = max(short, key=lambda item: item[1])
        first_t = short[0][0]
        reasons.append(
            f"scenario {scenario}: the minimum cash of ${floor:,.0f} (finance.minimum_cash_usd) "
            f"cannot be held at the end of {calendar.label(first_t)} and {len(short) - 1} later "
            f"month(s); the worst shortfall is ${worst:,.0f} in {calendar.label(worst_t)}. Lower "
            "the floor, add starting cash or a revolver, allow selling the BTC treasury, or offer "
            "refinancing (finance.notes_programs) or equity (finance.equity_issuance)."
        )
    if reasons and _pins_something(instance):
        free = instance.model_copy(update={"commitments": None})
        if run_highs(build_model(free, elastic_cash=False), quick).has_solution:
            reasons.append("the commitments cause it: without them a plan holds the floor in every month; "
                           "relax the commitments (commitments.signings, fleet_orders, notes_issued, ...)")
    return reasons or ["no plan satisfies every rule, but relaxing the liquidity floor alone "
                       "does not explain why"]


def _pins_something(instance: Instance) -> bool:
    commitments = getattr(instance, "commitments", None)
    return commitments is not None and not commitments.empty
