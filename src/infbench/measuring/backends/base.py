"""The backend contract: what every backend says and does, and what it hands the runner.

A backend is a catalogue entry (`infbench.planning.catalog.Backend`: its device, artifact, variants and the
precisions it never runs) and a module whose `RUNTIME` implements `Runtime`: why a cell cannot run
on this machine, and loading a cell into a `Loaded` that runs a batch host to host, device resident
where it has a device, and releases what it holds. docs/adding-a-backend.md walks through one.
"""

from __future__ import annotations

import abc
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from infbench.measuring.harness import DeviceTimer
from infbench.planning.catalog import Backend
from infbench.planning.cells import Cell
from infbench.planning.variants import Options, ServingLoop, Variant


@dataclass(frozen=True)
class CellRequest:
    """One cell to measure: a backend's variant at a precision and batch size, with the files it needs."""

    backend: Backend
    precision: str
    batch_size: int
    artifacts: dict[str, str]  # role -> path: "pth", "onnx", "onnx_fp16", "engine_dir", "torch2trt_dir"
    architecture: str
    num_classes: int
    image_size: int
    threads: int
    variant: str = ""  # "" means the backend's default variant
    machine: str = "local"
    allow_tf32: bool = False
    workspace_mb: int = 4096
    cache_dir: str | None = None  # this machine's caches: ONNX Runtime TensorRT engines, inductor's compiled kernels
    model: str = ""  # the model's name in the run ("" means its architecture)
    serving: ServingLoop | None = None  # the serving loop the model is loaded for (LoadGen's scenarios); None for a timing cell

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.batch_size, 3, self.image_size, self.image_size)

    @property
    def variant_name(self) -> str:
        return self.variant or self.backend.default_variant

    @property
    def cell(self) -> Cell:
        return Cell(self.machine, self.model or self.architecture, self.backend.name, self.variant_name, self.precision,
                    self.batch_size)

    @property
    def variant_spec(self) -> Variant:
        return self.backend.variant(self.variant_name)

    @property
    def options(self) -> Options:
        """What the cell's variant means (channels-last, a CUDA graph, a builder level...)."""
        return self.variant_spec.options


@dataclass
class Resident:
    """Inference on buffers that stay on the device: bind once, then time `step` alone."""

    bind: Callable[[np.ndarray], None]  # copy one input batch to the device buffers
    step: Callable[[], object]  # run inference on the bound buffers (may return before the GPU is done)
    sync: Callable[[], None]  # wait until the device has finished
    output: Callable[[], np.ndarray]  # the last step's output, copied to the host
    timer: Callable[[], DeviceTimer]  # CUDA events, on the stream `step` uses


@dataclass
class AsyncQueue:
    """The runtime's own queue of asynchronous requests: `start` returns at once while a request is free (else waits)."""

    start: Callable[[np.ndarray, object], None]  # (one input batch, userdata handed to the completion callback)
    wait_all: Callable[[], None]
    jobs: int  # requests it keeps in flight
    details: dict = field(default_factory=dict)  # what it resolved to (streams, requests)


@dataclass
class Loaded:
    """A backend ready to run."""

    infer: Callable[[np.ndarray], np.ndarray]  # host memory in, host memory out: the study's end-to-end call
    input_dtype: np.dtype
    resident: Resident | None = None  # GPU backends only
    details: dict = field(default_factory=dict)  # provider actually used, options, how fp16 was made...
    # Work done once with the cell's real batch before anything is timed: torch.compile's compilation,
    # a CUDA graph's capture. The runner times it as the cell's prepare_s.
    prepare: Callable[[np.ndarray], None] | None = None
    # The end-to-end step to time for a batch, where it is not one `infer` call: OpenVINO's throughput
    # hint keeps `batches_per_step` requests in flight.
    make_step: Callable[[np.ndarray], Callable[[], object]] | None = None
    batches_per_step: int = 1
    # The runtime's own asynchronous queue, where it has one (OpenVINO's AsyncInferQueue): given a completion
    # callback(userdata, output), a queue that serves requests (LoadGen's scenarios, infbench.measuring.serving).
    async_queue: Callable[[Callable[[object, np.ndarray], None]], AsyncQueue] | None = None
    # Frees what the backend holds (sessions, engines, device buffers) once the cell is measured.
    release: Callable[[], None] = lambda: None
    # Checks what the first inference showed, before parity (ONNX Runtime: where its profiled nodes
    # ran); may raise BackendUnavailable. What it finds goes into `details`.
    check_first_inference: Callable[[], None] | None = None


class Runtime(abc.ABC):
    """What every backend implements: `unavailable_reason` and `load` (its module's `RUNTIME`)."""

    @abc.abstractmethod
    def unavailable_reason(self, request: CellRequest) -> str | None:
        """Why this cell cannot run on this machine (library, device, the machine's precision support), or None.

        Called before anything heavy is imported; the precisions the backend never runs are the
        catalogue's `unsupported`, checked by the runner first.
        """

    @abc.abstractmethod
    def load(self, request: CellRequest) -> Loaded:
        """Load the cell's model (raise BackendUnavailable where it turns out it cannot run, ArtifactError for an unusable file)."""

    def run_time_notes(self, lines: list[str]) -> list[str]:
        """What the runtime's own log (its stderr from load to the parity check) says that belongs in the record."""
        return []


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


def read_quantized(folder: str) -> tuple[str, dict]:
    """The 8-bit model of a quantization folder and its record; a recipe that could not run skips the cell with its reason."""
    from infbench.planning.layout import QUANTIZATION_RECORD

    record = read_step_record(os.path.join(folder, QUANTIZATION_RECORD), "quantization record")
    return os.path.join(folder, record["model_file"]), record


def quantized_details(record: dict) -> dict:
    """What the record of an int8 cell says about its model: the recipe, its images and time, what stayed fp32."""
    keys = ("recipe", "calibration_images", "validation_images", "kept_float", "quantize_s", "versions",
            "validation_fp32_accuracy", "validation_int8_accuracy", "within_max_drop")
    return {"int8": {key: record[key] for key in keys if key in record}, "quantize_s": record["quantize_s"]}


BUILD_RECORD = "build.json"  # in every build folder: what was built, or why nothing was
BUILD_SKIPPED = "skipped"  # a build.json's status where the machine cannot build


def skipped_build(reason: str) -> dict:
    """The build.json of a machine that cannot build: the cell it was for is skipped with `reason`."""
    return {"status": BUILD_SKIPPED, "reason": reason}


def read_step_record(path: str, what: str) -> dict:
    """The record a step wrote beside what it made; a step that could not run skips the cell with its reason."""
    from infbench.artifacts import read_json
    from infbench.errors import ArtifactError, BackendUnavailable

    try:
        record = read_json(path)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: not a readable {what} ({exc})") from exc
    if record.get("status") == BUILD_SKIPPED:
        raise BackendUnavailable(record["reason"])
    return record


def read_build(folder: str) -> dict:
    """A build folder's record; a build that could not run on its machine skips the cell with its reason."""
    return read_step_record(os.path.join(folder, BUILD_RECORD), "build record")
