"""PyTorch from model_weights.pth, on the CPU or a CUDA device: eager, channels-last and torch.compile variants.

Every call runs under torch.inference_mode() (torch.no_grad() where inductor captures CUDA graphs,
which give wrong outputs under inference mode). Compiled variants compile once, with the cell's real
batch, before anything is timed (the record's prepare_s); inductor keeps its caches under the
machine's cache folder, so that a rerun does not compile from scratch.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from infbench.backends.base import CellRequest, Loaded
from infbench.errors import BackendUnavailable
from infbench.hardware import no_cpu_bf16_reason, no_gpu_reason

CPU_FP16 = (
    "fp16 not supported on CPU by this backend "
    "(PyTorch runs fp16 convolutions on x86 CPUs through a slow fallback, not a fast kernel)"
)
COMPILE_MODES = {"compile": "default", "compile_cudagraphs": "reduce-overhead", "compile_max_autotune": "max-autotune"}
GPU_BF16_MIN_CAPABILITY = (8, 0)


def unavailable_reason(request: CellRequest) -> str | None:
    if request.backend.device == "cpu":
        if request.precision == "fp16":
            return CPU_FP16
        if request.precision == "bf16":
            return no_cpu_bf16_reason()
        return None
    return no_gpu_reason()


def use_cache_dir(cache_dir: str | None) -> dict:
    """Point inductor's and Triton's on-disk caches at the machine's cache folder (before torch compiles)."""
    if not cache_dir:
        return {}
    paths = {"TORCHINDUCTOR_CACHE_DIR": os.path.join(cache_dir, "inductor"), "TRITON_CACHE_DIR": os.path.join(cache_dir, "triton")}
    for name, path in paths.items():
        os.makedirs(path, exist_ok=True)
        os.environ[name] = os.path.abspath(path)
    return paths


def load(request: CellRequest) -> Loaded:
    from infbench.backends import cuda

    variant = request.variant_name
    details: dict = {"variant": variant}
    if variant in COMPILE_MODES:
        details["cache"] = use_cache_dir(request.cache_dir)
    import torch

    from infbench.models import load_trained

    torch.set_num_threads(request.threads)
    details["intra_op_threads"] = torch.get_num_threads()
    on_gpu = request.backend.device == "cuda"
    if on_gpu:
        cuda.require_cuda()
        details["tf32"] = cuda.set_torch_tf32(request.allow_tf32)
        torch.backends.cudnn.benchmark = variant != "eager"  # the eager variant is PyTorch's default path
        details["cudnn.benchmark"] = torch.backends.cudnn.benchmark
        if request.precision == "bf16" and torch.cuda.get_device_capability() < GPU_BF16_MIN_CAPABILITY:
            raise BackendUnavailable(f"bf16 needs compute capability 8.0 or newer; this GPU has {torch.cuda.get_device_capability()}")
    class _Float(torch.nn.Module):
        def forward(self, x):
            return x.float()

    device = torch.device(request.backend.device)
    model = load_trained(request.artifacts["pth"], request.architecture, request.num_classes).to(device)
    memory_format = torch.contiguous_format if variant == "eager" else torch.channels_last
    model = model.to(memory_format=memory_format)
    details["memory_format"] = "channels_last" if memory_format == torch.channels_last else "contiguous (NCHW)"
    dtype = torch.float32
    autocast = contextlib.nullcontext
    if request.precision == "fp16":
        model, dtype = model.half(), torch.float16
        details["fp16_method"] = "model.half()"
    elif request.precision == "bf16" and on_gpu:
        model, dtype = model.bfloat16(), torch.bfloat16
        details["bf16_method"] = "model.bfloat16()"
    elif request.precision == "bf16":
        # oneDNN's bf16 convolutions, with fp32 where autocast keeps it (the input, the softmax-free logits)
        autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
        details["bf16_method"] = "torch.autocast('cpu', dtype=torch.bfloat16)"
    module = model
    if variant in COMPILE_MODES:
        mode = COMPILE_MODES[variant]
        # The cast to fp32 happens inside the compiled graph: read by an eager kernel after the
        # call, a CUDA graph's fp16 output buffer gave wrong values on the H200 (caught by parity).
        module = torch.compile(torch.nn.Sequential(model, _Float()), mode=None if mode == "default" else mode, dynamic=False)
        details["torch.compile"] = {"mode": mode, "backend": "inductor", "dynamic": False}
    cudagraphs = on_gpu and variant in ("compile_cudagraphs", "compile_max_autotune")
    # Inductor's CUDA graphs run under no_grad: inference mode and CUDA graph trees have open
    # correctness issues together (PyTorch issue 135892).
    grad_mode = torch.no_grad if cudagraphs else torch.inference_mode
    details["grad_mode"] = grad_mode.__name__

    def to_input(x):
        return x.to(device=device, dtype=dtype, memory_format=memory_format)  # no copy where it already is

    def run(x):
        with grad_mode(), autocast():
            if cudagraphs:
                torch.compiler.cudagraph_mark_step_begin()  # the previous call's outputs may be overwritten
            return module(to_input(x))

    def infer(x: np.ndarray) -> np.ndarray:
        return run(torch.from_numpy(x)).float().cpu().numpy()

    def prepare(x: np.ndarray) -> None:
        infer(x)  # compiles (and captures) for this input shape
        infer(x)  # reduce-overhead records its CUDA graph on the second call

    resident = cuda.module_resident(run, to_input) if on_gpu else None
    input_dtype = np.dtype(np.float16 if request.precision == "fp16" else np.float32)  # numpy has no bf16
    return Loaded(infer, input_dtype, resident, details, prepare=prepare if variant in COMPILE_MODES else None)
