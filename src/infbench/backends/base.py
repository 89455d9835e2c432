"""What every backend gives the runner: a host-to-host inference call and, on a GPU, device-resident runs."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from infbench.catalog import Backend
from infbench.harness import DeviceTimer


@dataclass(frozen=True)
class CellRequest:
    """One cell to measure: a backend at a precision and batch size, with the files it needs."""

    backend: Backend
    precision: str
    batch_size: int
    artifacts: dict[str, str]  # role -> path: "pth", "onnx", "onnx_fp16", "engine", "torch2trt"
    architecture: str
    num_classes: int
    image_size: int
    threads: int
    allow_tf32: bool = False
    workspace_mb: int = 4096
    cache_dir: str | None = None  # engine and timing caches (ONNX Runtime's TensorRT provider)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.batch_size, 3, self.image_size, self.image_size)


@dataclass
class Resident:
    """Inference on buffers that stay on the device: bind once, then time `step` alone."""

    bind: Callable[[np.ndarray], None]  # copy one input batch to the device buffers
    step: Callable[[], object]  # run inference on the bound buffers (may return before the GPU is done)
    sync: Callable[[], None]  # wait until the device has finished
    output: Callable[[], np.ndarray]  # the last step's output, copied to the host
    timer: Callable[[], DeviceTimer]  # CUDA events, on the stream `step` uses


@dataclass
class Loaded:
    """A backend ready to run."""

    infer: Callable[[np.ndarray], np.ndarray]  # host memory in, host memory out: the study's end-to-end call
    input_dtype: np.dtype
    resident: Resident | None = None  # GPU backends only
    details: dict = field(default_factory=dict)  # provider actually used, options, how fp16 was made...
    after_timing: Callable[[], dict] | None = None  # checks that need the timed session to be finished


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Capture what native libraries write to file descriptor 2 (ONNX Runtime, TensorRT) as lines."""
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            lines.extend(line for line in text.splitlines() if line.strip())
            if text:
                os.write(2, text.encode())  # keep it in the job's log as well
