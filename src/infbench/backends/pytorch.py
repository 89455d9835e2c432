"""PyTorch eager inference from model_weights.pth, on the CPU or a CUDA device."""

from __future__ import annotations

import numpy as np

from infbench.backends.base import CellRequest, Loaded
from infbench.hardware import no_gpu_reason

CPU_FP16 = (
    "fp16 not supported on CPU by this backend "
    "(PyTorch runs fp16 convolutions on x86 CPUs through a slow fallback, not a fast kernel)"
)


def unavailable_reason(request: CellRequest) -> str | None:
    if request.backend.device == "cpu":
        return CPU_FP16 if request.precision == "fp16" else None
    return no_gpu_reason()


def load(request: CellRequest) -> Loaded:
    import torch

    from infbench.models import load_trained

    torch.set_num_threads(request.threads)
    torch.set_grad_enabled(False)
    details = {"intra_op_threads": torch.get_num_threads(), "mode": "eager"}
    if request.backend.device == "cuda":
        from infbench.backends import cuda

        cuda.require_cuda()
        details["tf32"] = cuda.set_torch_tf32(request.allow_tf32)
    model = load_trained(request.artifacts["pth"], request.architecture, request.num_classes)
    device = torch.device(request.backend.device)
    model.to(device)
    if request.precision == "fp16":
        model.half()
        details["fp16_method"] = "model.half()"
    input_dtype = np.dtype(np.float16 if request.precision == "fp16" else np.float32)

    if device.type == "cpu":
        return Loaded(lambda x: model(torch.from_numpy(x)).numpy(), input_dtype, details=details)

    from infbench.backends.cuda import torch_module_calls

    infer, resident = torch_module_calls(model)
    return Loaded(infer, input_dtype, resident, details)
