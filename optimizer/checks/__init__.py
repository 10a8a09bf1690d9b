"""What makes a plan trustworthy, independently of the model that produced it.

- ``audit`` (with ``audit_rules``, ``audit_fleet``, ``audit_notes``, ``audit_btcloans``,
  ``audit_taxes``, ``audit_commitments``): every rule and the NPV recomputed from the instance
  and the plan's decisions alone, with pandas, sharing meaning (economics.py) but no code path
  with the formulation.
- ``compare``: two plans side by side (objective, signings, MW by site and year).
- ``regress``: golden plans held by `capalloc regress`.
- ``testing``: assertion helpers for users' own regression tests.
"""
