"""ONNX Runtime inference from onnx_model.onnx with its CPU, CUDA and TensorRT execution providers.

ONNX Runtime falls back silently: asked for a provider it cannot load, it runs the model on the
next one. A cell therefore counts only if `get_providers()` lists the provider it claims and a
profiled run shows that provider executing nodes of the model.
"""

from __future__ import annotations

import collections
import json
import os
import re
import tempfile

import numpy as np

from infbench.backends.base import CellRequest, Loaded, Resident, captured_stderr
from infbench.errors import ArtifactError, BackendUnavailable, first_line
from infbench.hardware import no_gpu_reason
from infbench.versions import installed_version

CPU_FP16 = (
    "fp16 not supported on CPU by this backend "
    "(ONNX Runtime's CPU provider casts an fp16 model back to fp32 and runs it in fp32)"
)
TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
# Session-creation errors that mean the file itself is unusable.
_BAD_MODEL_ERRORS = {"InvalidProtobuf", "NoSuchFile", "InvalidGraph", "ModelLoadFailed"}


def unavailable_reason(request: CellRequest) -> str | None:
    version = installed_version("onnxruntime")
    if version is None:
        return "onnxruntime is not installed"
    if request.backend.device == "cpu" and request.precision == "fp16":
        return CPU_FP16
    if request.precision == "bf16":
        return "bf16 not supported by this backend (the workflow exports fp32 and fp16 ONNX models)"
    reasons = []
    if request.backend.is_gpu and (why := no_gpu_reason()):
        reasons.append(why)
    import onnxruntime as ort

    available = ort.get_available_providers()
    if request.backend.provider not in available:
        reasons.append(
            f"{request.backend.provider} is not in this ONNX Runtime build ({version} has "
            f"{', '.join(available)}; onnxruntime-gpu has the CUDA and TensorRT providers)"
        )
    return "; ".join(reasons) or None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def provider_load_error(messages: list[str]) -> str | None:
    """The cause in ONNX Runtime's log when a provider library failed to load, without colours or timestamps."""
    lines = [_ANSI.sub("", m).strip() for m in messages]
    for line in lines:
        if "Failed to load library" in line:
            cause = line.split(" with error: ", 1)[1] if " with error: " in line else line.rsplit("] ", 1)[-1]
            return cause.strip()
    errors = [line.rsplit("] ", 1)[-1] for line in lines if "error" in line.lower() or "fail" in line.lower()]
    return errors[0][:300] if errors else None


def _session_options(ort, threads: int, profile_prefix: str | None = None):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return options


# The CUDA provider's variants: prefer_nhwc, and enable_cuda_graph (which needs IO binding of fixed buffers).
CUDA_VARIANTS = {"default": (False, False), "nhwc": (True, False), "cuda_graph": (False, True), "nhwc_cuda_graph": (True, True)}
CONV_ALGO_SEARCH = "EXHAUSTIVE"  # cuDNN's convolution search, set explicitly: DEFAULT was about 8x slower on the H200


def uses_cuda_graph(request: CellRequest) -> bool:
    return request.variant_name in ("cuda_graph", "nhwc_cuda_graph")


def _providers(request: CellRequest, stream_handle: int | None, input_name: str, graph: bool) -> tuple[list, dict]:
    """The provider list for the session and a description of the options that matter for the record.

    `graph` False gives the same providers without CUDA-graph capture (for the profiled placement run).
    """
    if request.backend.provider == "CPUExecutionProvider":
        return ["CPUExecutionProvider"], {}
    nhwc = request.backend.provider == CUDA and CUDA_VARIANTS[request.variant_name][0]
    cuda_options = {
        "device_id": 0,
        "use_tf32": int(request.allow_tf32),
        "cudnn_conv_algo_search": CONV_ALGO_SEARCH,
        "prefer_nhwc": int(nhwc),
        "enable_cuda_graph": int(graph and request.backend.provider == CUDA and uses_cuda_graph(request)),
        "user_compute_stream": str(stream_handle),
    }
    if request.backend.provider == CUDA:
        return [(CUDA, cuda_options)], {"cuda": cuda_options | {"user_compute_stream": "torch stream"}}
    shape = "x".join(str(d) for d in request.input_shape)
    cache = os.path.join(request.cache_dir, "ort_tensorrt", request.variant_name, f"{request.precision}_bs{request.batch_size}") \
        if request.cache_dir else tempfile.mkdtemp(prefix="ort-trt-")
    os.makedirs(cache, exist_ok=True)
    trt_options = {
        "device_id": 0,
        "trt_fp16_enable": request.precision == "fp16",
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": cache,
        "trt_max_workspace_size": request.workspace_mb << 20,
        "trt_profile_min_shapes": f"{input_name}:{shape}",
        "trt_profile_opt_shapes": f"{input_name}:{shape}",
        "trt_profile_max_shapes": f"{input_name}:{shape}",
        "trt_cuda_graph_enable": graph and request.variant_name == "cuda_graph",
        "user_compute_stream": str(stream_handle),
    }
    described = {"tensorrt": trt_options | {"user_compute_stream": "torch stream"}, "cuda_for_unsupported_nodes": cuda_options}
    return [(TENSORRT, trt_options), (CUDA, cuda_options)], described


def _create_session(ort, path: str, options, providers):
    with captured_stderr() as messages:
        try:
            session = ort.InferenceSession(path, options, providers=providers)
        except Exception as exc:
            if type(exc).__name__ in _BAD_MODEL_ERRORS:
                raise ArtifactError(f"{path}: ONNX Runtime cannot load it ({first_line(exc)})") from exc
            raise
    # By default a run that fails in its provider silently re-creates the session on the fallback
    # providers and carries on: on the H200 an fp32 batch-256 CUDA cell went on running on the CPU
    # (1.7 s a call). A provider's failure at run time is the cell's error instead.
    session.disable_fallback()
    return session, messages


def _node_placement(ort, path, request, providers, feed) -> dict[str, int]:
    """Which provider ran how many nodes, read from the profile of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        options = _session_options(ort, request.threads, os.path.join(tmp, "profile"))
        session, _ = _create_session(ort, path, options, providers)
        session.run(None, feed)
        with open(session.end_profiling()) as f:
            events = json.load(f)
    counts = collections.Counter(
        e["args"]["provider"]
        for e in events
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and "provider" in e.get("args", {})
    )
    return dict(counts)


def load(request: CellRequest) -> Loaded:
    provider = request.backend.provider
    gpu = request.backend.is_gpu
    details: dict = {"intra_op_threads": request.threads, "inter_op_threads": 1, "variant": request.variant_name}
    torch = stream = None
    if gpu:
        from infbench.backends import cuda

        if provider == TENSORRT and not request.allow_tf32:
            # The TensorRT provider has no TF32 option; the runner set NVIDIA_TF32_OVERRIDE=0 for every GPU cell.
            details["tf32"] = "disabled with NVIDIA_TF32_OVERRIDE=0"
        elif provider == TENSORRT:
            details["tf32"] = "allowed (TensorRT's default)"
        else:
            details["tf32"] = "allowed" if request.allow_tf32 else "disabled (use_tf32=0)"
        torch = cuda.require_cuda()  # torch first: it loads the CUDA libraries ONNX Runtime links against
        stream = torch.cuda.Stream()
    import onnxruntime as ort

    use_fp16_model = request.precision == "fp16" and provider != TENSORRT
    path = request.artifacts["onnx_fp16" if use_fp16_model else "onnx"]
    if request.precision == "fp16":
        details["fp16_method"] = "fp16 ONNX model (exported from model.half())" if use_fp16_model else "trt_fp16_enable on the fp32 ONNX model"
    # The input name is needed for the TensorRT profile shapes; every exported model calls it "input".
    stream_handle = stream.cuda_stream if gpu else None
    providers, details["provider_options"] = _providers(request, stream_handle, "input", graph=True)
    session, messages = _create_session(ort, path, _session_options(ort, request.threads), providers)
    actual = session.get_providers()
    details["session_providers"] = actual
    if provider not in actual:
        cause = provider_load_error(messages)
        raise BackendUnavailable(
            f"{provider} did not load" + (f" ({cause})" if cause else "")
            + f"; ONNX Runtime would have run the model on {actual[0]} instead"
        )
    input_meta, output_meta = session.get_inputs()[0], session.get_outputs()[0]
    input_dtype = np.dtype(np.float16 if "float16" in input_meta.type else np.float32)
    output_dtype = np.dtype(np.float16 if "float16" in output_meta.type else np.float32)

    # Placement only, never timed. Which provider runs which node does not depend on the batch, and
    # one image is checked (seen on the H200: a separately profiled session at batch 256 reported
    # every node on the CPU while the cell's own session ran on the GPU); the TensorRT provider's
    # engine is built for the cell's batch alone, so it is checked at that batch.
    placement_batch = request.batch_size if provider == TENSORRT else 1
    example = {input_meta.name: np.zeros((placement_batch, *request.input_shape[1:]), dtype=input_dtype)}
    placement_providers, _ = _providers(request, stream_handle, "input", graph=False)
    placement = _node_placement(ort, path, request, placement_providers, example)
    details["node_placement"] = placement
    if not placement.get(provider):
        raise BackendUnavailable(f"{provider} loaded but ran none of the model's nodes (placement: {placement})")
    if not gpu:
        return Loaded(lambda x: session.run([output_meta.name], {input_meta.name: x})[0], input_dtype, details=details)

    from infbench.backends.cuda import EventTimer

    x_gpu = torch.empty(request.input_shape, dtype=getattr(torch, input_dtype.name), device="cuda")
    y_shape = (request.batch_size, request.num_classes)
    y_gpu = torch.empty(y_shape, dtype=getattr(torch, output_dtype.name), device="cuda")
    binding = session.io_binding()
    binding.bind_input(input_meta.name, "cuda", 0, input_dtype.type, list(x_gpu.shape), x_gpu.data_ptr())
    binding.bind_output(output_meta.name, "cuda", 0, output_dtype.type, list(y_shape), y_gpu.data_ptr())
    graphed = (provider == CUDA and uses_cuda_graph(request)) or (provider == TENSORRT and request.variant_name == "cuda_graph")
    details["cuda_graph"] = graphed

    def bind(x: np.ndarray) -> None:
        with torch.cuda.stream(stream):
            x_gpu.copy_(torch.from_numpy(x))  # the bound buffer: a captured graph reads its input from there

    def step() -> None:
        session.run_with_iobinding(binding)

    def output() -> np.ndarray:
        with torch.cuda.stream(stream):
            return y_gpu.float().cpu().numpy()

    if graphed:
        # A CUDA graph replays fixed buffers: every call, end to end included, goes through the binding.
        def infer(x: np.ndarray) -> np.ndarray:
            bind(x)
            step()
            return output()

        def capture(x: np.ndarray) -> None:
            infer(x)  # the first run with the binding captures the graph; later runs replay it
            stream.synchronize()
    else:
        def infer(x: np.ndarray) -> np.ndarray:
            return session.run([output_meta.name], {input_meta.name: x})[0]

        capture = None
    resident = Resident(bind=bind, step=step, sync=stream.synchronize, output=output, timer=lambda: EventTimer(stream))
    return Loaded(infer, input_dtype, resident, details, prepare=capture)
