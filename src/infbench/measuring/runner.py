"""Measuring one cell: the same phases, in the same order, for every backend.

skip check -> load (cold start) -> first inference -> output parity on held-out images ->
warm-up + timed loop end to end (host memory to host memory) -> on a GPU, warm-up + timed loop
with inputs and outputs resident on the device (CUDA events and host clock) -> memory -> record.
"""

from __future__ import annotations

import importlib
import logging
import math
import resource
import time
import traceback
from dataclasses import asdict, dataclass

import numpy as np

from infbench.errors import ArtifactError, BackendUnavailable, first_line
from infbench.measuring.backends import implementation
from infbench.measuring.backends.base import CellRequest, Loaded, Runtime, captured_stderr
from infbench.measuring.harness import MeasurePolicy, WarmupPolicy, time_steps, warm_up
from infbench.model.parity import Tolerance, compare, outputs_over, relative_diff
from infbench.model.reference import fp16_range_note, reference_by
from infbench.planning.catalog import LIBRARIES, REDUCED
from infbench.planning.envinfo import host
from infbench.planning.versions import distribution_warnings, imported_versions, installed_version
from infbench.results.records import ERROR, MISMATCH, OK, SKIPPED, ColdStart, Memory, Parity, Record, Timing, TimingBlock, header

log = logging.getLogger("infbench")

END_TO_END_METHOD = "host clock around one call from host memory to host memory (copies included)"
RESIDENT_METHOD = (
    "inputs and outputs stay on the GPU; host clock around the call and a stream synchronize, "
    "and CUDA events around the call on the same stream"
)
# What a step of its own made for the cell before it ran, and how long that took: part of its build_s.
BUILT_BY_A_STEP = ("engine_build_s", "quantize_s", "compile_step_s")
# Run-time failures that may pass on another attempt (the GPU was busy), rather than the cell's own.
TRANSIENT_MARKERS = ("out of memory", "outofmemory", "failed to allocate memory")


@dataclass(frozen=True)
class CellPolicy:
    """How a cell is measured and judged."""

    measure: MeasurePolicy
    warmup: WarmupPolicy
    tolerance: Tolerance
    noisy_cv: float


class Mismatch(Exception):
    """The backend's outputs are not the reference's: the cell is not timed."""


def _rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def timing_block(run, warmup_report, images_per_step: int, noisy_cv: float) -> TimingBlock:
    summary = run.summary()
    host_ms = summary["host_ms"]
    return TimingBlock(
        **summary,
        warmup=vars(warmup_report),
        images_per_step=images_per_step,
        throughput_ips=images_per_step * 1000.0 / host_ms["mean"],
        noisy=host_ms["cv"] > noisy_cv,
        stopped_by=run.stopped_by,
        samples_ms=[round(v, 5) for v in run.host_ms],
        device_samples_ms=None if run.device_ms is None else [round(v, 5) for v in run.device_ms],
    )


def is_transient(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(marker in text for marker in TRANSIENT_MARKERS)


class Measurement:
    """One cell's phases, each a method; the record's fields fill in as they run."""

    def __init__(self, request: CellRequest, runtime: Runtime, eval_set: dict[str, np.ndarray], policy: CellPolicy):
        self.request, self.runtime, self.eval_set, self.policy = request, runtime, eval_set, policy
        self.fields: dict = {"settings": {"threads": request.threads, "allow_tf32": request.allow_tf32}}
        self.cold: dict = {}
        self.memory = None  # device memory, on a GPU
        self.gpu_at_start: dict | None = None  # what nvidia-smi said before the cell began
        self.parity_calls = 0  # calls the parity run made at the cell's batch: warm-up counts them
        self.below_gate: str | None = None  # a reduced precision's parity failure: timed all the same

    def run(self) -> None:
        """Every phase in order; raises Mismatch, BackendUnavailable, ArtifactError or the backend's own error."""
        rss_before = self._start_process()
        with captured_stderr() as lines:
            try:
                loaded = self._load()
                batch = self._batch(loaded)
                self._prepare(loaded, batch)
                first_output = self._first_inference(loaded, batch)
                self._check_parity(loaded)
            finally:
                self.fields["cold_start"] = ColdStart(**self.cold)
        self.fields["run_time_notes"] = self.runtime.run_time_notes(lines)
        try:
            timing = self._time_end_to_end(loaded, batch)
            if loaded.resident is not None:
                self._time_resident(loaded, batch, first_output, timing)
            self.fields["timing"] = Timing(**timing)
            self._record_memory(rss_before)
        finally:
            loaded.release()

    def _start_process(self) -> float:
        """GPU set-up, then the backend's libraries imported before the load is timed (load time is the model's)."""
        if self.request.backend.is_gpu:
            self._start_gpu()
        start = time.perf_counter()
        for library in self.request.backend.libraries:
            if installed_version(library):  # ONNX Runtime's TensorRT provider runs without the tensorrt module
                importlib.import_module(LIBRARIES[library].module)
        self.cold["import_s"] = round(time.perf_counter() - start, 4)
        return _rss_mb()

    def _start_gpu(self) -> None:
        """torch and a CUDA context, before anything is loaded; what the GPU was doing when the cell began."""
        from infbench.measuring.backends import cuda
        from infbench.planning.envinfo import nvidia_smi

        self.gpu_at_start = nvidia_smi()  # its temperature and clocks as the job found it (after training, say)
        start = time.perf_counter()
        if not self.request.allow_tf32 and self.request.backend.tf32_override:
            cuda.disable_tf32_everywhere()  # before CUDA starts, so that the library sees it
        cuda.require_cuda()
        self.memory = cuda.DeviceMemory()
        self.cold["device_init_s"] = round(time.perf_counter() - start, 4)

    def _load(self) -> Loaded:
        start = time.perf_counter()
        loaded = self.runtime.load(self.request)
        self.cold["load_s"] = round(time.perf_counter() - start, 4)
        self.fields["settings"].update(loaded.details)
        if self.memory:
            self.memory.sample()
        return loaded

    def _batch(self, loaded: Loaded) -> np.ndarray:
        """The cell's batch: the same real held-out images for every backend."""
        images = self.eval_set["images"].astype(loaded.input_dtype)
        return images[np.arange(self.request.batch_size) % len(images)]

    def _prepare(self, loaded: Loaded, batch: np.ndarray) -> None:
        """Compile or capture once, with this batch, before anything is timed."""
        if loaded.prepare is not None:
            log.info("preparing %s (compile or graph capture); this can take minutes", self.request.variant_name)
            start = time.perf_counter()
            loaded.prepare(batch)
            self.cold["prepare_s"] = round(time.perf_counter() - start, 3)
            self.fields["settings"].update(loaded.details)  # what preparing found
        for step in BUILT_BY_A_STEP:  # made by a step of its own, once, before the cell
            if step in loaded.details:
                self.cold[step] = loaded.details[step]
        parts = [self.cold[k] for k in ("prepare_s", *BUILT_BY_A_STEP) if k in self.cold]
        if parts:
            self.cold["build_s"] = round(sum(parts), 3)

    def _first_inference(self, loaded: Loaded, batch: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        output = loaded.infer(batch)
        self.cold["first_inference_ms"] = round((time.perf_counter() - start) * 1000, 3)
        if loaded.check_first_inference is not None:
            loaded.check_first_inference()
            self.fields["settings"].update(loaded.details)
        build = f", build {self.cold['build_s']:.1f} s" if "build_s" in self.cold else ""
        log.info("loaded in %.2f s, first inference %.1f ms%s", self.cold["load_s"], self.cold["first_inference_ms"], build)
        return output

    def _check_parity(self, loaded: Loaded) -> None:
        images = self.eval_set["images"].astype(loaded.input_dtype)
        start = time.perf_counter()
        outputs = outputs_over(loaded.infer, images, self.request.batch_size)
        self.parity_calls = math.ceil(len(images) / self.request.batch_size)
        seconds = round(time.perf_counter() - start, 3)
        parity = compare(outputs, self.eval_set["reference"], self.eval_set["labels"], self.policy.tolerance) | {"seconds": seconds}
        self.fields["parity"] = Parity(**parity)
        if not parity["passed"]:
            failures = list(parity["failures"])
            if self.request.precision == "fp16" and (note := fp16_range_note(self.eval_set)):
                failures.append(note)
            reason = f"outputs differ from the {reference_by(self.eval_set)} reference: " + "; ".join(failures)
            if self.request.precision not in REDUCED or not parity.get("finite", True):
                raise Mismatch(reason)
            self.below_gate = reason + f" (timed all the same: {self.request.precision} trades accuracy for speed)"
            log.warning("below the gate: %s", self.below_gate)
            return
        log.info(
            "parity on %d images: max relative diff %.3g, min cosine %.6f, top-1 agreement %.3f (%d decisive), accuracy %.3f",
            parity["images"], parity["max_rel_diff"], parity["min_cosine"], parity["decisive_top1_agreement"],
            parity["decisive_images"], parity["top1_accuracy"],
        )

    def _time_end_to_end(self, loaded: Loaded, batch: np.ndarray) -> dict:
        timing: dict = {"policy": asdict(self.policy.measure), "methods": {"end_to_end": END_TO_END_METHOD}}
        step = loaded.make_step(batch) if loaded.make_step else (lambda: loaded.infer(batch))
        report = warm_up(step, self.policy.warmup, calls_before=self.parity_calls)
        run = time_steps(step, self.policy.measure)
        block = timing_block(run, report, self.request.batch_size * loaded.batches_per_step, self.policy.noisy_cv)
        timing["end_to_end"] = block
        log.info("end to end: mean %.3f ms over %d calls after %d warm-up calls", block.host_ms.mean, block.host_ms.n,
                 report.iterations)
        if self.memory:
            self.memory.sample()
        return timing

    def _time_resident(self, loaded: Loaded, batch: np.ndarray, first_output: np.ndarray, timing: dict) -> None:
        resident = loaded.resident
        resident.bind(batch)
        resident.sync()
        report = warm_up(resident.step, self.policy.warmup, sync=resident.sync)
        run = time_steps(resident.step, self.policy.measure, sync=resident.sync, device_timer=resident.timer())
        # The device-resident path must compute what the end-to-end call computed.
        diff = relative_diff(resident.output(), first_output)
        if diff > self.policy.tolerance.rounding_bound:
            raise Mismatch(f"device-resident output differs from the end-to-end output (max relative diff {diff:.3g})")
        block = timing_block(run, report, self.request.batch_size * loaded.batches_per_step, self.policy.noisy_cv)
        timing["device_resident"] = block
        timing["methods"]["device_resident"] = RESIDENT_METHOD
        log.info("device resident: mean %.3f ms (host clock), %.3f ms (CUDA events) over %d calls", block.host_ms.mean,
                 block.device_ms.mean, block.host_ms.n)

    def _record_memory(self, rss_before: float) -> None:
        memory = {"host_rss_before_load_mb": rss_before, "host_peak_rss_mb": _peak_rss_mb()}
        if self.memory:
            from infbench.measuring.backends import cuda

            memory.update(self.memory.report())
            at_start = {"nvidia_smi_at_start": self.gpu_at_start} if self.gpu_at_start else {}
            self.fields["gpu"] = cuda.gpu_description() | at_start
        self.fields["memory"] = Memory(**memory)


def skip_reason(request: CellRequest, runtime: Runtime) -> str | None:
    """Why the cell cannot run at all: a precision the backend or the variant never runs, or what this machine lacks."""
    if reason := request.backend.unsupported.get(request.precision):
        return reason
    variant = request.variant_spec
    if not variant.runs(request.precision):
        others = [v.name for v in request.backend.variants if v.runs(request.precision)]
        how = f"; {request.backend.name} runs it as {', '.join(others)}" if others else ""
        return f"the {variant.name} variant does not run {request.precision} (it runs {', '.join(variant.precisions)}){how}"
    return runtime.unavailable_reason(request)


def run_cell(
    request: CellRequest,
    eval_set: dict[str, np.ndarray],
    measure: MeasurePolicy | int,
    warmup: WarmupPolicy,
    tolerance: Tolerance,
    noisy_cv: float,
) -> Record:
    """Measure one cell and return its record; an unusable artifact raises ArtifactError."""
    policy = CellPolicy(MeasurePolicy.of(measure), warmup, tolerance, noisy_cv)
    fields = header(request.cell, SKIPPED)
    fields["model_info"] = {"architecture": request.architecture, "image_size": request.image_size,
                            "num_classes": request.num_classes}
    if warnings := distribution_warnings(request.backend.libraries):
        for warning in warnings:
            log.warning("warning: %s", warning)
        fields["warnings"] = warnings
    runtime = implementation(request.backend.name)
    if reason := skip_reason(request, runtime):
        log.info("skipped: %s", reason)
        return Record(**(fields | {"reason": reason}), host=host())
    measurement = Measurement(request, runtime, eval_set, policy)
    try:
        measurement.run()
        fields.update(status=MISMATCH if measurement.below_gate else OK, reason=measurement.below_gate)
    except BackendUnavailable as exc:
        log.info("skipped: %s", exc)
        fields.update(status=SKIPPED, reason=str(exc))
    except Mismatch as exc:
        log.warning("mismatch: %s", exc)
        fields.update(status=MISMATCH, reason=str(exc))
    except ArtifactError:
        raise
    except Exception as exc:  # an out-of-memory at a large batch is this cell's error, not the run's end
        log.error("cell failed:\n%s", traceback.format_exc())
        fields.update(status=ERROR, reason=f"{type(exc).__name__}: {first_line(exc)}", retryable=is_transient(exc))
    fields |= measurement.fields
    return Record(**fields, versions=imported_versions(request.backend.libraries), host=host())
