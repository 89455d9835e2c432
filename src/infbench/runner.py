"""Measuring one cell: the same steps, in the same order, for every backend.

skip check -> load (cold start) -> first inference -> output parity on held-out images ->
warm-up + timed loop end to end (host memory to host memory) -> on a GPU, warm-up + timed loop
with inputs and outputs resident on the device (CUDA events and host clock) -> memory -> record.
"""

from __future__ import annotations

import importlib
import logging
import resource
import time
import traceback
from dataclasses import asdict

import numpy as np

from infbench.backends import implementation
from infbench.backends.base import CellRequest
from infbench.catalog import LIBRARIES
from infbench.envinfo import host
from infbench.errors import ArtifactError, BackendUnavailable, first_line
from infbench.harness import MeasurePolicy, WarmupPolicy, time_steps, warm_up
from infbench.parity import Tolerance, compare, outputs_over, relative_diff
from infbench.records import ERROR, MISMATCH, OK, SKIPPED, new_record
from infbench.reference import fp16_range_note
from infbench.versions import distribution_warnings, imported_versions, installed_version

log = logging.getLogger("infbench")

END_TO_END_METHOD = "host clock around one call from host memory to host memory (copies included)"
RESIDENT_METHOD = (
    "inputs and outputs stay on the GPU; host clock around the call and a stream synchronize, "
    "and CUDA events around the call on the same stream"
)


def _rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _timing_block(run, warmup_report, images_per_step: int, noisy_cv: float) -> dict:
    summary = run.summary()
    host = summary["host_ms"]
    block = {
        **summary,
        "warmup": vars(warmup_report),
        "images_per_step": images_per_step,
        "throughput_ips": images_per_step * 1000.0 / host["mean"],
        "noisy": host["cv"] > noisy_cv,
        "stopped_by": run.stopped_by,
        "samples_ms": [round(v, 5) for v in run.host_ms],
    }
    if run.device_ms is not None:
        block["device_samples_ms"] = [round(v, 5) for v in run.device_ms]
    return block


def run_cell(
    request: CellRequest,
    eval_set: dict[str, np.ndarray],
    measure: MeasurePolicy | int,
    warmup: WarmupPolicy,
    tolerance: Tolerance,
    noisy_cv: float,
) -> dict:
    """Measure one cell and return its record; an unusable artifact raises ArtifactError."""
    measure = MeasurePolicy.of(measure)
    record = new_record(request)
    if warnings := distribution_warnings(request.backend.libraries):
        for warning in warnings:
            log.warning("warning: %s", warning)
        record["warnings"] = warnings
    impl = implementation(request.backend.name)
    reason = impl.unavailable_reason(request)
    if reason:
        log.info("skipped: %s", reason)
        return record | {"status": SKIPPED, "reason": reason, "host": host()}
    record["settings"] = {"threads": request.threads, "allow_tf32": request.allow_tf32}
    try:
        _measure(request, impl, record, eval_set, measure, warmup, tolerance, noisy_cv)
    except BackendUnavailable as exc:
        log.info("skipped: %s", exc)
        record.update(status=SKIPPED, reason=str(exc))
    except ArtifactError:
        raise
    except Exception as exc:  # an out-of-memory at a large batch is this cell's error, not the run's end
        log.error("cell failed:\n%s", traceback.format_exc())
        record.update(status=ERROR, reason=f"{type(exc).__name__}: {first_line(exc)}")
    record["versions"] = imported_versions(request.backend.libraries)
    record["host"] = host()
    return record


def _measure(request, impl, record, eval_set, measure, warmup, tolerance, noisy_cv) -> None:
    gpu = request.backend.is_gpu
    memory = None
    if gpu:
        from infbench.backends import cuda

        if not request.allow_tf32:
            cuda.disable_tf32_everywhere()  # before CUDA starts, so that every library sees it
        cuda.require_cuda()
        memory = cuda.DeviceMemory()
    # Libraries are imported before the load is timed: load time is the model's, not the import's.
    start = time.perf_counter()
    for library in request.backend.libraries:
        if installed_version(library):  # ONNX Runtime's TensorRT provider runs without the tensorrt module
            importlib.import_module(LIBRARIES[library].module)
    import_s = time.perf_counter() - start
    rss_before = _rss_mb()

    start = time.perf_counter()
    loaded = impl.load(request)
    load_s = time.perf_counter() - start
    record["settings"].update(loaded.details)
    if memory:
        memory.sample()

    images = eval_set["images"].astype(loaded.input_dtype)
    batch = images[np.arange(request.batch_size) % len(images)]  # the same real images for every backend
    cold = {"import_s": round(import_s, 4), "load_s": round(load_s, 4)}
    if loaded.prepare is not None:  # compile, capture: once, with this batch, before anything is timed
        log.info("preparing %s (compile or graph capture); this can take minutes", request.variant_name)
        start = time.perf_counter()
        loaded.prepare(batch)
        cold["prepare_s"] = round(time.perf_counter() - start, 3)
    if "engine_build_s" in loaded.details:
        cold["engine_build_s"] = loaded.details["engine_build_s"]
    if "prepare_s" in cold or "engine_build_s" in cold:
        cold["build_s"] = round(cold.get("prepare_s", 0) + cold.get("engine_build_s", 0), 3)
    start = time.perf_counter()
    first_output = loaded.infer(batch)
    cold["first_inference_ms"] = round((time.perf_counter() - start) * 1000, 3)
    record["cold_start"] = cold
    log.info("loaded in %.2f s, first inference %.1f ms%s", load_s, cold["first_inference_ms"],
             f", build {cold['build_s']:.1f} s" if "build_s" in cold else "")

    parity = compare(outputs_over(loaded.infer, images, request.batch_size), eval_set["reference"], eval_set["labels"], tolerance)
    record["parity"] = parity
    if not parity["passed"]:
        failures = list(parity["failures"])
        if request.precision == "fp16" and (note := fp16_range_note(eval_set)):
            failures.append(note)
        record.update(status=MISMATCH, reason="outputs differ from the PyTorch fp32 CPU reference: " + "; ".join(failures))
        log.warning("mismatch: %s", record["reason"])
        return
    log.info(
        "parity on %d images: max relative diff %.3g, min cosine %.6f, top-1 agreement %.3f (%d decisive), accuracy %.3f",
        parity["images"], parity["max_rel_diff"], parity["min_cosine"], parity["decisive_top1_agreement"],
        parity["decisive_images"], parity["top1_accuracy"],
    )

    timing: dict = {"policy": asdict(measure), "methods": {"end_to_end": END_TO_END_METHOD}}
    step = loaded.make_step(batch) if loaded.make_step else (lambda: loaded.infer(batch))
    images_per_step = request.batch_size * loaded.batches_per_step
    report = warm_up(step, warmup)
    timing["end_to_end"] = _timing_block(time_steps(step, measure), report, images_per_step, noisy_cv)
    log.info(
        "end to end: mean %.3f ms over %d calls after %d warm-up calls",
        timing["end_to_end"]["host_ms"]["mean"], timing["end_to_end"]["host_ms"]["n"], report.iterations,
    )
    if memory:
        memory.sample()

    resident = loaded.resident
    if resident is not None:
        resident.bind(batch)
        resident.sync()
        report = warm_up(resident.step, warmup, sync=resident.sync)
        run = time_steps(resident.step, measure, sync=resident.sync, device_timer=resident.timer())
        # The device-resident path must compute what the end-to-end call computed.
        diff = relative_diff(resident.output(), first_output)
        if diff > tolerance.max_rel_diff:
            record.update(status=MISMATCH, reason=f"device-resident output differs from the end-to-end output (max relative diff {diff:.3g})")
            return
        timing["device_resident"] = _timing_block(run, report, images_per_step, noisy_cv)
        timing["methods"]["device_resident"] = RESIDENT_METHOD
        log.info(
            "device resident: mean %.3f ms (host clock), %.3f ms (CUDA events) over %d calls",
            timing["device_resident"]["host_ms"]["mean"], timing["device_resident"]["device_ms"]["mean"],
            timing["device_resident"]["host_ms"]["n"],
        )
    record["timing"] = timing
    record["memory"] = {"host_rss_before_load_mb": rss_before, "host_peak_rss_mb": _peak_rss_mb()}
    if memory:
        from infbench.backends import cuda

        record["memory"].update(memory.report())
        record["gpu"] = cuda.gpu_description()
    record.update(status=OK, reason=None)
