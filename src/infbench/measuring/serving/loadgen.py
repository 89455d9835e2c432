"""MLPerf's LoadGen around a serving loop: its system under test and sample library, one test at a time, and its logs read.

LoadGen asks for samples (`issue_queries`) and the loop answers each with the runtime's output for
it. Every answer goes through a `Ledger` first: LoadGen is given one answer per sample it asked for,
never a second or one for a sample it did not ask for (answering an id twice hands LoadGen freed
memory), and a sample the loop lost is answered empty after `stall_timeout_s` so that the test ends
and the cell can say what was lost.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mlperf_loadgen as lg
import numpy as np

from infbench.results.serving_records import LatencyStats, LoadGenRun, Responses

SUMMARY, DETAIL, ACCURACY, TRACE = "mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "mlperf_log_trace.json"
PERCENTILES = {"p50": "50.00", "p90": "90.00", "p95": "95.00", "p97": "97.00", "p99": "99.00", "p999": "99.90"}
WATCH_INTERVAL_S = 0.1


@dataclass(frozen=True)
class RunRequest:
    """One LoadGen test: its scenario and mode, how long, and the scenario's own settings."""

    scenario: str  # LoadGen's: SingleStream, MultiStream, Server, Offline
    min_duration_s: float
    max_duration_s: float
    min_query_count: int
    mode: str = "PerformanceOnly"
    samples_per_query: int = 1  # MultiStream
    target_qps: float | None = None  # Server
    latency_bound_ms: float | None = None  # Server
    latency_percentile: float = 0.99  # Server, MultiStream
    expected_latency_ms: float | None = None  # SingleStream, MultiStream: how many queries LoadGen prepares
    expected_qps: float | None = None  # Offline: how many samples the query holds

    def settings(self) -> lg.TestSettings:
        s = lg.TestSettings()
        s.scenario = getattr(lg.TestScenario, self.scenario)
        s.mode = getattr(lg.TestMode, self.mode)
        s.min_duration_ms = round(self.min_duration_s * 1000)
        # An accuracy run asks for every sample once, however long that takes.
        s.max_duration_ms = round(self.max_duration_s * 1000) if self.mode == "PerformanceOnly" else 0
        s.min_query_count = self.min_query_count
        if self.scenario == "Server":
            s.server_target_qps = self.target_qps
            s.server_target_latency_ns = round(self.latency_bound_ms * 1e6)
            s.server_target_latency_percentile = self.latency_percentile
        elif self.scenario == "MultiStream":
            s.multi_stream_samples_per_query = self.samples_per_query
            s.multi_stream_target_latency_percentile = self.latency_percentile
            s.multi_stream_expected_latency_ns = round((self.expected_latency_ms or 1.0) * 1e6)
        elif self.scenario == "SingleStream":
            s.single_stream_expected_latency_ns = round((self.expected_latency_ms or 1.0) * 1e6)
        else:
            s.offline_expected_qps = self.expected_qps or 1.0
        return s


class Ledger:
    """Every sample LoadGen asked for and every answer the loop gave: LoadGen gets exactly one answer per sample."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[int, int] = {}  # LoadGen's sample id -> the sample's index in the library
        self._answered: set[int] = set()
        self.issued = self.answered = self.duplicates = self.unknown = self.lost = 0
        self.failure: str | None = None
        self.last_progress = time.monotonic()

    def start(self) -> None:
        with self._lock:
            self._pending.clear()
            self._answered.clear()
            self.issued = self.answered = self.duplicates = self.unknown = self.lost = 0
            self.failure = None
            self.last_progress = time.monotonic()

    def issue(self, samples) -> list[tuple[int, int]]:
        pairs = [(s.id, s.index) for s in samples]
        with self._lock:
            self._pending.update(pairs)
            self.issued += len(pairs)
            self.last_progress = time.monotonic()
        return pairs

    def complete(self, ids: Sequence[int], outputs: np.ndarray) -> None:
        """Pass answers to LoadGen: `outputs` holds one row per id, the runtime's output for that sample."""
        rows = np.ascontiguousarray(outputs, dtype=np.float32).reshape(len(ids), -1)
        keep = []
        with self._lock:
            for i, sample_id in enumerate(ids):
                if self._pending.pop(sample_id, None) is None:
                    if sample_id in self._answered:
                        self.duplicates += 1
                    else:
                        self.unknown += 1
                    continue
                self._answered.add(sample_id)
                keep.append(i)
            self.answered += len(keep)
            self.last_progress = time.monotonic()
        if keep:  # LoadGen copies the bytes (accuracy mode) before QuerySamplesComplete returns: `rows` lives till then
            size = rows.shape[1] * rows.itemsize
            base = rows.ctypes.data
            lg.QuerySamplesComplete([lg.QuerySampleResponse(ids[i], base + i * size, size) for i in keep])

    def fail(self, message: str) -> None:
        with self._lock:
            self.failure = self.failure or message

    def give_up(self) -> int:
        """Answer every sample still waiting, empty, so that LoadGen ends; they count as lost."""
        with self._lock:
            lost = list(self._pending)
            self._pending.clear()
            self._answered.update(lost)
            self.lost += len(lost)
        if lost:
            lg.QuerySamplesComplete([lg.QuerySampleResponse(sample_id, 0, 0) for sample_id in lost])
        return len(lost)

    def stalled(self, timeout_s: float) -> bool:
        with self._lock:
            waiting = bool(self._pending)
            return waiting and (self.failure is not None or time.monotonic() - self.last_progress > timeout_s)

    def responses(self) -> Responses:
        with self._lock:
            return Responses(issued=self.issued, answered=self.answered, duplicates=self.duplicates, unknown=self.unknown,
                             lost=self.lost, failure=self.failure)


class LoadGenHarness:
    """LoadGen's SUT and sample library around a serving loop; `run` makes one test and reads its logs."""

    def __init__(self, make_loop: Callable[[Ledger], object], samples: int, stall_timeout_s: float):
        self.ledger = Ledger()
        self.loop = make_loop(self.ledger)  # has submit([(id, index)]) and close()
        self.stall_timeout_s = stall_timeout_s
        self.runs: list[LoadGenRun] = []  # every test made, in order
        self.sut = lg.ConstructSUT(self._issue, lambda: None)
        self.qsl = lg.ConstructQSL(samples, samples, lambda indices: None, lambda indices: None)  # in memory already

    def _issue(self, samples) -> None:
        self.loop.submit(self.ledger.issue(samples))

    def run(self, request: RunRequest, outdir: Path, logs: str) -> LoadGenRun:
        """One LoadGen test, logged into `outdir` (`logs`: that folder relative to the record's)."""
        outdir.mkdir(parents=True, exist_ok=True)
        log_settings = lg.LogSettings()
        log_settings.log_output.outdir = str(outdir)
        log_settings.log_output.copy_summary_to_stdout = False
        log_settings.enable_trace = False
        self.ledger.start()
        done = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(done,), daemon=True)
        watchdog.start()
        start = time.perf_counter()
        try:
            lg.StartTestWithLogSettings(self.sut, self.qsl, request.settings(), log_settings, "")
        finally:
            done.set()
            watchdog.join()
        wall_s = time.perf_counter() - start
        (outdir / TRACE).unlink(missing_ok=True)
        if request.mode == "PerformanceOnly":
            (outdir / ACCURACY).unlink(missing_ok=True)  # LoadGen writes an empty list there
        values, messages = read_detail(outdir / DETAIL)
        self.runs.append(run_result(request, values, messages, logs, wall_s, self.ledger.responses()))
        return self.runs[-1]

    def _watch(self, done: threading.Event) -> None:
        while not done.wait(WATCH_INTERVAL_S):
            if self.ledger.stalled(self.stall_timeout_s):
                self.ledger.give_up()

    def close(self) -> None:
        self.loop.close()
        lg.DestroyQSL(self.qsl)
        lg.DestroySUT(self.sut)


def read_detail(path: Path) -> tuple[dict, list[str]]:
    """mlperf_log_detail.txt: the last value of every key, and the errors and warnings LoadGen logged."""
    values: dict = {}
    messages: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith(":::MLLOG"):
            continue
        entry = json.loads(line[len(":::MLLOG"):])
        values[entry["key"]] = entry["value"]
        meta = entry.get("metadata", {})
        if meta.get("is_error") or meta.get("is_warning"):
            messages.append(f"{entry['key']}: {entry['value']}")
    return values, messages


def invalid_reasons(values: dict) -> list[str]:
    """Why LoadGen calls a run INVALID, in its words (the summary's 'satisfied: NO' lines and its reason)."""
    reasons = [text for key, text in (("result_min_duration_met", "min duration not satisfied"),
                                      ("result_min_queries_met", "min queries not satisfied"),
                                      ("result_perf_constraints_met", "performance constraints not satisfied "
                                                                      "(latency above the bound)"))
               if values.get(key) is False]
    if values.get("early_stopping_met") is False:
        detail = " ".join(str(values.get("early_stopping_result", "")).replace("*", "").split())
        reasons.append("early stopping not satisfied" + (f": {detail}" if detail else ""))
    if invalid := str(values.get("result_invalid_reason", "")).strip():
        reasons.append(invalid)
    return reasons


def latency_stats(values: dict, per_query: bool) -> LatencyStats | None:
    """LoadGen's latency statistics in ms (MultiStream: of queries)."""
    kind = "per_query_latency_ns" if per_query else "latency_ns"
    plain = "query_latency_ns" if per_query else "latency_ns"
    keys = {"min": f"result_min_{plain}", "mean": f"result_mean_{plain}", "max": f"result_max_{plain}"}
    keys |= {name: f"result_{p}_percentile_{kind}" for name, p in PERCENTILES.items()}
    if not all(key in values for key in keys.values()):
        return None
    return LatencyStats(**{name: float(values[key]) / 1e6 for name, key in keys.items()})


def samples_per_s(request: RunRequest, values: dict) -> float | None:
    if request.scenario == "Server":
        return values.get("result_completed_samples_per_sec")
    if request.scenario == "Offline":
        return values.get("result_samples_per_second")
    if request.scenario == "SingleStream":
        return values.get("result_qps_with_loadgen_overhead")
    return None  # MultiStream: LoadGen scores the queries' latency, not a rate


def run_result(request: RunRequest, values: dict, messages: list[str], logs: str, wall_s: float,
               responses: Responses) -> LoadGenRun:
    performance = request.mode == "PerformanceOnly"
    validity = values.get("result_validity")
    early = " ".join(str(values.get("early_stopping_result", "")).replace("*", "").split()) or None
    return LoadGenRun(
        mode=request.mode, scenario=request.scenario, logs=logs,
        valid=(validity == "VALID") if performance and validity else None,
        reasons=invalid_reasons(values) if performance and validity != "VALID" else [],
        errors=messages, target_qps=request.target_qps, samples_per_query=request.samples_per_query,
        queries=values.get("result_query_count") or values.get("generated_query_count"),
        over_bound=values.get("result_overlatency_query_count") if performance else None,
        samples_per_s=samples_per_s(request, values) if performance else None,
        latency_ms=latency_stats(values, request.scenario == "MultiStream") if performance else None,
        early_stopping=early if performance else None, wall_s=round(wall_s, 3), responses=responses,
    )
