import statistics
import time

import numpy as np
import pytest

from infbench.harness import Stats, WarmupPolicy, bare_loop_mean_ms, summarize, time_steps, warm_up


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


def _sleep_step(durations_s):
    """A step whose n-th call takes durations_s(n) seconds (a busy wait, so the clock sees it)."""
    count = [0]

    def step():
        end = time.perf_counter() + durations_s(count[0])
        count[0] += 1
        while time.perf_counter() < end:
            pass

    return step, count


def test_adaptive_warmup_runs_until_successive_windows_agree():
    # Calls start slow and speed up towards 2 ms, as caches, clocks and allocators warm up.
    step, count = _sleep_step(lambda n: 0.002 + 0.016 * 0.7**n)
    policy = WarmupPolicy(mode="adaptive", iterations=5, max_iterations=200, window=5, tolerance=0.2)
    report = warm_up(step, policy)
    assert report.settled
    assert report.iterations == count[0] >= 15  # the first two windows (medians about 3.3 and 2.2 ms) differ by > 20%
    assert report.window_medians_ms[0] > 3 and report.window_medians_ms[-1] < 2.5


def test_adaptive_warmup_stops_at_the_maximum_when_timings_never_settle():
    step, count = _sleep_step(lambda n: 0.0005 * (1 + n % 2) * (n // 10 + 1))  # each window slower than the last
    report = warm_up(step, WarmupPolicy(mode="adaptive", iterations=0, max_iterations=40, window=10, tolerance=0.01))
    assert not report.settled
    assert report.iterations == 40 == count[0]


class RecordingTimer:
    """A device timer that records the order of calls (the harness's protocol, not a benchmarked library)."""

    def __init__(self, log):
        self.log = log

    def start(self, i):
        self.log.append(("start", i))

    def stop(self, i):
        self.log.append(("stop", i))

    def elapsed_ms(self):
        return [1.0, 2.0, 3.0]


def test_time_steps_brackets_each_step_with_the_timer_then_syncs():
    log = []
    run = time_steps(lambda: log.append("step"), 3, sync=lambda: log.append("sync"), device_timer=RecordingTimer(log))
    assert log == [("start", 0), "step", ("stop", 0), "sync", ("start", 1), "step", ("stop", 1), "sync",
                   ("start", 2), "step", ("stop", 2), "sync"]
    assert len(run.host_ms) == 3 and all(v >= 0 for v in run.host_ms)
    assert run.device_ms == [1.0, 2.0, 3.0]
    assert run.summary()["device_ms"]["mean"] == 2.0


def test_time_steps_measures_real_durations():
    step, _ = _sleep_step(lambda n: 0.002)
    run = time_steps(step, 5)
    assert run.device_ms is None
    assert all(2.0 <= v < 50 for v in run.host_ms)
    with pytest.raises(ValueError):
        time_steps(step, 0)


def test_bare_loop_mean():
    step, count = _sleep_step(lambda n: 0.001)
    mean = bare_loop_mean_ms(step, 4)
    assert count[0] == 4
    assert 1.0 <= mean < 50
