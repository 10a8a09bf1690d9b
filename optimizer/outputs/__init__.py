"""What a solve leaves behind and what a planner reads.

- ``extract`` (with ``extract_notes``, ``income_table``): the Plan and its monthly tables
  from a solved model.
- ``plan_io`` and ``output_dir``: plan directories on disk under the output contract
  (marker, lock, journaled atomic writes, nothing foreign touched); ``versions``: provenance.
- ``report``: the terminal summary; ``report_html``, ``report_charts``, ``report_tables``,
  ``report_xlsx``, ``report_sweep``, ``report_files``: `capalloc report` (report.html,
  plan.xlsx, sweep reports).
"""
