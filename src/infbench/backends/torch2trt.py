"""torch2trt: model_weights.pth converted layer by layer into a TensorRT engine wrapped as a torch module."""

from __future__ import annotations

import numpy as np

from infbench.artifacts import atomic_path
from infbench.backends.base import CellRequest, Loaded, read_build
from infbench.backends.tensorrt import major_version
from infbench.errors import ArtifactError, first_line
from infbench.hardware import no_gpu_reason
from infbench.versions import installed_version


def missing() -> str | None:
    """Why this backend cannot run on this machine (library or GPU), read without importing it."""
    reasons = []
    if installed_version("torch2trt") is None:
        reasons.append("torch2trt is not installed")
    trt_version = installed_version("tensorrt")
    if trt_version is None:
        reasons.append("tensorrt is not installed")
    elif major_version(trt_version) >= 11:
        reasons.append(f"torch2trt does not support TensorRT {trt_version} (it needs EXPLICIT_BATCH and BuilderFlag.FP16, gone in 11)")
    if why := no_gpu_reason():
        reasons.append(why)
    return "; ".join(reasons) or None


def unavailable_reason(request: CellRequest) -> str | None:
    if request.precision == "bf16":
        return "bf16 not supported by torch2trt (it converts in fp32 or, with fp16_mode, fp16)"
    return missing()


MODULE_FILE = "module.pth"


def build_module(request: CellRequest, example: np.ndarray, folder: str, log) -> dict:
    """Convert the trained model with torch2trt for one precision and batch size; save its state_dict in `folder`."""
    import time

    from infbench.backends import cuda

    if not request.allow_tf32:
        cuda.disable_tf32_everywhere()  # torch2trt has no TF32 option; TensorRT reads this variable
    torch = cuda.require_cuda()
    import torch2trt

    from infbench.models import load_trained

    model = load_trained(request.artifacts["pth"], request.architecture, request.num_classes).cuda()
    x = torch.from_numpy(example).cuda()
    log.info("converting %s with torch2trt (%s, batch %d)", request.architecture, request.precision, request.batch_size)
    start = time.perf_counter()
    with torch.no_grad():
        module = torch2trt.torch2trt(
            model,
            [x],
            fp16_mode=request.precision == "fp16",
            max_workspace_size=request.workspace_mb << 20,
            max_batch_size=request.batch_size,
        )
    seconds = time.perf_counter() - start
    with atomic_path(f"{folder}/{MODULE_FILE}") as tmp:
        torch.save(module.state_dict(), tmp)
    import tensorrt

    return {
        "status": "built",
        "torch2trt": installed_version("torch2trt"),
        "tensorrt": tensorrt.__version__,
        "build_seconds": round(seconds, 3),
        "precision": request.precision,
        "fp16_method": "torch2trt fp16_mode=True (BuilderFlag.FP16)" if request.precision == "fp16" else None,
        "tf32": "allowed" if request.allow_tf32 else "disabled with NVIDIA_TF32_OVERRIDE=0",
        "batch_size": request.batch_size,
    }


def load(request: CellRequest) -> Loaded:
    from infbench.backends import cuda

    build = read_build(request.artifacts["torch2trt_dir"])
    torch = cuda.require_cuda()  # the runner has set NVIDIA_TF32_OVERRIDE=0 unless TF32 is allowed
    from torch2trt import TRTModule

    path = f"{request.artifacts['torch2trt_dir']}/{MODULE_FILE}"
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        module = TRTModule()
        module.load_state_dict(state)
    except Exception as exc:
        raise ArtifactError(f"{path}: torch2trt cannot load it ({first_line(exc)})") from exc

    def to_input(x):
        return x.to(device="cuda", dtype=torch.float32)

    def run(x):
        with torch.inference_mode():
            return module(to_input(x))

    def infer(x: np.ndarray) -> np.ndarray:
        return run(torch.from_numpy(x)).float().cpu().numpy()

    details = {
        "module": path,
        "tf32": "allowed" if request.allow_tf32 else "disabled with NVIDIA_TF32_OVERRIDE=0",
        "engine_build_s": build["build_seconds"],
    }
    return Loaded(infer, np.dtype(np.float32), cuda.module_resident(run, to_input), details)
