"""OpenVINO's CPU plugin on onnx_model.onnx, with its latency and throughput performance hints.

The plugin chooses its own inference precision: on CPUs with AMX it runs bf16 unless told
otherwise. Every cell therefore pins INFERENCE_PRECISION_HINT to the cell's precision and records
what the compiled model reports; a precision the CPU cannot run (no BF16 or FP16 capability) is
skipped with the plugin's own capability list.
"""

from __future__ import annotations

import numpy as np

from infbench.errors import ArtifactError, BackendUnavailable, first_line
from infbench.measuring.backends.base import AsyncQueue, CellRequest, Loaded, Runtime, quantized_details, read_quantized
from infbench.planning.hardware import no_cpu_bf16_reason
from infbench.planning.variants import AsyncRequests, OpenVINOOptions
from infbench.planning.versions import installed_version

# int8 models hold their 8-bit layers as FakeQuantize operations; what they keep in float runs in f32.
PRECISION_HINTS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "int8": "f32"}
EIGHT_BIT = ("i8", "u8")
CAPABILITIES = {"fp16": "FP16", "bf16": "BF16"}  # OPTIMIZATION_CAPABILITIES a precision needs


def _read(core, path: str, input_shape):
    try:
        model = core.read_model(path)
    except Exception as exc:
        raise ArtifactError(f"{path}: OpenVINO cannot read it ({first_line(exc)})") from exc
    model.reshape({0: list(input_shape)})  # a static shape, as the other runtimes build for
    return model


def _check_capability(core, precision: str) -> list[str]:
    capabilities = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    needed = CAPABILITIES.get(precision)
    if needed and needed not in capabilities:
        raise BackendUnavailable(
            f"{precision} not supported by OpenVINO's CPU plugin on this CPU (its capabilities: {', '.join(capabilities)})"
        )
    return capabilities


def _throughput_step(ov, compiled, requests_in_flight: int):
    queue = ov.AsyncInferQueue(compiled, requests_in_flight)

    def make_step(batch: np.ndarray):
        def step() -> None:
            for _ in range(requests_in_flight):
                queue.start_async({0: batch})
            queue.wait_all()

        return step

    return make_step


def _async_queue(ov, compiled, requests: int, details: dict):
    """AsyncInferQueue over the compiled model: each finished request hands its output to `callback` (serving loops)."""

    def make(callback) -> AsyncQueue:
        queue = ov.AsyncInferQueue(compiled, requests)
        queue.set_callback(lambda request, userdata: callback(userdata, request.get_output_tensor(0).data.copy()))
        return AsyncQueue(start=lambda x, userdata: queue.start_async({0: x}, userdata), wait_all=queue.wait_all,
                          jobs=requests, details=details)

    return make


def _hint(request: CellRequest, options: OpenVINOOptions) -> str:
    """The variant's hint, or the one its serving loop compiles with (THROUGHPUT: the plugin's streams)."""
    return request.serving.performance_hint if isinstance(request.serving, AsyncRequests) else options.performance_hint


def runtime_precisions(compiled) -> dict[str, int]:
    """How many of the compiled model's operations run in each precision (the plugin's own account)."""
    counts: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "unknown"
        counts[precision] = counts.get(precision, 0) + 1
    return counts


def _model_path(request: CellRequest, details: dict) -> str:
    if request.precision != "int8":
        return request.artifacts["onnx"]
    path, record = read_quantized(request.artifacts["int8_dir"])
    details |= quantized_details(record)
    return path


class OpenVINORuntime(Runtime):
    def unavailable_reason(self, request: CellRequest) -> str | None:
        if installed_version("openvino") is None:
            return "openvino is not installed"
        # The plugin lists BF16 where it can only emulate it (several times slower than f32): a bf16 cell needs the CPU's own.
        return no_cpu_bf16_reason() if request.precision == "bf16" else None

    def load(self, request: CellRequest) -> Loaded:
        import openvino as ov

        options: OpenVINOOptions = request.options
        core = ov.Core()
        capabilities = _check_capability(core, request.precision)
        details: dict = {}
        model = _read(core, _model_path(request, details), request.input_shape)
        config = {
            "PERFORMANCE_HINT": _hint(request, options),
            "INFERENCE_NUM_THREADS": request.threads,
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[request.precision],
        }
        compiled = core.compile_model(model, "CPU", config)
        reported = compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        if reported != PRECISION_HINTS[request.precision]:
            raise BackendUnavailable(f"OpenVINO's CPU plugin runs {reported} when asked for {request.precision}")
        requests_in_flight = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        details["runtime_precisions"] = precisions = runtime_precisions(compiled)
        if request.precision == "int8" and not any(precisions.get(p) for p in EIGHT_BIT):
            raise BackendUnavailable(f"OpenVINO's CPU plugin ran no operation in 8 bits (its precisions: {precisions})")
        details |= {
            "variant": request.variant_name,
            "options": options.described(),
            "config": config,
            "inference_precision": reported,
            "num_streams": str(compiled.get_property("NUM_STREAMS")),
            "optimal_number_of_infer_requests": requests_in_flight,
            "cpu_capabilities": capabilities,
            "openvino": ov.__version__,
        }
        infer_request = compiled.create_infer_request()
        queue_requests = (request.serving.requests if isinstance(request.serving, AsyncRequests) else None) or requests_in_flight
        async_queue = _async_queue(ov, compiled, queue_requests, {"streams": details["num_streams"], "requests": queue_requests})

        def infer(x: np.ndarray) -> np.ndarray:
            infer_request.infer({0: x})
            return infer_request.get_output_tensor(0).data.copy()

        if options.performance_hint == "LATENCY":
            return Loaded(infer, np.dtype(np.float32), details=details, async_queue=async_queue)
        details["timed_step"] = f"{requests_in_flight} requests started together through AsyncInferQueue, then wait_all"
        return Loaded(infer, np.dtype(np.float32), details=details, make_step=_throughput_step(ov, compiled, requests_in_flight),
                      batches_per_step=requests_in_flight, async_queue=async_queue)


RUNTIME = OpenVINORuntime()
