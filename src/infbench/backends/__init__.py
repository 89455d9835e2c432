"""Backend implementations, imported by name so that the DAG build and skipped cells stay light."""

from __future__ import annotations

import importlib
from types import ModuleType

from infbench.catalog import BACKENDS


def implementation(backend_name: str) -> ModuleType:
    """The module with `unavailable_reason(request)` and `load(request)` for a backend."""
    return importlib.import_module(BACKENDS[backend_name].implementation)
