"""ONNX Runtime inference from onnx_model.onnx with its CPU, CUDA and TensorRT execution providers.

ONNX Runtime falls back silently: asked for a provider it cannot load, it runs the model on the
next one. A cell therefore counts only if `get_providers()` lists the provider it claims and a
profiled run shows that provider executing nodes of the model: the cell's first inference, or for
a CUDA graph, a run of a separate session without the graph (a capturing session would capture
that run's buffers). A model whose placement leaves nodes on the CPU that the device reads from
cannot be captured: its graph cells are skipped with those nodes named.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from infbench.errors import ArtifactError, BackendUnavailable, first_line
from infbench.measuring.backends.base import (
    CellRequest,
    Loaded,
    Runtime,
    captured_stderr,
    quantized_details,
    read_quantized,
    read_step_record,
)
from infbench.model.ort_transformer import model_type, not_applicable
from infbench.planning.hardware import no_gpu_reason
from infbench.planning.variants import OnnxRuntimeOptions
from infbench.planning.versions import installed_version

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
# Session-creation errors that mean the file itself is unusable.
_BAD_MODEL_ERRORS = {"InvalidProtobuf", "NoSuchFile", "InvalidGraph", "ModelLoadFailed"}
CONV_ALGO_SEARCH = "EXHAUSTIVE"  # cuDNN's convolution search, set explicitly: DEFAULT is several times slower
# What ONNX Runtime and cuDNN print about how they ran, which belongs in the cell's record.
NOTABLE_MESSAGES = {
    "running in Fallback mode": "a node ran in ONNX Runtime's fallback mode (slow path)",
    "No execution plans support the graph": "cuDNN's frontend found no execution plan for a convolution and searched again",
}

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


def notable_messages(lines: list[str]) -> list[str]:
    """One line per kind of notable message, with how often it came and its first occurrence."""
    found = []
    for needle, meaning in NOTABLE_MESSAGES.items():
        hits = [_ANSI.sub("", line).strip() for line in lines if needle in line]
        if hits:
            found.append(f"{meaning}: {len(hits)} time(s), first: {hits[0].rsplit('] ', 1)[-1][:240]}")
    return found


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


@dataclass(frozen=True)
class ProviderSetup:
    """The providers a session is created with, and the options the record describes."""

    providers: list
    described: dict


def _cuda_options(request: CellRequest, options: OnnxRuntimeOptions, stream_handle, graph: bool) -> dict:
    return {
        "device_id": 0,
        "use_tf32": int(request.allow_tf32),
        "cudnn_conv_algo_search": CONV_ALGO_SEARCH,
        "prefer_nhwc": int(options.nhwc and request.backend.provider == CUDA),
        "enable_cuda_graph": int(graph and options.cuda_graph and request.backend.provider == CUDA),
        "user_compute_stream": str(stream_handle),
    }


def _tensorrt_options(request: CellRequest, options: OnnxRuntimeOptions, stream_handle, graph: bool, input_name: str) -> dict:
    shape = f"{input_name}:" + "x".join(str(d) for d in request.input_shape)
    cache = os.path.join(request.cache_dir, "ort_tensorrt", request.variant_name, f"{request.precision}_bs{request.batch_size}") \
        if request.cache_dir else tempfile.mkdtemp(prefix="ort-trt-")
    os.makedirs(cache, exist_ok=True)
    return {
        "device_id": 0,
        "trt_fp16_enable": request.precision == "fp16",
        "trt_int8_enable": request.precision == "int8",  # an explicitly quantized (QDQ) model: its scales, no calibration
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": cache,
        "trt_max_workspace_size": request.workspace_mb << 20,
        "trt_profile_min_shapes": shape,
        "trt_profile_opt_shapes": shape,
        "trt_profile_max_shapes": shape,
        "trt_cuda_graph_enable": graph and options.cuda_graph,
        "user_compute_stream": str(stream_handle),
    }


def provider_setup(request: CellRequest, stream_handle: int | None, input_name: str, graph: bool) -> ProviderSetup:
    """The cell's providers; `graph` False gives the same ones without CUDA-graph capture (for the placement run)."""
    provider = request.backend.provider
    if provider == "CPUExecutionProvider":
        return ProviderSetup(["CPUExecutionProvider"], {})
    options: OnnxRuntimeOptions = request.options
    cuda_options = _cuda_options(request, options, stream_handle, graph)
    if provider == CUDA:
        return ProviderSetup([(CUDA, cuda_options)], {"cuda": cuda_options | {"user_compute_stream": "torch stream"}})
    trt_options = _tensorrt_options(request, options, stream_handle, graph, input_name)
    described = {"tensorrt": trt_options | {"user_compute_stream": "torch stream"}, "cuda_for_unsupported_nodes": cuda_options}
    return ProviderSetup([(TENSORRT, trt_options), (CUDA, cuda_options)], described)


def _create_session(ort, path: str, options, providers):
    with captured_stderr() as messages:
        try:
            session = ort.InferenceSession(path, options, providers=providers)
        except Exception as exc:
            if type(exc).__name__ in _BAD_MODEL_ERRORS:
                raise ArtifactError(f"{path}: ONNX Runtime cannot load it ({first_line(exc)})") from exc
            raise
    # By default a run that fails in its provider silently re-creates the session on the fallback
    # providers and carries on, so a GPU cell could go on running on the CPU. A provider's failure
    # at run time is the cell's error instead.
    session.disable_fallback()
    return session, messages


EIGHT_BIT_OPS = ("QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QGemm", "DynamicQuantizeLinear")
CPU = "CPUExecutionProvider"
COPY_OPS = ("MemcpyFromHost", "MemcpyToHost")
# ONNX Runtime's refusal, at session creation, to capture a graph whose partitioning copies between host and device.
GRAPH_REFUSAL = "cannot use the graph capture feature"


def profiled_nodes(profile_path: str) -> list[dict]:
    """The nodes a profiled run executed (provider, operator, node name), read from ONNX Runtime's profile."""
    with open(profile_path) as f:
        events = json.load(f)
    return [{**e["args"], "node_name": e["name"].removesuffix("_kernel_time")} for e in events
            if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and "provider" in e.get("args", {})]


def _node_placement(nodes: list[dict]) -> dict[str, int]:
    """Which provider ran how many nodes."""
    return dict(collections.Counter(node["provider"] for node in nodes))


def nodes_by_operator(nodes: list[dict], names: int = 3, kinds: int = 8) -> str:
    """Nodes in words, the most frequent operators first: "Shape x3 (/a/Shape, /b/Shape, /c/Shape), Gather x2 (...)"."""
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for node in nodes:
        groups[node.get("op_name", "?")].append(node.get("node_name", "?"))
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    words = [f"{op} x{len(found)} ({', '.join(found[:names])}{', ...' if len(found) > names else ''})" for op, found in ranked[:kinds]]
    if len(ranked) > kinds:
        words.append(f"{sum(len(found) for _, found in ranked[kinds:])} more of {len(ranked) - kinds} other operators")
    return ", ".join(words)


def capture_refusal(nodes: list[dict], provider: str) -> str | None:
    """Why ONNX Runtime cannot capture this placement as one CUDA graph, or None where it can.

    Its rule: every node on the provider, except shape computations on the CPU whose results no
    device node reads; a node on another provider, or a copy between host and device, breaks the graph.
    """
    copies = [n for n in nodes if n.get("op_name") in COPY_OPS]
    foreign = [n for n in nodes if n["provider"] not in (provider, CPU)]
    if not copies and not foreign:
        return None
    off = [n for n in nodes if n["provider"] != provider]
    return (f"no CUDA graph for this model: ONNX Runtime left {len(off)} of {len(nodes)} nodes off {provider} "
            f"({nodes_by_operator(off)}); copies between host and device: {nodes_by_operator(copies) or 'none'}; "
            "a captured graph runs every node on the device")


def _judge_placement(nodes: list[dict], request: CellRequest, details: dict) -> None:
    """The claimed provider really ran nodes of the model; an int8 cell ran 8-bit kernels."""
    provider = request.backend.provider
    details["node_placement"] = placement = _node_placement(nodes)
    if off := [n for n in nodes if n["provider"] != provider]:
        details["nodes_off_provider"] = nodes_by_operator(off)
    if not placement.get(provider):
        raise BackendUnavailable(f"{provider} loaded but ran none of the model's nodes (placement: {placement})")
    if request.precision == "int8" and provider != TENSORRT:
        eight_bit = collections.Counter(n.get("op_name") for n in nodes if n.get("op_name") in EIGHT_BIT_OPS)
        details["eight_bit_kernels"] = dict(eight_bit)
        if not eight_bit:
            raise BackendUnavailable("ONNX Runtime ran none of the model's convolutions in 8 bits (no QLinear or Integer kernel)")


def _tf32_description(request: CellRequest) -> str:
    if request.backend.provider == TENSORRT:
        # The TensorRT provider has no TF32 option: the runner sets NVIDIA_TF32_OVERRIDE=0 for its cells (tf32_override).
        return "allowed (TensorRT's default)" if request.allow_tf32 else "disabled with NVIDIA_TF32_OVERRIDE=0"
    return "allowed" if request.allow_tf32 else "disabled (use_tf32=0)"


def _optimized_transformer(request: CellRequest, details: dict) -> str:
    """The transformer optimizer's model for the cell's precision; its cells are skipped where it made none."""
    from infbench.model.ort_transformer import RECORD

    folder = request.artifacts["ort_transformer_dir"]
    record = read_step_record(os.path.join(folder, RECORD), "transformer optimizer's record")
    details["transformer_optimizer"] = {k: record[k] for k in ("model_type", "fused_operators", "optimize_s") if k in record}
    if record.get("fp16_method"):
        details["fp16_method"] = record["fp16_method"]
    return os.path.join(folder, record["model_file"])


def _model_path(request: CellRequest, details: dict) -> str:
    """The fp32 model, for fp16 the fp16 export (the TensorRT provider makes fp16 from fp32 itself), for int8 the recipe's
    QDQ model; the transformer optimizer's model where the variant runs it."""
    if request.options.transformer_optimizer:
        return _optimized_transformer(request, details)
    if request.precision == "int8":
        path, record = read_quantized(request.artifacts["int8_dir"])
        details |= quantized_details(record)
        return path
    if request.precision != "fp16":
        return request.artifacts["onnx"]
    if not request.backend.fp16_onnx:  # the TensorRT provider
        details["fp16_method"] = "trt_fp16_enable on the fp32 ONNX model"
        return request.artifacts["onnx"]
    details["fp16_method"] = "fp16 ONNX model (exported from model.half())"
    return request.artifacts["onnx_fp16"]


def _dtype(meta) -> np.dtype:
    return np.dtype(np.float16 if "float16" in meta.type else np.float32)


def batch_axis(onnx_path: str) -> int | str:
    """The first axis of a model's input: its name where it is free ("?" where it has none), its size where fixed."""
    try:
        import onnx
    except ImportError as exc:
        raise BackendUnavailable("a fixed-shape variant reads the input's batch axis with onnx, which is not installed") from exc
    graph = onnx.load(onnx_path, load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    dim = next(i for i in graph.input if i.name not in weights).type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?")


def _fixed_axis(path: str, request: CellRequest, details: dict) -> str | None:
    """The input's free batch axis where the variant fixes the shape to the cell's batch, else None.

    With every shape known, ONNX Runtime folds the shape arithmetic of a dynamic export (a ViT's
    attention scale, computed from Shape) into constants before it partitions the graph, so no
    node is left on the CPU for it and a CUDA graph can be captured.
    """
    if not request.options.fixed_shape:
        return None
    axis = batch_axis(path)
    if isinstance(axis, int):
        details["fixed_shape"] = f"the model itself fixes its batch at {axis}"
        return None
    if axis == "?":
        raise BackendUnavailable(f"{path}: its input's batch axis has no name, and ONNX Runtime fixes free axes by name")
    details["fixed_shape"] = f"free dimension override {axis} = {request.batch_size} (shapes folded into constants)"
    return axis


def _without_search(providers: list) -> list:
    """The same providers without cuDNN's convolution search, which only timing needs (placement does not depend on it)."""
    return [(name, options | {"cudnn_conv_algo_search": "HEURISTIC"}) if name == CUDA else (name, options)
            for name, options in providers]


def _ensure_provider(session, messages: list[str], provider: str, details: dict) -> None:
    details["session_providers"] = actual = session.get_providers()
    if provider not in actual:
        cause = provider_load_error(messages)
        raise BackendUnavailable(
            f"{provider} did not load" + (f" ({cause})" if cause else "")
            + f"; ONNX Runtime would have run the model on {actual[0]} instead"
        )


@dataclass
class Sessions:
    """How a cell's sessions are made: its model file, session options and providers."""

    ort: object
    path: str
    request: CellRequest
    stream_handle: int | None
    fixed_axis: str | None  # the input's batch axis, fixed to the cell's batch

    def options(self, profile_prefix: str | None = None):
        options = _session_options(self.ort, self.request.threads, profile_prefix)
        if self.fixed_axis:
            options.add_free_dimension_override_by_name(self.fixed_axis, self.request.batch_size)
        return options

    def create(self, graph: bool, profile_prefix: str | None = None, search: bool = True):
        """A session as the cell asks (`graph` False: without CUDA-graph capture; `search` False: without cuDNN's search)."""
        options = self.options(profile_prefix)
        # The input name is needed for the TensorRT profile shapes; every exported model calls it "input".
        providers = provider_setup(self.request, self.stream_handle, "input", graph).providers
        return _create_session(self.ort, self.path, options, providers if search else _without_search(providers))

    def profiled(self, details: dict) -> tuple:
        """The cell's session, profiled until its first inference has shown where its nodes ran; and that check."""
        folder = tempfile.mkdtemp(prefix="ort-profile-")
        session, messages = self.create(graph=True, profile_prefix=os.path.join(folder, "profile"))
        _ensure_provider(session, messages, self.request.backend.provider, details)

        def check_first_inference() -> None:
            try:
                nodes = profiled_nodes(session.end_profiling())  # profiling stops here: no later run is profiled
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            _judge_placement(nodes, self.request, details)

        return session, check_first_inference

    def placement(self, details: dict) -> list[dict]:
        """Where the nodes run, from one profiled run of a separate session without CUDA-graph capture.

        A session that captures would capture that run's buffers, so the timed one is never used
        for it. Placement does not depend on the batch: one image, unless the shape is fixed (or
        the TensorRT provider builds for the cell's batch alone).
        """
        provider = self.request.backend.provider
        batch = self.request.batch_size if self.fixed_axis or provider == TENSORRT else 1
        with tempfile.TemporaryDirectory() as folder:
            session, messages = self.create(graph=False, profile_prefix=os.path.join(folder, "profile"), search=False)
            _ensure_provider(session, messages, provider, details)
            meta = session.get_inputs()[0]
            session.run(None, {meta.name: np.zeros((batch, *self.request.input_shape[1:]), dtype=_dtype(meta))})
            return profiled_nodes(session.end_profiling())

    def graphed(self, details: dict):
        """The cell's CUDA-graph session, once a run without the graph has shown that every node can be captured."""
        nodes = self.placement(details)
        _judge_placement(nodes, self.request, details)
        provider = self.request.backend.provider
        if provider == CUDA and (why := capture_refusal(nodes, provider)):
            raise BackendUnavailable(why)
        try:
            session, messages = self.create(graph=True)
        except Exception as exc:
            if GRAPH_REFUSAL not in str(exc):
                raise
            off = [n for n in nodes if n["provider"] != provider]
            raise BackendUnavailable(f"no CUDA graph for this model: ONNX Runtime refused it ({first_line(exc)}); nodes off "
                                     f"{provider}: {nodes_by_operator(off) or 'none'}") from exc
        _ensure_provider(session, messages, provider, details)
        return session


def _bound_gpu_runs(torch, session, stream, request: CellRequest, graphed: bool) -> tuple:
    """IO binding of fixed device buffers: the end-to-end call, its capture, and the device-resident runs.

    Every GPU call goes through the binding, end to end included (a copy in, the run, a copy out):
    a CUDA graph replays fixed buffers, and a first run with host inputs can fail in cuDNN where the
    bound run succeeds.
    """
    from infbench.measuring.backends import cuda

    input_meta, output_meta = session.get_inputs()[0], session.get_outputs()[0]
    input_dtype, output_dtype = _dtype(input_meta), _dtype(output_meta)
    x_gpu = torch.empty(request.input_shape, dtype=getattr(torch, input_dtype.name), device="cuda")
    y_shape = (request.batch_size, request.num_classes)
    y_gpu = torch.empty(y_shape, dtype=getattr(torch, output_dtype.name), device="cuda")
    binding = session.io_binding()
    binding.bind_input(input_meta.name, "cuda", 0, input_dtype.type, list(x_gpu.shape), x_gpu.data_ptr())
    binding.bind_output(output_meta.name, "cuda", 0, output_dtype.type, list(y_shape), y_gpu.data_ptr())
    infer, resident = cuda.buffer_resident(x_gpu, y_gpu, stream, lambda: session.run_with_iobinding(binding))

    def capture(x: np.ndarray) -> None:
        infer(x)  # the first run with the binding captures the graph; later runs replay it
        stream.synchronize()

    return infer, (capture if graphed else None), resident


class OnnxRuntimeRuntime(Runtime):
    def unavailable_reason(self, request: CellRequest) -> str | None:
        version = installed_version("onnxruntime")
        if version is None:
            return "onnxruntime is not installed"
        if request.options.transformer_optimizer and model_type(request.architecture) is None:
            return not_applicable(request.architecture)
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

    def run_time_notes(self, lines: list[str]) -> list[str]:
        return notable_messages(lines)

    def load(self, request: CellRequest) -> Loaded:
        options: OnnxRuntimeOptions = request.options
        details: dict = {"intra_op_threads": request.threads, "inter_op_threads": 1, "variant": request.variant_name,
                         "options": options.described()}
        torch = stream = None
        if request.backend.is_gpu:
            from infbench.measuring.backends import cuda

            details["tf32"] = _tf32_description(request)
            torch = cuda.require_cuda()  # torch first: it loads the CUDA libraries ONNX Runtime links against
            stream = torch.cuda.Stream()
        import onnxruntime as ort

        path = _model_path(request, details)
        sessions = Sessions(ort, path, request, stream.cuda_stream if stream is not None else None,
                            _fixed_axis(path, request, details))
        details["provider_options"] = provider_setup(request, sessions.stream_handle, "input", graph=True).described
        check_first_inference = None
        if options.cuda_graph and request.backend.is_gpu:
            session = sessions.graphed(details)
        else:
            session, check_first_inference = sessions.profiled(details)
        input_meta, output_meta = session.get_inputs()[0], session.get_outputs()[0]
        if torch is None:
            def infer(x: np.ndarray) -> np.ndarray:
                return session.run([output_meta.name], {input_meta.name: x})[0]

            return Loaded(infer, _dtype(input_meta), details=details, check_first_inference=check_first_inference)
        details["cuda_graph"] = options.cuda_graph
        details["end_to_end_call"] = "copy into the bound device buffer, run_with_iobinding, copy the output back"
        infer, capture, resident = _bound_gpu_runs(torch, session, stream, request, options.cuda_graph)
        return Loaded(infer, _dtype(input_meta), resident, details, prepare=capture,
                      check_first_inference=check_first_inference)


RUNTIME = OnnxRuntimeRuntime()
