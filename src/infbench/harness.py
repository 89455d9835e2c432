"""The timing harness every backend goes through: warm-up, timed loop, statistics.

A backend hands the harness a zero-argument `step` (one inference), an optional `sync` that waits
for the device to finish, and an optional device timer (CUDA events). Each iteration is timed on
the host clock around `step` and `sync`, so GPU timings are never read before the work is done.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol

import numpy as np

Step = Callable[[], object]


class DeviceTimer(Protocol):
    """Device-side timestamps around each iteration (CUDA events), read after the loop."""

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

    def __post_init__(self):
        if self.mode not in ("fixed", "adaptive"):
            raise ValueError(f"warm-up mode must be 'fixed' or 'adaptive', not {self.mode!r}")


@dataclass
class WarmupReport:
    mode: str
    iterations: int
    settled: bool  # fixed mode: True; adaptive: whether two successive windows agreed
    window_medians_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Stats:
    """Summary of per-iteration latencies in milliseconds."""

    n: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p99: float
    max: float
    cv: float  # coefficient of variation: std / mean

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(samples_ms) -> Stats:
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


def warm_up(step: Step, policy: WarmupPolicy, sync: Callable[[], None] | None = None) -> WarmupReport:
    """Run the step until timings are steady (adaptive) or a fixed number of times."""
    if policy.iterations:
        time_steps(step, policy.iterations, sync)
    if policy.mode == "fixed":
        return WarmupReport("fixed", policy.iterations, True)
    done = policy.iterations
    medians: list[float] = []
    while done < policy.max_iterations:
        n = min(policy.window, policy.max_iterations - done)
        medians.append(statistics.median(time_steps(step, n, sync).host_ms))
        done += n
        if len(medians) >= 2 and abs(medians[-1] - medians[-2]) <= policy.tolerance * medians[-2]:
            return WarmupReport("adaptive", done, True, medians)
    return WarmupReport("adaptive", done, False, medians)


@dataclass
class TimedRun:
    host_ms: list[float]  # host wall clock around each step (and sync)
    device_ms: list[float] | None = None  # device timer around each step, when there is one

    def summary(self) -> dict:
        out = {"host_ms": summarize(self.host_ms).as_dict()}
        if self.device_ms is not None:
            out["device_ms"] = summarize(self.device_ms).as_dict()
        return out


def time_steps(
    step: Step,
    iterations: int,
    sync: Callable[[], None] | None = None,
    device_timer: DeviceTimer | None = None,
) -> TimedRun:
    """Time `iterations` calls of `step`, one at a time (each waits for the previous to finish)."""
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    host = [0.0] * iterations
    clock = time.perf_counter_ns
    for i in range(iterations):
        t0 = clock()
        if device_timer is not None:
            device_timer.start(i)
        step()
        if device_timer is not None:
            device_timer.stop(i)
        if sync is not None:
            sync()
        host[i] = (clock() - t0) / 1e6
    return TimedRun(host, device_timer.elapsed_ms() if device_timer is not None else None)


def bare_loop_mean_ms(step: Step, iterations: int, sync: Callable[[], None] | None = None) -> float:
    """Mean latency of a plain loop with one clock read at each end: the harness's overhead baseline."""
    clock = time.perf_counter_ns
    t0 = clock()
    for _ in range(iterations):
        step()
        if sync is not None:
            sync()
    return (clock() - t0) / 1e6 / iterations
