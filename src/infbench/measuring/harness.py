"""The timing harness every backend goes through: warm-up, timed loop, statistics.

A backend hands the harness a zero-argument `step` (one inference), an optional `sync` that waits
for the device to finish, and an optional device timer (CUDA events). Each iteration is timed on
the host clock around `step` and `sync`, so GPU timings are never read before the work is done.

How long to measure is a policy, as in trtexec (`--iterations`, `--duration`): at least
`iterations` calls and at least `min_time_s` seconds, but never past `max_time_s` once
`min_iterations` calls are in, so that a slow cell (a CPU at batch 256) stops early and a fast one
(0.5 ms on a GPU) is measured long enough. The clock is a parameter so that tests need no real time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from infbench.results.records import Stats

Step = Callable[[], object]
Clock = Callable[[], int]  # nanoseconds
NS_PER_S = 1_000_000_000


class DeviceTimer(Protocol):
    """Device-side timestamps around each iteration (CUDA events), read after the loop."""

    def prepare(self, i: int) -> None: ...  # called outside the timed region (e.g. to create events)

    def start(self, i: int) -> None: ...

    def stop(self, i: int) -> None: ...

    def elapsed_ms(self) -> list[float]: ...


@dataclass(frozen=True)
class WarmupPolicy:
    mode: str = "adaptive"  # "fixed": exactly `iterations` calls; "adaptive": until the median settles
    iterations: int = 10
    max_iterations: int = 200
    window: int = 10
    tolerance: float = 0.05
    max_time_s: float | None = None  # warm-up ends once this is spent (after at least one call)

    def __post_init__(self):
        if self.mode not in ("fixed", "adaptive"):
            raise ValueError(f"warm-up mode must be 'fixed' or 'adaptive', not {self.mode!r}")


@dataclass(frozen=True)
class MeasurePolicy:
    """How many calls the timed loop makes (see the module's docstring)."""

    iterations: int = 100
    min_time_s: float = 0.0
    max_time_s: float | None = None
    min_iterations: int = 5
    max_iterations: int = 100_000  # bounds the samples a record keeps

    def __post_init__(self):
        if self.iterations < 1 or self.min_iterations < 1:
            raise ValueError("iterations and min_iterations must be at least 1")

    @classmethod
    def exactly(cls, iterations: int) -> MeasurePolicy:
        if iterations < 1:
            raise ValueError("iterations must be at least 1")
        return cls(iterations=iterations, min_iterations=iterations, max_iterations=iterations)

    @classmethod
    def of(cls, policy: MeasurePolicy | int) -> MeasurePolicy:
        """A policy as given, or exactly that many calls for an int."""
        return cls.exactly(policy) if isinstance(policy, int) else policy


@dataclass
class WarmupReport:
    mode: str
    iterations: int
    settled: bool  # fixed mode: True; adaptive: whether two successive windows agreed
    window_medians_ms: list[float] = field(default_factory=list)
    stopped_by: str = "iterations"  # or "settled", "max_iterations", "max_time"
    seconds: float = 0.0  # how long the warm-up took, calls and loop together
    calls_before: int = 0  # calls of the same batch made just before (the parity run), counted towards `iterations`


def summarize(samples_ms) -> Stats:
    """The samples' statistics, as a record stores them."""
    data = np.asarray(samples_ms, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no timing samples to summarize")
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if data.size > 1 else 0.0
    p50, p90, p99 = (float(v) for v in np.percentile(data, [50, 90, 99]))
    return Stats(
        n=int(data.size),
        mean=mean,
        std=std,
        min=float(data.min()),
        p50=p50,
        p90=p90,
        p99=p99,
        max=float(data.max()),
        cv=std / mean if mean > 0 else 0.0,
    )


@dataclass
class TimedRun:
    host_ms: list[float]  # host wall clock around each step (and sync)
    device_ms: list[float] | None = None  # device timer around each step, when there is one
    stopped_by: str = "iterations"  # what ended the loop: iterations, min_time, max_time or max_iterations

    @property
    def seconds(self) -> float:
        return sum(self.host_ms) / 1000

    def summary(self) -> dict:
        out = {"host_ms": summarize(self.host_ms).model_dump()}
        if self.device_ms is not None:
            out["device_ms"] = summarize(self.device_ms).model_dump()
        return out


def time_steps(
    step: Step,
    policy: MeasurePolicy | int,
    sync: Callable[[], None] | None = None,
    device_timer: DeviceTimer | None = None,
    clock: Clock = time.perf_counter_ns,
) -> TimedRun:
    """Time calls of `step`, one at a time (each waits for the previous to finish), as `policy` says.

    An int policy means exactly that many calls.
    """
    policy = MeasurePolicy.of(policy)
    min_ns = int(policy.min_time_s * NS_PER_S)
    max_ns = None if policy.max_time_s is None else int(policy.max_time_s * NS_PER_S)
    host: list[float] = []
    measured_ns = 0
    stopped_by = "max_iterations"
    for i in range(policy.max_iterations):
        if device_timer is not None:
            device_timer.prepare(i)
        t0 = clock()
        if device_timer is not None:
            device_timer.start(i)
        step()
        if device_timer is not None:
            device_timer.stop(i)
        if sync is not None:
            sync()
        elapsed = clock() - t0
        host.append(elapsed / 1e6)
        measured_ns += elapsed
        done = i + 1
        if max_ns is not None and measured_ns >= max_ns and done >= policy.min_iterations:
            stopped_by = "max_time"
            break
        if done >= policy.iterations and measured_ns >= min_ns:
            stopped_by = "min_time" if min_ns and done > policy.iterations else "iterations"
            break
    return TimedRun(host, device_timer.elapsed_ms() if device_timer is not None else None, stopped_by)


def warm_up(step: Step, policy: WarmupPolicy, sync: Callable[[], None] | None = None, clock: Clock = time.perf_counter_ns,
            calls_before: int = 0) -> WarmupReport:
    """Run the step until timings are steady (adaptive) or a fixed number of times, within max_time_s.

    Adaptive: `calls_before` calls of the same work just made (a cell's parity run, at its batch size)
    count towards the first `iterations`, so that a slow cell does not repeat them blind; its windows
    must still settle. Fixed: exactly `iterations` calls, whatever came before.
    """
    start = clock()
    report = _warm_up_calls(step, policy, sync, clock, calls_before if policy.mode == "adaptive" else 0)
    report.seconds = round((clock() - start) / NS_PER_S, 4)
    return report


def _warm_up_calls(step: Step, policy: WarmupPolicy, sync: Callable[[], None] | None, clock: Clock,
                   calls_before: int) -> WarmupReport:
    max_time_s = policy.max_time_s
    first_calls = max(policy.iterations - calls_before, 0)

    def run(n: int, spent_s: float) -> TimedRun:
        left = None if max_time_s is None else max(max_time_s - spent_s, 0.0)
        return time_steps(step, MeasurePolicy(iterations=n, max_time_s=left, min_iterations=1, max_iterations=n), sync, clock=clock)

    spent = 0.0
    done = 0
    if first_calls:
        first = run(first_calls, 0.0)
        spent, done = first.seconds, len(first.host_ms)
        if first.stopped_by == "max_time" and done < first_calls:
            return WarmupReport(policy.mode, done, False, stopped_by="max_time", calls_before=calls_before)
    if policy.mode == "fixed":
        return WarmupReport("fixed", done, True)
    medians: list[float] = []
    while done < policy.max_iterations:
        if max_time_s is not None and spent >= max_time_s:
            return WarmupReport("adaptive", done, False, medians, "max_time", calls_before=calls_before)
        window = run(min(policy.window, policy.max_iterations - done), spent)
        medians.append(statistics.median(window.host_ms))
        spent += window.seconds
        done += len(window.host_ms)
        if len(medians) >= 2 and abs(medians[-1] - medians[-2]) <= policy.tolerance * medians[-2]:
            return WarmupReport("adaptive", done, True, medians, "settled", calls_before=calls_before)
    return WarmupReport("adaptive", done, False, medians, "max_iterations", calls_before=calls_before)


def bare_loop_mean_ms(step: Step, iterations: int, sync: Callable[[], None] | None = None) -> float:
    """Mean latency of a plain loop with one clock read at each end: the harness's overhead baseline."""
    clock = time.perf_counter_ns
    t0 = clock()
    for _ in range(iterations):
        step()
        if sync is not None:
            sync()
    return (clock() - t0) / 1e6 / iterations
