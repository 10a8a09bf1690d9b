"""Sensitivity sweeps: spec expansion, runner (local pool or Dask), results store, charts,
break-even search. Specs are described in ``models/sweep.py``."""

from capalloc.optimizer.sweep.breakeven import BreakevenError, BreakevenResult, find_breakeven
from capalloc.optimizer.sweep.expand import Expansion, SweepPoint, expand_file
from capalloc.optimizer.sweep.runner import SweepAborted, SweepRun, run_sweep
from capalloc.optimizer.sweep.worker import PointSolver, ResultRow

__all__ = [
    "BreakevenError", "BreakevenResult", "Expansion", "PointSolver", "ResultRow", "SweepAborted",
    "SweepPoint", "SweepRun", "expand_file", "find_breakeven", "run_sweep",
]
