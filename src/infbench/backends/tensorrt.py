"""TensorRT through its Python API: building trt_model.trt from ONNX and running it with named tensors.

Written to the API that TensorRT 8.6, 10 and 11 share (named I/O tensors, execute_async_v3,
build_serialized_network, memory-pool limits). Where the versions differ, the line says which
majors run it with a trailing `# trt-api: <majors>` comment; tools/check_tensorrt_api.py checks
every TensorRT name used here against the bindings of each major version.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from infbench.artifacts import atomic_path
from infbench.backends.base import CellRequest, Loaded, Resident, read_build
from infbench.errors import ArtifactError, BenchError
from infbench.hardware import no_gpu_reason
from infbench.versions import installed_version

SUPPORTED_MAJORS = (8, 10, 11)


def major_version(version: str) -> int:
    """The major version in an installed-version string such as '10.16.1.11' or 'tensorrt-cu13 11.4.0'."""
    return int(version.split()[-1].split(".")[0])


def fp16_onnx_needed(version: str | None) -> bool:
    """TensorRT 11 builds strongly typed networks only: fp16 must come from an fp16 ONNX model."""
    return version is not None and major_version(version) >= 11


def missing() -> str | None:
    """Why this backend cannot run on this machine (library or GPU), read without importing it."""
    reasons = []
    version = installed_version("tensorrt")
    if version is None:
        reasons.append("tensorrt is not installed")
    elif major_version(version) not in SUPPORTED_MAJORS:
        reasons.append(f"TensorRT {version} is not supported (supported majors: {SUPPORTED_MAJORS})")
    if why := no_gpu_reason():
        reasons.append(why)
    return "; ".join(reasons) or None


# The variants' builder optimisation level (how long the builder searches tactics) and whether
# execute_async_v3 is replayed from a CUDA graph.
VARIANTS = {"default": (3, False), "cuda_graph": (3, True), "level5_cuda_graph": (5, True)}
ENGINE_FILE = "engine.trt"


def builder_level(variant: str) -> int:
    return VARIANTS[variant][0]


def unavailable_reason(request: CellRequest) -> str | None:
    if request.precision == "bf16":
        return "bf16 engines are not built by this workflow (fp32 and fp16 only)"
    return missing()


def _major(trt) -> int:
    return int(trt.__version__.split(".")[0])


def _network_flags(trt) -> int:
    if _major(trt) < 10:
        return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)  # trt-api: 8
    return 0  # explicit batch is the only mode from TensorRT 10 on; 11 is strongly typed by default


def _set_fp16(trt, config, onnx_is_fp16: bool) -> str:
    """Make the engine fp16 the way this TensorRT version allows; return how it was done."""
    if onnx_is_fp16:
        return "fp16 ONNX model (exported from model.half()), strongly typed network"
    if _major(trt) >= 11:
        raise BenchError("TensorRT 11 builds fp16 engines from an fp16 ONNX model only, and an fp32 model was given")
    config.set_flag(trt.BuilderFlag.FP16)  # trt-api: 8 10
    return "BuilderFlag.FP16 on the fp32 ONNX model"


def build_engine(
    onnx_path: str,
    folder: str,
    precision: str,
    batch_size: int,
    image_size: int,
    workspace_mb: int,
    allow_tf32: bool,
    onnx_is_fp16: bool,
    level: int,
    log,
) -> dict:
    """Build and serialize an engine for one precision, batch size and builder level into `folder`."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ArtifactError(f"{onnx_path}: TensorRT {trt.__version__} cannot parse it ({errors})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    config.builder_optimization_level = level
    if not allow_tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    fp16_method = _set_fp16(trt, config, onnx_is_fp16) if precision == "fp16" else None
    shape = (batch_size, 3, image_size, image_size)
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, shape, shape, shape)
    config.add_optimization_profile(profile)
    log.info(
        "building a TensorRT %s engine (%s, batch %d, builder level %d); this can take minutes",
        trt.__version__, precision, batch_size, level,
    )
    start = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if plan is None:
        raise BenchError(f"TensorRT {trt.__version__} could not build an engine from {onnx_path} (its log says why)")
    engine_path = Path(folder) / ENGINE_FILE
    with atomic_path(engine_path) as tmp:
        Path(tmp).write_bytes(bytes(plan))
    log.info("built %s in %.1f s (%.1f MB)", engine_path, seconds, plan.nbytes / 2**20)
    return {
        "status": "built",
        "tensorrt": trt.__version__,
        "builder_optimization_level": level,
        "build_seconds": round(seconds, 3),
        "engine_bytes": int(plan.nbytes),
        "precision": precision,
        "fp16_method": fp16_method,
        "tf32": "allowed" if allow_tf32 else "disabled (BuilderFlag.TF32 cleared)",
        "batch_size": batch_size,
        "input_shape": list(shape),
        "workspace_mb": workspace_mb,
        "onnx": str(onnx_path),
    }


def load(request: CellRequest) -> Loaded:
    from infbench.backends import cuda

    folder = request.artifacts["engine_dir"]
    build = read_build(folder)
    torch = cuda.require_cuda()
    import tensorrt as trt

    path = f"{folder}/{ENGINE_FILE}"
    logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
    if engine is None:
        raise ArtifactError(
            f"{path}: TensorRT {trt.__version__} cannot deserialize it "
            "(truncated, or built by another TensorRT version or for another GPU)"
        )
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ArtifactError(f"{path}: expected one input and one output tensor, found {inputs} and {outputs}")
    context.set_input_shape(inputs[0], request.input_shape)
    dtypes = {n: np.dtype(trt.nptype(engine.get_tensor_dtype(n))) for n in names}
    x_gpu = torch.empty(request.input_shape, dtype=getattr(torch, dtypes[inputs[0]].name), device="cuda")
    y_gpu = torch.empty(tuple(context.get_tensor_shape(outputs[0])), dtype=getattr(torch, dtypes[outputs[0]].name), device="cuda")
    context.set_tensor_address(inputs[0], x_gpu.data_ptr())
    context.set_tensor_address(outputs[0], y_gpu.data_ptr())
    stream = torch.cuda.Stream()
    graphed = VARIANTS[request.variant_name][1]
    graph: dict = {}

    def enqueue() -> None:
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")

    def step() -> None:
        graph["graph"].replay() if graphed else enqueue()

    def bind(x: np.ndarray) -> None:
        with torch.cuda.stream(stream):
            x_gpu.copy_(torch.from_numpy(x))

    def output() -> np.ndarray:
        with torch.cuda.stream(stream):
            return y_gpu.float().cpu().numpy()

    def infer(x: np.ndarray) -> np.ndarray:
        bind(x)
        step()
        return output()

    def capture(x: np.ndarray) -> None:
        """Record execute_async_v3 once as a CUDA graph; replays then run the engine without launching each kernel."""
        bind(x)
        enqueue()  # TensorRT's documentation: one enqueue before capture, so that deferred set-up is not captured
        stream.synchronize()
        graph["graph"] = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph["graph"], stream=stream):
            enqueue()
        stream.synchronize()

    details = {
        "engine": path,
        "tensorrt": trt.__version__,
        "builder_optimization_level": build.get("builder_optimization_level"),
        "cuda_graph": graphed,
        "engine_build_s": build["build_seconds"],
        "io": {n: {"dtype": dtypes[n].name, "mode": "input" if n in inputs else "output"} for n in names},
    }
    resident = Resident(bind=bind, step=step, sync=stream.synchronize, output=output, timer=lambda: cuda.EventTimer(stream))
    return Loaded(infer, dtypes[inputs[0]], resident, details, prepare=capture if graphed else None)
