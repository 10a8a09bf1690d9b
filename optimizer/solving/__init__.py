"""From a built model to HiGHS's answer: the solve strategy.

- ``handoff``: the Pyomo model copied into HiGHS in one ``passModel`` call (fixed columns kept).
- ``first_plan``: an LP-guided dive over signing months for a first plan HiGHS starts from.
- ``narrowing``: by when every plan better than the first must sign each phase (probing LPs).
- ``solve``: settings, the HiGHS session, time limits, Ctrl-C, infeasibility explained.
- ``resolve``: re-solves with changed parameters on the persistent model (sweeps).
"""
