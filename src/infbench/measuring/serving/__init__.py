"""Under load: MLPerf's LoadGen drives each runtime through its serving loop (SingleStream, MultiStream, Server, Offline).

What the DAG build reads of serving lives in infbench.planning (scenarios, serving) and the serving record in
infbench.results.serving_records; the modules here import LoadGen, numpy and the runtimes, and run in the serving jobs.
"""
