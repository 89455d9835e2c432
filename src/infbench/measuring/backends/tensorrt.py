"""TensorRT through its Python API: building trt_model.trt from ONNX and running it with named tensors.

Written to the API that TensorRT 8.6, 10 and 11 share (named I/O tensors, execute_async_v3,
build_serialized_network, memory-pool limits). Where the versions differ, the line says which
majors run it with a trailing `# trt-api: <majors>` comment; tools/check_tensorrt_api.py checks
every TensorRT name used here against the bindings of each major version.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from infbench.artifacts import atomic_path
from infbench.errors import ArtifactError, BenchError
from infbench.measuring.backends.base import CellRequest, Loaded, Runtime, read_build
from infbench.planning.availability import tensorrt_missing
from infbench.planning.variants import TensorRTOptions

ENGINE_FILE = "engine.trt"


def _major(trt) -> int:
    return int(trt.__version__.split(".")[0])


def _network_flags(trt) -> int:
    if _major(trt) < 10:
        return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)  # trt-api: 8
    return 0  # explicit batch is the only mode from TensorRT 10 on; 11 is strongly typed by default


def _set_int8(trt, config) -> str:
    """An explicitly quantized (QDQ) network: its scales are the model's, no calibrator runs."""
    if _major(trt) < 11:
        config.set_flag(trt.BuilderFlag.INT8)  # trt-api: 8 10
        return "QDQ ONNX model (S8S8 symmetric) with BuilderFlag.INT8: explicit quantization"
    return "QDQ ONNX model (S8S8 symmetric), strongly typed network: explicit quantization"


def _set_fp16(trt, config, onnx_is_fp16: bool) -> str:
    """Make the engine fp16 the way this TensorRT version allows; return how it was done."""
    if onnx_is_fp16:
        return "fp16 ONNX model (exported from model.half()), strongly typed network"
    if _major(trt) >= 11:
        raise BenchError("TensorRT 11 builds fp16 engines from an fp16 ONNX model only, and an fp32 model was given")
    config.set_flag(trt.BuilderFlag.FP16)  # trt-api: 8 10
    return "BuilderFlag.FP16 on the fp32 ONNX model"


@dataclass(frozen=True)
class EngineSpec:
    """What one engine is built for."""

    onnx_path: str
    precision: str
    batch_size: int
    image_size: int
    workspace_mb: int
    allow_tf32: bool
    onnx_is_fp16: bool
    level: int

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.batch_size, 3, self.image_size, self.image_size)


def _parse(trt, builder, logger, onnx_path: str):
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ArtifactError(f"{onnx_path}: TensorRT {trt.__version__} cannot parse it ({errors})")
    return network, parser


def _builder_config(trt, builder, network, spec: EngineSpec) -> tuple[object, str | None]:
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.workspace_mb << 20)
    config.builder_optimization_level = spec.level
    if not spec.allow_tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    fp16_method = _set_fp16(trt, config, spec.onnx_is_fp16) if spec.precision == "fp16" else None
    if spec.precision == "int8":
        fp16_method = _set_int8(trt, config)
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, spec.input_shape, spec.input_shape, spec.input_shape)
    config.add_optimization_profile(profile)
    return config, fp16_method


def build_engine(spec: EngineSpec, folder: str, log) -> dict:
    """Build and serialize an engine for one precision, batch size and builder level into `folder`."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse(trt, builder, logger, spec.onnx_path)  # the parser must outlive the build
    config, fp16_method = _builder_config(trt, builder, network, spec)
    log.info("building a TensorRT %s engine (%s, batch %d, builder level %d); this can take minutes",
             trt.__version__, spec.precision, spec.batch_size, spec.level)
    start = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if plan is None:
        raise BenchError(f"TensorRT {trt.__version__} could not build an engine from {spec.onnx_path} (its log says why)")
    engine_path = Path(folder) / ENGINE_FILE
    with atomic_path(engine_path) as tmp:
        Path(tmp).write_bytes(bytes(plan))
    log.info("built %s in %.1f s (%.1f MB)", engine_path, seconds, plan.nbytes / 2**20)
    return {
        "status": "built", "tensorrt": trt.__version__, "builder_optimization_level": spec.level,
        "build_seconds": round(seconds, 3), "engine_bytes": int(plan.nbytes), "precision": spec.precision,
        "fp16_method": fp16_method,
        "tf32": "allowed" if spec.allow_tf32 else "disabled (BuilderFlag.TF32 cleared)",
        "batch_size": spec.batch_size, "input_shape": list(spec.input_shape), "workspace_mb": spec.workspace_mb,
        "onnx": str(spec.onnx_path), "spec": asdict(spec),
    }


def _deserialize(trt, path: str):
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
    if engine is None:
        raise ArtifactError(
            f"{path}: TensorRT {trt.__version__} cannot deserialize it "
            "(truncated, or built by another TensorRT version or for another GPU)"
        )
    return runtime, engine


def _io_tensors(trt, engine, path: str) -> tuple[str, str, dict[str, np.dtype]]:
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ArtifactError(f"{path}: expected one input and one output tensor, found {inputs} and {outputs}")
    return inputs[0], outputs[0], {n: np.dtype(trt.nptype(engine.get_tensor_dtype(n))) for n in names}


def _engine_runs(torch, context, stream, x_gpu, y_gpu, graphed: bool):
    """The end-to-end call, the CUDA-graph capture and the device-resident runs of an execution context."""
    from infbench.measuring.backends import cuda

    graph: dict = {}

    def enqueue() -> None:
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")

    def step() -> None:
        graph["graph"].replay() if graphed else enqueue()

    infer, resident = cuda.buffer_resident(x_gpu, y_gpu, stream, step)

    def capture(x: np.ndarray) -> None:
        """Record execute_async_v3 once as a CUDA graph; replays then run the engine without launching each kernel."""
        resident.bind(x)
        enqueue()  # TensorRT's documentation: one enqueue before capture, so that deferred set-up is not captured
        stream.synchronize()
        graph["graph"] = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph["graph"], stream=stream):
            enqueue()
        stream.synchronize()

    return infer, (capture if graphed else None), resident


class TensorRTRuntime(Runtime):
    def unavailable_reason(self, request: CellRequest) -> str | None:
        return tensorrt_missing()

    def load(self, request: CellRequest) -> Loaded:
        from infbench.measuring.backends import cuda

        options: TensorRTOptions = request.options
        folder = request.artifacts["engine_dir"]
        build = read_build(folder)
        torch = cuda.require_cuda()
        import tensorrt as trt

        path = f"{folder}/{ENGINE_FILE}"
        runtime, engine = _deserialize(trt, path)
        context = engine.create_execution_context()
        input_name, output_name, dtypes = _io_tensors(trt, engine, path)
        context.set_input_shape(input_name, request.input_shape)
        x_gpu = torch.empty(request.input_shape, dtype=getattr(torch, dtypes[input_name].name), device="cuda")
        y_gpu = torch.empty(tuple(context.get_tensor_shape(output_name)), dtype=getattr(torch, dtypes[output_name].name),
                            device="cuda")
        context.set_tensor_address(input_name, x_gpu.data_ptr())
        context.set_tensor_address(output_name, y_gpu.data_ptr())
        infer, capture, resident = _engine_runs(torch, context, torch.cuda.Stream(), x_gpu, y_gpu, options.cuda_graph)
        details = {
            "engine": path, "tensorrt": trt.__version__, "options": options.described(),
            "builder_optimization_level": build.get("builder_optimization_level"), "cuda_graph": options.cuda_graph,
            "engine_build_s": build["build_seconds"],
            "io": {n: {"dtype": d.name, "mode": "input" if n == input_name else "output"} for n, d in dtypes.items()},
        }
        held = {"context": context, "engine": engine, "runtime": runtime}  # the runtime must outlive its engine
        return Loaded(infer, dtypes[input_name], resident, details, prepare=capture, release=held.clear)


RUNTIME = TensorRTRuntime()
