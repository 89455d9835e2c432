"""Turning records into results, one module per output: summary rows (CSV and JSON), the study's
table, the fastest-per-runtime table, the detailed tables, the chart, and the documents that hold
them (a run's table.md, the comparison of several runs).

Every table is built from summary rows, so that a run's report and a comparison of runs made
elsewhere (read back from their summary.json) come from the same code.
"""
