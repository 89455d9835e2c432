"""Planning: what the Snakefile and the rules build the plan from, with snakemake alone (tests/test_seam.py).

The configuration and its checks, the catalogue of backends, variants and recipes, a cell's identity, where files
live, the machines and models of a run, what this machine and its libraries can run, the scenarios served, and the
code each step runs. Nothing here imports numpy, pandas or a runtime: every other part of the package reads it.
"""
