"""A backend added the way docs/adding-a-backend.md describes: ONNX's own reference evaluator, pure numpy.

Slow (it runs each operator in Python), so it is no benchmark of anything; it is a real runtime,
which is what the contract needs to be shown with.
"""

from __future__ import annotations

import numpy as np

from infbench.errors import ArtifactError, first_line
from infbench.measuring.backends.base import CellRequest, Loaded, Runtime
from infbench.planning.versions import installed_version


class OnnxReferenceRuntime(Runtime):
    def unavailable_reason(self, request: CellRequest) -> str | None:
        return "onnx is not installed" if installed_version("onnx") is None else None

    def load(self, request: CellRequest) -> Loaded:
        from onnx.reference import ReferenceEvaluator

        path = request.artifacts["onnx"]
        try:
            evaluator = ReferenceEvaluator(path)
        except Exception as exc:
            raise ArtifactError(f"{path}: the ONNX reference evaluator cannot load it ({first_line(exc)})") from exc

        def infer(x: np.ndarray) -> np.ndarray:
            return evaluator.run(None, {"input": x})[0]

        return Loaded(infer, np.dtype(np.float32), details={"evaluator": "onnx.reference.ReferenceEvaluator"})


RUNTIME = OnnxReferenceRuntime()
