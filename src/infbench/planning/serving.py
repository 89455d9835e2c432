"""Which scenario cells a configuration asks for, and the settings each one runs with (light: the DAG build reads it).

A scenario cell's settings are the part of `serving` it uses, so that a change to one scenario's
settings reruns that scenario's cells alone (Snakemake compares params).
"""

from __future__ import annotations

from typing import Any

from infbench.errors import ConfigError
from infbench.planning.scenarios import DEPENDS_ON_SERVER, SCENARIOS

RUN_KEYS = ("min_duration_s", "max_duration_s", "warmup_batches", "stall_timeout_s", "accuracy")
LATENCY_PERCENTILE = 0.99  # Server and MultiStream are scored at p99 (MLPerf's), SingleStream at p90
SINGLE_STREAM_PERCENTILE = 0.9


def is_served(config: dict[str, Any], backend: str, variant: str) -> bool:
    """Whether a measured backend's variant is served (serving.backends and serving.variants narrow what is measured)."""
    serving = config["serving"]
    if serving["backends"] is not None and backend not in serving["backends"]:
        return False
    chosen = serving["variants"].get(backend)
    return chosen is None or variant in chosen


def latency_bound_ms(config: dict[str, Any], device: str) -> float:
    bound = config["serving"]["server"]["latency_bound_ms"]
    return float(bound[device] if isinstance(bound, dict) else bound)


def scenario_settings(config: dict[str, Any], scenario: str, device: str) -> dict[str, Any]:
    """What one scenario's cells run with: the run's durations and checks, and the scenario's own section."""
    serving = config["serving"]
    settings = {key: serving[key] for key in RUN_KEYS} | {"scenario": scenario}
    own = dict(serving[SCENARIOS[scenario].key])
    if scenario in ("Server", *DEPENDS_ON_SERVER):
        own["latency_bound_ms"] = latency_bound_ms(config, device)
        own["latency_percentile"] = LATENCY_PERCENTILE
    if scenario in DEPENDS_ON_SERVER:
        own["min_query_count"] = serving["server"]["min_query_count"]
    return settings | {SCENARIOS[scenario].key: own}


def check_serving(config: dict[str, Any]) -> None:
    """What the schema cannot say about `serving` (after the benchmark's defaults are filled in)."""
    serving, bench = config["serving"], config["benchmark"]
    for scenario in DEPENDS_ON_SERVER:
        if scenario in serving["scenarios"] and "Server" not in serving["scenarios"]:
            raise ConfigError(f"serving.scenarios: {scenario} runs at fractions of the Server cell's rate (add Server)")
    for i, backend in enumerate(serving["backends"] or []):
        if backend not in bench["backends"]:
            raise ConfigError(f"serving.backends[{i}]: '{backend}' is not measured (benchmark.backends: "
                              f"{', '.join(bench['backends'])})")
    for backend, variants in serving["variants"].items():
        measured = bench["variants"].get(backend, [])
        for i, variant in enumerate(variants):
            if variant not in measured:
                raise ConfigError(f"serving.variants.{backend}[{i}]: '{variant}' is not a measured variant of {backend} "
                                  f"(measured: {', '.join(measured) or 'none'})")
    if serving["min_duration_s"] > serving["max_duration_s"]:
        raise ConfigError(f"serving.min_duration_s: {serving['min_duration_s']} is above serving.max_duration_s "
                          f"({serving['max_duration_s']})")
    per_query, images = serving["multi_stream"]["samples_per_query"], config["parity"]["images"]
    if "MultiStream" in serving["scenarios"] and per_query > images:
        raise ConfigError(f"serving.multi_stream.samples_per_query: {per_query} is above parity.images ({images}), "
                          "the samples LoadGen draws from")


def built_for(inputs: dict[str, str], batch: int) -> dict[str, str]:
    """The artifacts a serving job's inputs hold for one batch size (`engine_dir_bs8` -> `engine_dir`), by their role."""
    suffix = f"_bs{batch}"
    return {key.removesuffix(suffix): path for key, path in inputs.items() if key.endswith(suffix)}
