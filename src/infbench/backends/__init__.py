"""Backend implementations, imported by name so that the DAG build and skipped cells stay light."""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = {
    "pytorch_cpu": "pytorch",
    "pytorch_cuda": "pytorch",
    "onnxruntime_cpu": "onnxruntime",
    "onnxruntime_cuda": "onnxruntime",
    "onnxruntime_tensorrt": "onnxruntime",
    "tensorrt": "tensorrt",
    "torch2trt": "torch2trt",
}


def implementation(backend_name: str) -> ModuleType:
    """The module with `unavailable_reason(request)` and `load(request)` for a backend."""
    return importlib.import_module(f"infbench.backends.{_MODULES[backend_name]}")
