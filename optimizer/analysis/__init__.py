"""Questions a planner asks of a plan once it exists.

- ``evaluate`` (with ``formulation/cure.py``): a committed plan re-optimized under another
  instance (a stress), with the shortfall by month and the cures (`capalloc evaluate`).
- ``fixed_lp``, ``prices``, ``thresholds``, ``phases``, ``report``, ``tables``: shadow prices
  with the plan's integer decisions held, signing thresholds, sign-now / never values
  (`capalloc explain`).
- ``alternatives``: near-optimal plans that differ most in their signings
  (`capalloc alternatives`).
"""
