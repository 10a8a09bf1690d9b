"""`capalloc scenarios`: the seeded scenario-tree generator.

- ``scenario_sampling``: BTC price and network hashrate as correlated geometric Brownian
  motions, sampled and reduced to a tree with the moments matched at each branching month.
- ``scenario_gen``: the tree crossed with lead-time slips, written into an instance's fields.
- ``scenario_files``, ``scenario_chart``: the new instance file, its paths CSV and fan chart.
"""
