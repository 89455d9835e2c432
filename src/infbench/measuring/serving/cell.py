"""One scenario cell: the runtime loaded for its serving loop, LoadGen's runs of the scenario, the accuracy run, the record.

skip check (the batch-1 cell's parity, what the machine lacks) -> load, prepare and warm up every
model the loop needs -> the scenario's performance runs (Server: the search; Offline: a query sized to
last; Sweep: one run per rate) -> the accuracy run on the held-out images -> record.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from infbench.errors import ArtifactError, BackendUnavailable, first_line
from infbench.measuring.backends import implementation
from infbench.measuring.backends.base import CellRequest, captured_stderr
from infbench.measuring.runner import skip_reason
from infbench.measuring.serving.accuracy import judge
from infbench.measuring.serving.engine import Engine, load_engine
from infbench.measuring.serving.loadgen import ACCURACY, DETAIL, SUMMARY, LoadGenHarness, RunRequest
from infbench.measuring.serving.search import SearchPolicy, best_step, offline_runs, search, sweep, within_bound
from infbench.model.parity import Tolerance
from infbench.planning.catalog import BACKENDS, LIBRARIES
from infbench.planning.scenarios import SCENARIOS, ScenarioCell
from infbench.planning.versions import imported_versions, installed_version
from infbench.results.records import ERROR, MISMATCH, OK, SKIPPED
from infbench.results.serving_records import LoadGenRun, ServingRecord, TimingReference, serving_header

log = logging.getLogger("infbench")
STREAM_EXPECTATION = 0.5  # LoadGen prepares queries for a latency this much below the batch-1 cell's: never too few


@dataclass
class Outcome:
    """What a scenario's performance runs gave: the run that counts, and the others."""

    run: LoadGenRun | None
    steps: list[LoadGenRun]
    points: list[LoadGenRun]
    value: float | None
    extra: dict


class ScenarioRuns:
    """The LoadGen runs of one scenario cell, each logged in a folder of its own under the cell's folder."""

    def __init__(self, cell: ScenarioCell, settings: dict, timing: TimingReference, anchor_qps: float | None, folder: Path):
        self.cell, self.settings, self.timing, self.anchor_qps, self.folder = cell, settings, timing, anchor_qps, folder
        self.own = settings[SCENARIOS[cell.scenario].key]

    def request(self, **fields) -> RunRequest:
        base = {"min_duration_s": self.settings["min_duration_s"], "max_duration_s": self.settings["max_duration_s"],
                "min_query_count": self.own.get("min_query_count", 1)}
        return RunRequest(**(base | fields))

    def make(self, harness: LoadGenHarness, request: RunRequest, name: str) -> LoadGenRun:
        run = harness.run(request, self.folder / name, name)
        verdict = "" if run.valid is None else (" VALID" if run.valid else " INVALID")
        log.info("%s %s%s: %s", request.scenario, name, verdict, _said(run))
        return run

    def perform(self, harness: LoadGenHarness) -> tuple[Outcome, RunRequest]:
        """The scenario's performance runs, and the request its accuracy run repeats in AccuracyOnly mode."""
        return getattr(self, f"_{SCENARIOS[self.cell.scenario].key}")(harness)

    def _single_stream(self, harness):
        request = self.request(scenario="SingleStream", expected_latency_ms=self.timing.mean_ms * STREAM_EXPECTATION)
        run = self.make(harness, request, "performance")
        return Outcome(run, [], [], run.latency_ms.p90 if run.latency_ms else None, {}), request

    def _multi_stream(self, harness):
        per_query = self.own["samples_per_query"]
        request = self.request(scenario="MultiStream", samples_per_query=per_query,
                               expected_latency_ms=self.timing.mean_ms * STREAM_EXPECTATION)
        run = self.make(harness, request, "performance")
        return Outcome(run, [], [], run.latency_ms.p99 if run.latency_ms else None, {}), request

    def _server_request(self, qps: float) -> RunRequest:
        own = self.own
        return self.request(scenario="Server", target_qps=qps, latency_bound_ms=own["latency_bound_ms"],
                            latency_percentile=own["latency_percentile"], min_query_count=own["min_query_count"])

    def _server(self, harness):
        own = self.own
        start = own["start_qps"] or self.timing.one_at_a_time_qps or 1000.0 / self.timing.mean_ms
        floor = own["min_query_count"] / self.settings["max_duration_s"]  # slower, a run ends before its queries are in
        policy = SearchPolicy(start, own["growth"], own["tolerance"], own["max_steps"], floor)
        steps = search(lambda qps: self.make(harness, self._server_request(qps), _step_name(harness, qps)), policy)
        best = best_step(steps)
        counted = best or within_bound(steps, own["latency_bound_ms"]) or min(steps, key=lambda s: s.target_qps)
        value = counted.samples_per_s if best or counted.latency_ms and counted.latency_ms.p99 <= own["latency_bound_ms"] else None
        extra = {}
        if value and self.timing.one_at_a_time_qps:
            extra["speedup_over_one_at_a_time"] = round(value / self.timing.one_at_a_time_qps, 3)
        return Outcome(counted, steps, [], value, extra), self._server_request(counted.target_qps)

    def _offline(self, harness):
        expected = self.own["expected_qps"] or self.timing.one_at_a_time_qps or 1000.0 / self.timing.mean_ms
        request = self.request(scenario="Offline", min_query_count=self.own["min_sample_count"])
        runs = offline_runs(lambda qps: self.make(harness, replace(request, expected_qps=qps), f"run{len(harness.runs) + 1}"),
                            expected)
        last = runs[-1]
        return Outcome(last, runs[:-1], [], last.samples_per_s, {}), replace(request, expected_qps=last.samples_per_s or expected)

    def _sweep(self, harness):
        points = sweep(lambda qps: self.make(harness, self._server_request(qps), _step_name(harness, qps, "point")),
                       self.anchor_qps, self.own["fractions"])
        return Outcome(None, [], points, None, {"anchor_qps": self.anchor_qps}), self._server_request(self.anchor_qps)


def _step_name(harness: LoadGenHarness, qps: float, kind: str = "step") -> str:
    return f"{kind}{len(harness.runs) + 1:02d}_qps{qps:.4g}"


def _said(run: LoadGenRun) -> str:
    parts = []
    if run.target_qps:
        parts.append(f"target {run.target_qps:.4g}/s")
    if run.samples_per_s:
        parts.append(f"{run.samples_per_s:.4g} samples/s")
    if run.latency_ms:
        parts.append(f"p50 {run.latency_ms.p50:.3g} ms, p90 {run.latency_ms.p90:.3g} ms, p99 {run.latency_ms.p99:.3g} ms")
    if problem := run.responses.problem():
        parts.append(problem)
    return ", ".join(parts + run.reasons[:2]) or f"{run.responses.answered} answers"


def _skip(cell: ScenarioCell, request: CellRequest, timing: TimingReference, anchor_qps: float | None) -> str | None:
    """Why the cell cannot run: its batch-1 cell did not pass, the machine lacks something, no Server rate to sweep around."""
    if timing.status != OK:
        return f"its batch-1 timing cell ({timing.record}) is {timing.status}: {timing.reason}"
    if reason := skip_reason(request, implementation(cell.backend)):
        return reason
    if installed_version("loadgen") is None:
        return "mlcommons-loadgen is not installed (pip install -r requirements.txt)"
    if cell.scenario == "Sweep" and anchor_qps is None:
        return f"its Server cell ({cell.server_cell.record_path}) found no rate to sweep around"
    return None


def _copy_logs(folder: Path, outcome: Outcome) -> None:
    """The logs of the run that counts (Sweep: the run nearest its anchor) beside the record, at the folder's top."""
    runs = [outcome.run] if outcome.run else outcome.points
    if not runs:
        return
    anchor = outcome.extra.get("anchor_qps") or 0
    shown = min(runs, key=lambda run: abs((run.target_qps or 0) - anchor))
    for name in (SUMMARY, DETAIL):
        shutil.copyfile(folder / shown.logs / name, folder / name)


def _accuracy(harness: LoadGenHarness, runs: ScenarioRuns, request: RunRequest, eval_set: dict, tolerance: Tolerance):
    run = runs.make(harness, replace(request, mode="AccuracyOnly"), "accuracy")
    check = judge(run, runs.folder / "accuracy" / ACCURACY, eval_set, tolerance)
    log.info("accuracy run: %s", "passed" if check.passed else "; ".join(check.failures))
    if check.passed:
        (runs.folder / "accuracy" / ACCURACY).unlink()  # the record holds the verdict; a failure keeps the answers
    return check


def _outcome_fields(cell: ScenarioCell, outcome: Outcome, accuracy) -> dict:
    """Status, verdict and value of the cell from its runs: a loop that lost answers is an error, a wrong answer a mismatch."""
    scenario = SCENARIOS[cell.scenario]
    fields = {"run": outcome.run, "steps": outcome.steps, "points": outcome.points, "accuracy": accuracy, **outcome.extra}
    if cell.scenario != "Sweep":
        fields |= {"metric": scenario.metric, "value": outcome.value, "unit": "ms" if scenario.better == "lower" else "samples/s",
                   "valid": outcome.run.valid, "reasons": outcome.run.reasons}
        if outcome.value is None and cell.scenario == "Server":
            fields["valid"] = False
            fields["reasons"] = ["no rate tried kept its p99 within the bound", *outcome.run.reasons]
    runs = [r for r in (outcome.run, *outcome.steps, *outcome.points) if r is not None]
    if problem := next((r.responses.problem() for r in runs if r.responses.problem()), None):
        return fields | {"status": ERROR, "reason": f"the serving loop broke LoadGen's run: {problem}"}
    if accuracy is not None and not accuracy.passed:
        return fields | {"status": MISMATCH, "reason": "the accuracy run failed: " + "; ".join(accuracy.failures)}
    return fields | {"status": OK, "reason": None}


def _serve(cell: ScenarioCell, request_at: Callable[[int], CellRequest], eval_set: dict, settings: dict,
           tolerance: Tolerance, runs: ScenarioRuns) -> dict:
    backend = BACKENDS[cell.backend]
    runtime = implementation(cell.backend)
    for library in (*backend.libraries, "loadgen"):
        if installed_version(library):
            importlib.import_module(LIBRARIES[library].module)
    images = eval_set["images"]
    loop = backend.serving_loop(cell.variant, cell.scenario)
    with captured_stderr() as lines:
        engine: Engine = load_engine(runtime, request_at, loop, request_at(1).threads, images, settings["warmup_batches"])
    fields = {"runtime_details": engine.details, "run_time_notes": runtime.run_time_notes(lines),
              "loop": loop.described() | {"resolved": engine.resolved}, "loop_label": loop.label(engine.resolved)}
    log.info("serving loop: %s", fields["loop_label"])
    try:
        typed = np.ascontiguousarray(images.astype(engine.input_dtype))
        harness = LoadGenHarness(lambda ledger: engine.make_loop(typed, ledger), len(images), settings["stall_timeout_s"])
        try:
            outcome, request = runs.perform(harness)
            accuracy = _accuracy(harness, runs, request, eval_set, tolerance) if settings["accuracy"] else None
        finally:
            harness.close()
    finally:
        engine.release()
    _copy_logs(runs.folder, outcome)
    return fields | _outcome_fields(cell, outcome, accuracy)


def serve_cell(cell: ScenarioCell, request_at: Callable[[int], CellRequest], eval_set: dict, settings: dict,
               tolerance: Tolerance, timing: TimingReference, anchor_qps: float | None, folder: Path) -> ServingRecord:
    """Serve one scenario cell and return its record; an unusable model file raises ArtifactError."""
    from infbench.planning.envinfo import host

    fields = serving_header(cell, SKIPPED) | {"settings": settings, "timing_cell": timing}
    folder.mkdir(parents=True, exist_ok=True)
    if reason := _skip(cell, request_at(1), timing, anchor_qps):
        log.info("skipped: %s", reason)
        return ServingRecord(**(fields | {"reason": reason}), host=host())
    try:
        fields |= _serve(cell, request_at, eval_set, settings, tolerance, ScenarioRuns(cell, settings, timing, anchor_qps, folder))
    except BackendUnavailable as exc:
        log.info("skipped: %s", exc)
        fields |= {"status": SKIPPED, "reason": str(exc)}
    except ArtifactError:
        raise
    except Exception as exc:  # the runtime's own failure is this cell's error, not the run's end
        log.error("cell failed:\n%s", traceback.format_exc())
        fields |= {"status": ERROR, "reason": f"{type(exc).__name__}: {first_line(exc)}"}
    libraries = (*BACKENDS[cell.backend].libraries, "loadgen")
    return ServingRecord(**fields, loadgen=installed_version("loadgen"), versions=imported_versions(libraries), host=host())
