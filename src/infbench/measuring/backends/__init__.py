"""Backend implementations, imported by name so that the DAG build and skipped cells stay light."""

from __future__ import annotations

import importlib

from infbench.planning.catalog import BACKENDS


def implementation(backend_name: str):
    """The `Runtime` of a backend (its module's RUNTIME), imported on first use."""
    from infbench.measuring.backends.base import Runtime

    runtime = getattr(importlib.import_module(BACKENDS[backend_name].module), "RUNTIME", None)
    if not isinstance(runtime, Runtime):
        raise TypeError(f"{BACKENDS[backend_name].module}.RUNTIME is not an infbench.measuring.backends.base.Runtime")
    return runtime
