"""PyTorch from model_weights.pth, on the CPU or a CUDA device: eager, channels-last and torch.compile variants.

Every call runs under torch.inference_mode() (torch.no_grad() where inductor captures CUDA graphs,
which give wrong outputs under inference mode). Compiled variants compile once, with the cell's real
batch, before anything is timed (the record's prepare_s); inductor keeps its caches under the
machine's cache folder, so that a rerun does not compile from scratch.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from infbench.errors import BackendUnavailable
from infbench.measuring.backends.base import CellRequest, Loaded, Runtime, quantized_details, read_build, read_quantized
from infbench.planning.hardware import no_cpu_bf16_reason, no_gpu_reason
from infbench.planning.variants import PyTorchOptions
from infbench.planning.versions import installed_version

GPU_BF16_MIN_CAPABILITY = (8, 0)


def use_cache_dir(cache_dir: str | None) -> dict:
    """Point inductor's and Triton's on-disk caches at the machine's cache folder (before torch compiles)."""
    if not cache_dir:
        return {}
    paths = {"TORCHINDUCTOR_CACHE_DIR": os.path.join(cache_dir, "inductor"), "TRITON_CACHE_DIR": os.path.join(cache_dir, "triton")}
    for name, path in paths.items():
        os.makedirs(path, exist_ok=True)
        os.environ[name] = os.path.abspath(path)
    return paths


@dataclass(frozen=True)
class Numerics:
    """How the cell's precision is made: the model's dtype, and autocast where the CPU computes bf16."""

    dtype: object  # torch.dtype
    autocast: object  # a context manager factory
    method: dict


def _numerics(torch, precision: str, on_gpu: bool) -> Numerics:
    if precision == "fp16":
        return Numerics(torch.float16, contextlib.nullcontext, {"fp16_method": "model.half()"})
    if precision == "bf16" and on_gpu:
        return Numerics(torch.bfloat16, contextlib.nullcontext, {"bf16_method": "model.bfloat16()"})
    if precision == "bf16":
        # oneDNN's bf16 convolutions, with fp32 where autocast keeps it (the input, the logits)
        return Numerics(torch.float32, lambda: torch.autocast("cpu", dtype=torch.bfloat16),
                        {"bf16_method": "torch.autocast('cpu', dtype=torch.bfloat16)"})
    return Numerics(torch.float32, contextlib.nullcontext, {})


def _set_up_gpu(torch, request: CellRequest, options: PyTorchOptions) -> dict:
    from infbench.measuring.backends import cuda

    cuda.require_cuda()
    details = {"tf32": cuda.set_torch_tf32(request.allow_tf32)}
    torch.backends.cudnn.benchmark = options.cudnn_benchmark
    details["cudnn.benchmark"] = torch.backends.cudnn.benchmark
    if request.precision == "bf16" and torch.cuda.get_device_capability() < GPU_BF16_MIN_CAPABILITY:
        raise BackendUnavailable(f"bf16 needs compute capability 8.0 or newer; this GPU has {torch.cuda.get_device_capability()}")
    return details


def _compiled(torch, model, options: PyTorchOptions):
    """torch.compile of the model, with the cast to fp32 inside the compiled graph.

    Read by an eager kernel after the call, a CUDA graph's fp16 output buffer can be overwritten by
    the next replay; cast inside the graph, the output is fp32 and the parity check sees the truth.
    """
    class ToFloat(torch.nn.Module):
        def forward(self, x):
            return x.float()

    mode = None if options.compile_mode == "default" else options.compile_mode
    return torch.compile(torch.nn.Sequential(model, ToFloat()), mode=mode, dynamic=False)


def stop_compile_workers(wait_s: float = 30.0) -> dict:
    """Shut inductor's compile workers down and wait until they have exited; what there was, for the record.

    torch.compile starts a pool of worker processes (one per core, up to 32) when it compiles and
    keeps them to the end of the process, idle or, where a compilation was quick, still starting
    (each imports torch): nothing of the compilation may run beside the timed calls.
    """
    import psutil
    from torch._inductor import async_compile

    workers = psutil.Process().children(recursive=True)
    async_compile.shutdown_compile_workers()
    _, alive = psutil.wait_procs(workers, timeout=wait_s)
    return {"processes": len(workers), "running_after_shutdown": len(alive)}


def _quantized_model(torch, request: CellRequest, details: dict):
    """The recipe's exported 8-bit program, compiled with inductor's freezing (which makes its int8 kernels)."""
    import torch._inductor.config as inductor_config
    import torchao  # noqa: F401  (registers the quantize and dequantize operators the program calls)

    path, record = read_quantized(request.artifacts["int8_dir"])
    details |= quantized_details(record)
    inductor_config.freezing = True
    details["inductor_freezing"] = True
    return torch.export.load(path).module()


def compiled_in_a_step(request: CellRequest, details: dict) -> None:
    """What the cell's compile step did, where it had one (its compilation is in inductor's cache, which prepare reads)."""
    if "compile_dir" not in request.artifacts:
        return
    build = read_build(request.artifacts["compile_dir"])
    details["compile_step"] = {key: build[key] for key in ("compile_s", "cache") if key in build}
    details["compile_step_s"] = build["compile_s"]


def precompile(request: CellRequest) -> dict:
    """Compile a compiled variant's model as its cell will, with a batch of the cell's shape, into inductor's cache.

    The cell's own compilation then finds every graph and kernel there, in the same cache folder, and
    takes seconds; compiling is no measurement, so it runs beside the other steps that measure nothing.
    """
    import time

    loaded = RUNTIME.load(request)
    start = time.perf_counter()
    loaded.prepare(np.zeros(request.input_shape, dtype=loaded.input_dtype))
    compile_s = round(time.perf_counter() - start, 3)
    loaded.release()
    return {"status": "compiled", "compile_s": compile_s, "cache": loaded.details.get("cache", {}),
            "workers": loaded.details.get("compile_workers")}


class PyTorchRuntime(Runtime):
    def unavailable_reason(self, request: CellRequest) -> str | None:
        if request.backend.device == "cuda":
            return no_gpu_reason()
        if request.precision == "bf16":
            return no_cpu_bf16_reason()
        if request.precision == "int8" and installed_version("torchao") is None:
            return "torchao is not installed (pip install -r requirements.txt; PT2E quantization lives there since torch 2.10)"
        return None

    def load(self, request: CellRequest) -> Loaded:
        options: PyTorchOptions = request.options
        details: dict = {"variant": request.variant_name, "options": options.described()}
        compiled_in_a_step(request, details)
        if options.compile_mode:
            details["cache"] = use_cache_dir(request.cache_dir)  # before torch is imported by this cell
        import torch

        from infbench.model.models import load_trained

        torch.set_num_threads(request.threads)
        details["intra_op_threads"] = torch.get_num_threads()
        on_gpu = request.backend.is_gpu
        if on_gpu:
            details |= _set_up_gpu(torch, request, options)
        numerics = _numerics(torch, request.precision, on_gpu)
        details |= numerics.method
        memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
        details["memory_format"] = "channels_last" if options.channels_last else "contiguous (NCHW)"
        device = torch.device(request.backend.device)
        if options.quantization:
            model = _quantized_model(torch, request, details)
        else:
            model = load_trained(request.artifacts["pth"], request.architecture, request.num_classes, request.image_size)
            model = model.to(device=device, dtype=numerics.dtype, memory_format=memory_format)
        module = model
        if options.compile_mode:
            module = _compiled(torch, model, options)
            details["torch.compile"] = {"mode": options.compile_mode, "backend": "inductor", "dynamic": False}
        cuda_graphs = on_gpu and options.cuda_graph
        # Inductor's CUDA graphs run under no_grad: inference mode and CUDA graph trees have open
        # correctness issues together (PyTorch issue 135892).
        grad_mode = torch.no_grad if cuda_graphs else torch.inference_mode
        details["grad_mode"] = grad_mode.__name__

        def to_input(x):
            return x.to(device=device, dtype=numerics.dtype, memory_format=memory_format)  # no copy where it already is

        def run(x):
            with grad_mode(), numerics.autocast():
                if cuda_graphs:
                    torch.compiler.cudagraph_mark_step_begin()  # the previous call's outputs may be overwritten
                return module(to_input(x))

        def infer(x: np.ndarray) -> np.ndarray:
            return run(torch.from_numpy(x)).float().cpu().numpy()

        def prepare(x: np.ndarray) -> None:
            infer(x)  # compiles (and captures) for this input shape
            infer(x)  # reduce-overhead records its CUDA graph on the second call
            details["compile_workers"] = stop_compile_workers()

        resident = None
        if on_gpu:
            from infbench.measuring.backends import cuda

            resident = cuda.module_resident(run, to_input)
        input_dtype = np.dtype(np.float16 if request.precision == "fp16" else np.float32)  # numpy has no bf16
        return Loaded(infer, input_dtype, resident, details, prepare=prepare if options.compile_mode else None)


RUNTIME = PyTorchRuntime()
