"""Under load: MLPerf's LoadGen drives each runtime through its serving loop (SingleStream, MultiStream, Server, Offline).

`scenarios` and `plan` are light (the DAG build reads them); the rest imports LoadGen, numpy and the
runtimes, and runs in the serving jobs.
"""
