import statistics
import time

import numpy as np
import pytest

from infbench.measuring.harness import MeasurePolicy, WarmupPolicy, bare_loop_mean_ms, summarize, time_steps, warm_up
from infbench.results.records import Stats


def test_summarize_matches_numpy_and_statistics():
    samples = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]
    stats = summarize(samples)
    assert isinstance(stats, Stats)
    assert stats.n == 10
    assert stats.mean == pytest.approx(statistics.mean(samples))
    assert stats.std == pytest.approx(statistics.stdev(samples))
    assert stats.p50 == pytest.approx(statistics.median(samples))
    assert stats.p90 == pytest.approx(np.percentile(samples, 90))
    assert stats.p99 == pytest.approx(np.percentile(samples, 99))
    assert (stats.min, stats.max) == (1.0, 9.0)
    assert stats.cv == pytest.approx(statistics.stdev(samples) / statistics.mean(samples))


def test_summarize_single_sample_and_empty():
    stats = summarize([2.5])
    assert (stats.mean, stats.std, stats.cv, stats.p99) == (2.5, 0.0, 0.0, 2.5)
    with pytest.raises(ValueError):
        summarize([])


def test_fixed_warmup_calls_exactly_n_times_and_syncs_each():
    calls, syncs = [], []
    report = warm_up(lambda: calls.append(1), WarmupPolicy(mode="fixed", iterations=7), sync=lambda: syncs.append(1))
    assert (len(calls), len(syncs)) == (7, 7)
    assert report.iterations == 7 and report.settled


class FakeClock:
    """A clock that only moves when a step says so: the tests need no real time and no quiet machine."""

    def __init__(self):
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def step(self, durations_ms):
        """A step whose n-th call takes durations_ms(n) milliseconds on this clock."""
        count = [0]

        def step():
            self.ns += int(durations_ms(count[0]) * 1e6)
            count[0] += 1

        return step, count


def test_adaptive_warmup_runs_until_successive_windows_agree():
    # Calls start slow and speed up towards 2 ms, as caches, clocks and allocators warm up.
    clock = FakeClock()
    step, count = clock.step(lambda n: 2 + 16 * 0.7**n)
    policy = WarmupPolicy(mode="adaptive", iterations=5, max_iterations=200, window=5, tolerance=0.2)
    report = warm_up(step, policy, clock=clock)
    assert report.settled and report.stopped_by == "settled"
    # Windows of calls 5-9 and 10-14 have medians 3.3 and 2.2 ms (> 20% apart); 15-19 has 2.04 ms.
    assert report.iterations == count[0] == 20
    assert report.window_medians_ms == pytest.approx([2 + 16 * 0.7**7, 2 + 16 * 0.7**12, 2 + 16 * 0.7**17])


def test_adaptive_warmup_stops_at_the_maximum_when_timings_never_settle():
    clock = FakeClock()
    step, count = clock.step(lambda n: 0.5 * (1 + n % 2) * (n // 10 + 1))  # each window slower than the last
    report = warm_up(step, WarmupPolicy(mode="adaptive", iterations=0, max_iterations=40, window=10, tolerance=0.01), clock=clock)
    assert not report.settled and report.stopped_by == "max_iterations"
    assert report.iterations == 40 == count[0]


def test_warmup_stops_at_its_time_limit_however_slow_the_calls():
    clock = FakeClock()
    step, count = clock.step(lambda n: 4000)  # 4 s a call, e.g. a CPU at batch 256
    report = warm_up(step, WarmupPolicy(mode="adaptive", iterations=10, max_time_s=10), clock=clock)
    assert count[0] == 3 and report.iterations == 3  # 4 + 4 + 4 s: the third call crosses 10 s
    assert not report.settled and report.stopped_by == "max_time"
    fixed = warm_up(clock.step(lambda n: 4000)[0], WarmupPolicy(mode="fixed", iterations=2, max_time_s=10), clock=clock)
    assert fixed.iterations == 2 and fixed.settled


class RecordingTimer:
    """A device timer that records the order of calls (the harness's protocol, not a benchmarked library)."""

    def __init__(self, log):
        self.log = log

    def prepare(self, i):
        self.log.append(("prepare", i))

    def start(self, i):
        self.log.append(("start", i))

    def stop(self, i):
        self.log.append(("stop", i))

    def elapsed_ms(self):
        return [1.0, 2.0, 3.0]


def test_time_steps_brackets_each_step_with_the_timer_then_syncs():
    log = []
    run = time_steps(lambda: log.append("step"), 3, sync=lambda: log.append("sync"), device_timer=RecordingTimer(log))
    assert log == [("prepare", 0), ("start", 0), "step", ("stop", 0), "sync", ("prepare", 1), ("start", 1), "step", ("stop", 1),
                   "sync", ("prepare", 2), ("start", 2), "step", ("stop", 2), "sync"]
    assert len(run.host_ms) == 3 and all(v >= 0 for v in run.host_ms)
    assert run.device_ms == [1.0, 2.0, 3.0]
    assert run.summary()["device_ms"]["mean"] == 2.0


def test_time_steps_records_each_call_on_the_clock():
    clock = FakeClock()
    step, _ = clock.step(lambda n: 2 + n)
    run = time_steps(step, 5, clock=clock)
    assert run.device_ms is None and run.stopped_by == "iterations"
    assert run.host_ms == [2.0, 3.0, 4.0, 5.0, 6.0]
    with pytest.raises(ValueError):
        time_steps(step, 0)


def test_fast_calls_are_timed_until_the_minimum_time():
    clock = FakeClock()
    step, count = clock.step(lambda n: 0.5)
    run = time_steps(step, MeasurePolicy(iterations=100, min_time_s=2.0), clock=clock)
    assert len(run.host_ms) == count[0] == 4000 and run.stopped_by == "min_time"


def test_slow_calls_stop_at_the_maximum_time_but_not_before_the_minimum_count():
    clock = FakeClock()
    step, count = clock.step(lambda n: 7000)
    run = time_steps(step, MeasurePolicy(iterations=100, max_time_s=60, min_iterations=5), clock=clock)
    assert count[0] == 9 and run.stopped_by == "max_time"  # 9 x 7 s = 63 s
    slower, count = clock.step(lambda n: 30_000)
    run = time_steps(slower, MeasurePolicy(iterations=100, max_time_s=60, min_iterations=5), clock=clock)
    assert count[0] == 5 and run.stopped_by == "max_time"


def test_calls_stop_at_the_sample_cap():
    clock = FakeClock()
    step, count = clock.step(lambda n: 0.001)
    run = time_steps(step, MeasurePolicy(iterations=10, min_time_s=60, max_iterations=1000), clock=clock)
    assert count[0] == 1000 and run.stopped_by == "max_iterations"


def test_time_steps_measures_real_durations():
    def busy_wait_2ms():
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass

    run = time_steps(busy_wait_2ms, 3)
    assert all(v >= 2.0 for v in run.host_ms)  # a lower bound only: a busy machine makes calls longer, never shorter


def test_bare_loop_mean():
    count = [0]

    def step():
        count[0] += 1
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass

    mean = bare_loop_mean_ms(step, 4)
    assert count[0] == 4
    assert mean >= 1.0


def test_adaptive_warmup_counts_the_calls_just_made_towards_its_first_iterations():
    # A cell's parity run has just called the same work 16 times: the warm-up goes straight to its windows.
    clock = FakeClock()
    step, count = clock.step(lambda n: 1000.0)  # 1 s a call, a CPU at batch 16
    policy = WarmupPolicy(mode="adaptive", iterations=10, window=5, tolerance=0.05)
    report = warm_up(step, policy, clock=clock, calls_before=16)
    assert report.settled and report.iterations == count[0] == 10 and report.calls_before == 16  # two windows, no more
    assert warm_up(step, policy, clock=clock).iterations == 20  # without them: 10 blind calls first
    fixed = warm_up(step, WarmupPolicy(mode="fixed", iterations=7), clock=clock, calls_before=16)
    assert fixed.iterations == 7 and fixed.calls_before == 0  # fixed means exactly that many, whatever came before
