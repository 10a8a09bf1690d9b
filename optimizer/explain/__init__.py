"""What a planner asks after a plan: its shadow prices, the rates at which a phase would be
signed earlier, what signing a phase now or never is worth (`capalloc explain`), and
near-optimal plans that differ most in their signings (`capalloc alternatives`).

- ``fixed_lp``: the plan's model with its integer decisions held, re-solved as an LP.
- ``prices``: duals as planner quantities (contracted power, liquidity, signing capacity).
- ``thresholds`` and ``phases``: lease and capex thresholds, sign-now and never re-solves.
- ``report``: explain.json and its table; ``alternatives``: modelling to generate alternatives.
"""
