"""OpenVINO's CPU plugin on onnx_model.onnx, with its latency and throughput performance hints.

The plugin chooses its own inference precision: on CPUs with AMX it runs bf16 unless told
otherwise. Every cell therefore pins INFERENCE_PRECISION_HINT to the cell's precision and records
what the compiled model reports; a precision the CPU cannot run (no BF16 or FP16 capability) is
skipped with the plugin's own capability list.
"""

from __future__ import annotations

import numpy as np

from infbench.backends.base import CellRequest, Loaded
from infbench.errors import ArtifactError, BackendUnavailable, first_line
from infbench.versions import installed_version

HINTS = {"latency": "LATENCY", "throughput": "THROUGHPUT"}
PRECISION_HINTS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
CAPABILITIES = {"fp16": "FP16", "bf16": "BF16"}  # OPTIMIZATION_CAPABILITIES a precision needs


def unavailable_reason(request: CellRequest) -> str | None:
    if installed_version("openvino") is None:
        return "openvino is not installed"
    return None


def load(request: CellRequest) -> Loaded:
    import openvino as ov

    core = ov.Core()
    capabilities = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    needed = CAPABILITIES.get(request.precision)
    if needed and needed not in capabilities:
        raise BackendUnavailable(
            f"{request.precision} not supported by OpenVINO's CPU plugin on this CPU (its capabilities: {', '.join(capabilities)})"
        )
    path = request.artifacts["onnx"]
    try:
        model = core.read_model(path)
    except Exception as exc:
        raise ArtifactError(f"{path}: OpenVINO cannot read it ({first_line(exc)})") from exc
    model.reshape({0: list(request.input_shape)})  # a static shape, as the other runtimes build for
    hint = HINTS[request.variant_name]
    config = {
        "PERFORMANCE_HINT": hint,
        "INFERENCE_NUM_THREADS": request.threads,
        "INFERENCE_PRECISION_HINT": PRECISION_HINTS[request.precision],
    }
    compiled = core.compile_model(model, "CPU", config)
    reported = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
    if reported != PRECISION_HINTS[request.precision]:
        raise BackendUnavailable(f"OpenVINO's CPU plugin runs {reported} when asked for {request.precision}")
    requests_in_flight = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    details = {
        "variant": request.variant_name,
        "config": config,
        "inference_precision": reported,
        "num_streams": str(compiled.get_property("NUM_STREAMS")),
        "optimal_number_of_infer_requests": requests_in_flight,
        "cpu_capabilities": capabilities,
        "openvino": ov.__version__,
    }
    infer_request = compiled.create_infer_request()

    def infer(x: np.ndarray) -> np.ndarray:
        infer_request.infer({0: x})
        return infer_request.get_output_tensor(0).data.copy()

    if hint == "LATENCY":
        return Loaded(infer, np.dtype(np.float32), details=details)

    queue = ov.AsyncInferQueue(compiled, requests_in_flight)

    def make_step(batch: np.ndarray):
        def step() -> None:
            for _ in range(requests_in_flight):
                queue.start_async({0: batch})
            queue.wait_all()

        return step

    details["timed_step"] = f"{requests_in_flight} requests started together through AsyncInferQueue, then wait_all"
    return Loaded(infer, np.dtype(np.float32), details=details, make_step=make_step, batches_per_step=requests_in_flight)
