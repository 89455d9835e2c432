"""torch2trt: model_weights.pth converted layer by layer into a TensorRT engine wrapped as a torch module."""

from __future__ import annotations

import numpy as np

from infbench.artifacts import atomic_path
from infbench.errors import ArtifactError, first_line
from infbench.measuring.backends.base import CellRequest, Loaded, Runtime, read_build
from infbench.planning.availability import torch2trt_missing
from infbench.planning.versions import installed_version

MODULE_FILE = "module.pth"


def build_module(request: CellRequest, example: np.ndarray, folder: str, log) -> dict:
    """Convert the trained model with torch2trt for one precision and batch size; save its state_dict in `folder`."""
    import time

    from infbench.measuring.backends import cuda

    if not request.allow_tf32:
        cuda.disable_tf32_everywhere()  # torch2trt has no TF32 option; TensorRT reads this variable
    torch = cuda.require_cuda()
    import torch2trt

    from infbench.model.models import load_trained

    model = load_trained(request.artifacts["pth"], request.architecture, request.num_classes, request.image_size).cuda()
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


def read_module_state(torch, path: str) -> dict:
    """The converted module's state_dict: its engine's bytes, tensor names and flatteners, plain values that
    torch.load reads with weights_only=True, so that no pickled object in the file runs code."""
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_module(torch, path: str):
    from torch2trt import TRTModule

    try:
        state = read_module_state(torch, path)
        module = TRTModule()
        module.load_state_dict(state)
    except Exception as exc:
        raise ArtifactError(f"{path}: torch2trt cannot load it ({first_line(exc)})") from exc
    return module


class Torch2trtRuntime(Runtime):
    def unavailable_reason(self, request: CellRequest) -> str | None:
        return torch2trt_missing()

    def load(self, request: CellRequest) -> Loaded:
        from infbench.measuring.backends import cuda

        build = read_build(request.artifacts["torch2trt_dir"])
        torch = cuda.require_cuda()  # the runner has set NVIDIA_TF32_OVERRIDE=0 unless TF32 is allowed
        path = f"{request.artifacts['torch2trt_dir']}/{MODULE_FILE}"
        module = _load_module(torch, path)

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


RUNTIME = Torch2trtRuntime()
