"""CUDA through torch: the device check, CUDA-event timers, device memory and the GPU's description.

Every GPU backend uses torch for buffers, streams and events, so that all GPU cells are timed and
measured the same way (ONNX Runtime and TensorRT are given torch's stream and buffer addresses).
"""

from __future__ import annotations

import os

from infbench.errors import BackendUnavailable
from infbench.measuring.backends.base import Resident
from infbench.planning.envinfo import nvidia_smi


def disable_tf32_everywhere() -> None:
    """Stop cuBLAS, cuDNN and TensorRT from using TF32 in this process (read at CUDA initialisation).

    The only switch for libraries without their own option (ONNX Runtime's TensorRT provider, torch2trt);
    elsewhere each library's own switch is used: with this variable set, cuDNN's frontend found no
    execution plan for ONNX Runtime's fp32 fused convolutions at batch 256 on the H200, where use_tf32=0
    alone ran them.
    """
    os.environ["NVIDIA_TF32_OVERRIDE"] = "0"


def require_cuda():
    """Import torch and return it if it sees a CUDA device; otherwise the cell is skipped."""
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("no CUDA device (torch.cuda.is_available() is False)")
    torch.cuda.init()
    torch.empty(1, device="cuda")  # create the context now, so that it is not part of any timing
    return torch


def set_torch_tf32(allow: bool) -> dict:
    import torch

    torch.backends.cudnn.allow_tf32 = allow
    torch.backends.cuda.matmul.allow_tf32 = allow
    return {
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn.benchmark": torch.backends.cudnn.benchmark,
    }


class EventTimer:
    """A pair of CUDA events per iteration, recorded on one stream and read after the loop.

    Events are created in `prepare`, outside the timed region, as the loop needs them.
    """

    def __init__(self, stream=None):
        self._stream = stream
        self._start: list = []
        self._stop: list = []

    def prepare(self, i: int) -> None:
        import torch

        while len(self._start) <= i:
            self._start.append(torch.cuda.Event(enable_timing=True))
            self._stop.append(torch.cuda.Event(enable_timing=True))

    def start(self, i: int) -> None:
        self._start[i].record(self._stream)

    def stop(self, i: int) -> None:
        self._stop[i].record(self._stream)

    def elapsed_ms(self) -> list[float]:
        if not self._stop:
            return []
        self._stop[-1].synchronize()
        return [a.elapsed_time(b) for a, b in zip(self._start, self._stop)]


def module_resident(run, to_input) -> Resident:
    """Device-resident runs of a torch callable on CUDA tensors (PyTorch's variants, torch2trt's module).

    `to_input` puts a host tensor on the GPU in the dtype and memory format `run` takes, once, at bind.
    """
    import numpy as np
    import torch

    bound: dict = {}

    def bind(x: np.ndarray) -> None:
        bound["x"] = to_input(torch.from_numpy(x))

    def step() -> None:
        bound["y"] = run(bound["x"])

    return Resident(
        bind=bind,
        step=step,
        sync=torch.cuda.synchronize,
        output=lambda: bound["y"].float().cpu().numpy(),
        timer=lambda: EventTimer(torch.cuda.current_stream()),
    )


def buffer_resident(x_gpu, y_gpu, stream, step) -> tuple:
    """Runs over fixed device buffers on one stream (ONNX Runtime's IO binding, TensorRT's tensor addresses).

    `step` runs the runtime on `x_gpu` into `y_gpu`. Returns the end-to-end call (a copy into `x_gpu`, the
    step, a copy out of `y_gpu`) and the device-resident runs. The buffers stay fixed because a CUDA
    graph captured over them replays those addresses.
    """
    import numpy as np
    import torch

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

    resident = Resident(bind=bind, step=step, sync=stream.synchronize, output=output, timer=lambda: EventTimer(stream))
    return infer, resident


class DeviceMemory:
    """Device memory in use (all allocators: torch's, ONNX Runtime's, TensorRT's) above a baseline.

    cudaMemGetInfo sees the whole device, so the workflow never runs two GPU cells at once.
    """

    def __init__(self):
        import torch

        self._torch = torch
        torch.cuda.synchronize()
        torch.cuda.empty_cache()  # blocks cached from earlier work in this process would hide this cell's use
        torch.cuda.reset_peak_memory_stats()
        self.baseline = self._used()
        self.peak = 0

    def _used(self) -> int:
        free, total = self._torch.cuda.mem_get_info()
        return total - free

    def sample(self) -> None:
        self.peak = max(self.peak, self._used() - self.baseline)

    def report(self) -> dict:
        self.sample()
        return {
            "device_peak_mb": round(self.peak / 2**20, 1),
            "device_peak_method": "cudaMemGetInfo, sampled after load, warm-up and timing, minus the baseline after CUDA initialisation",
            "torch_max_allocated_mb": round(self._torch.cuda.max_memory_allocated() / 2**20, 1),
        }


def gpu_description() -> dict:
    import torch

    props = torch.cuda.get_device_properties(0)
    info = {
        "name": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "multiprocessors": props.multi_processor_count,
        "memory_gb": round(props.total_memory / 2**30, 1),
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }
    smi = nvidia_smi()
    if smi:
        info["driver"] = smi.pop("driver_version")
        info["nvidia_smi"] = smi
    return info
