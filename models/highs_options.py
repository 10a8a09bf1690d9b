"""The HiGHS options an instance may set under ``solver.highs_options``: an allow-list.

Only tuning options are allowed: they change how HiGHS searches, never what it reads or
writes, what it prints, or the meaning of its answer. HiGHS's file options (log_file,
solution_file, write_model_file, read_solution_file, ...) would let an instance file read
or write any path, so they, like every option not listed here, are refused. The settings
capalloc owns (time limit, gap, threads, seed) have their own fields under ``solver``.
The check needs no HiGHS: validation stays quiet and works without the solver installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from capalloc.models.ranges import format_number

INT_MAX = 2_147_483_647  # HiGHS's integer options are C ints


@dataclass(frozen=True)
class HighsOption:
    """One allowed option: its kind and the values it may take (a subset of HiGHS's own)."""

    kind: type  # bool, int, float or str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return " | ".join(self.choices)
        what = "a whole number" if self.kind is int else "a number"
        return f"{what} from {format_number(self.low)} to {format_number(self.high)}"

    def accepts(self, value: bool | int | float | str) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is str:
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        return self.low <= value <= self.high


_BOOL = HighsOption(bool)
_OFF_CHOOSE_ON = HighsOption(str, choices=("off", "choose", "on"))

ALLOWED_HIGHS_OPTIONS: dict[str, HighsOption] = {
    "presolve": _OFF_CHOOSE_ON,
    "parallel": _OFF_CHOOSE_ON,
    "simplex_strategy": HighsOption(int, 0, 4),
    "mip_heuristic_effort": HighsOption(float, 0, 1),
    "mip_heuristic_run_feasibility_jump": _BOOL,
    "mip_heuristic_run_rins": _BOOL,
    "mip_heuristic_run_rens": _BOOL,
    "mip_heuristic_run_root_reduced_cost": _BOOL,
    "mip_heuristic_run_zi_round": _BOOL,
    "mip_heuristic_run_shifting": _BOOL,
    "mip_allow_restart": _BOOL,
    "mip_detect_symmetry": _BOOL,
    "mip_root_presolve_only": _BOOL,
    "mip_allow_cut_separation_at_nodes": _BOOL,
    "mip_lifting_for_probing": HighsOption(int, -1, INT_MAX),
    "mip_lp_age_limit": HighsOption(int, 0, 32767),
    "mip_pool_age_limit": HighsOption(int, 0, 1000),
    "mip_pool_soft_limit": HighsOption(int, 1, INT_MAX),
    "mip_pscost_minreliable": HighsOption(int, 0, INT_MAX),
    "mip_max_start_nodes": HighsOption(int, 0, INT_MAX),
    "mip_min_cliquetable_entries_for_parallelism": HighsOption(int, 0, INT_MAX),
    # Looser tolerances than 1e-4 would let HiGHS return plans the audit rightly rejects.
    "mip_feasibility_tolerance": HighsOption(float, 1e-10, 1e-4),
    "primal_feasibility_tolerance": HighsOption(float, 1e-10, 1e-4),
    "dual_feasibility_tolerance": HighsOption(float, 1e-10, 1e-4),
}

OWN_SETTINGS = {
    "time_limit": "solver.time_limit_seconds",
    "mip_rel_gap": "solver.mip_rel_gap",
    "threads": "solver.threads",
    "random_seed": "solver.random_seed",
}

HIGHS_OPTIONS_DOC = "; ".join(f"{name} ({option.text})" for name, option in ALLOWED_HIGHS_OPTIONS.items())


def highs_option_problem(name: str, value: bool | int | float | str) -> tuple[str, str] | None:
    """(message, hint) when ``name: value`` may not be set, None when it may."""
    option = ALLOWED_HIGHS_OPTIONS.get(name)
    if option is not None:
        if option.accepts(value):
            return None
        return f"{value!r} is not allowed", f"write {option.text}"
    if name in OWN_SETTINGS:
        return "is set by capalloc itself", f"use {OWN_SETTINGS[name]} instead"
    if "file" in name:
        return ("is a HiGHS file option: an instance may not make capalloc read or write files",
                "remove it; capalloc writes its results only to the plan directory")
    return ("is not a HiGHS tuning option capalloc allows",
            "allowed: " + ", ".join(ALLOWED_HIGHS_OPTIONS))


def normalized_options(options: dict[str, bool | int | float | str]) -> dict[str, bool | int | float | str]:
    """The options with whole numbers given for number options turned into floats (YAML
    reads ``mip_heuristic_effort: 1`` as an int; HiGHS's double options want a float)."""
    out: dict[str, bool | int | float | str] = {}
    for name, value in options.items():
        option = ALLOWED_HIGHS_OPTIONS.get(name)
        numeric = isinstance(value, int) and not isinstance(value, bool)
        out[name] = float(value) if option is not None and option.kind is float and numeric else value
    return out
