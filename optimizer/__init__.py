"""capalloc's engine, installed as ``capalloc.optimizer``. Read it as a table of contents:

- ``formulation/``: the MIP, one module per concern (AI phases and lead times, fleet, mining,
  power, notes, BTC loans, taxes, covenant, finance, commitments, objective), wired in
  ``formulation/builder.py``.
- ``scenario_tree/``: trees of scenarios: each scenario's own instance, the extensive form
  with non-anticipativity, CVaR, VSS and EVPI, and their plan and audit.
- ``solving/``: from a built model to HiGHS's answer (hand-off, first plan, narrowing,
  re-solves, time limits, infeasibility explained).
- ``checks/``: the independent audit, plan comparison, golden-plan regression, test helpers.
- ``outputs/``: plan extraction, plan directories on disk, the terminal summary and reports.
- ``analysis/``: what a planner asks next (explain, alternatives, evaluate).
- ``sweep/``: sensitivity sweeps and break-even; ``scenarios/``: the scenario-tree generator.
- ``economics.py``, ``economics_finance.py``, ``calendar.py``: the pure arithmetic under
  everything (hashprice, phase and debt schedules, months), shared in meaning with the audit.
- ``pipeline.py`` (file -> validated instance -> model -> HiGHS -> plan -> files) and
  ``cli.py`` on top; ``api/`` is the ``capalloc`` package itself (the Python API).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("capalloc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
