"""The Server search, the Offline query's size and the sweep: which LoadGen runs a cell makes, given a way to make one.

Each function takes `run(x)`, which makes one LoadGen test and returns its `LoadGenRun`, so that
what is searched is this module's logic alone; every step is returned, for the record.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from infbench.results.serving_records import LoadGenRun

MIN_DURATION_REASON = "min duration not satisfied"
OFFLINE_RESIZES = 3  # Offline runs at most: the first, sized from an estimate, and corrections
OFFLINE_MARGIN = 1.2  # a corrected query is sized for this much more than the rate measured


@dataclass(frozen=True)
class SearchPolicy:
    start_qps: float
    growth: float
    tolerance: float
    max_steps: int
    min_qps: float = 0.0  # below it a run cannot make its minimum query count within max_duration: never VALID


def passes(run: LoadGenRun) -> bool:
    """A Server rate passes where LoadGen calls its run VALID (p99 within the bound, enough queries to say so) and no answer was lost."""
    return run.valid is True and run.responses.intact


def too_short(run: LoadGenRun) -> bool:
    """INVALID with no query above the bound: the run held too few queries for LoadGen's early stopping to judge.

    A lower rate cannot pass where this one did not (it brings no more queries): the search stops.
    """
    return run.valid is False and run.over_bound == 0 and not passes(run) and run.responses.intact


def search(run: Callable[[float], LoadGenRun], policy: SearchPolicy) -> list[LoadGenRun]:
    """Every run of the search for the highest passing Server rate.

    From the start, rates grow by `growth` until one fails (or fall until one passes), then the gap
    between the highest passing and lowest failing rates is halved (geometrically) until they are within
    `tolerance` of each other or `max_steps` runs are made. A run whose loop lost or doubled answers ends
    the search (its cell fails), and so does a failing run too short for LoadGen to judge (`too_short`), or
    a next rate below `min_qps`.
    """
    steps: list[LoadGenRun] = []
    passing = failing = None
    rate = policy.start_qps
    while len(steps) < policy.max_steps:
        result = run(rate)
        steps.append(result)
        if not result.responses.intact or (passing is None and too_short(result)):
            break
        if passes(result):
            passing = rate
        else:
            failing = rate
        if passing is None:
            rate = rate / policy.growth
            if rate < policy.min_qps:
                break
        elif failing is None:
            rate = rate * policy.growth
        elif failing / passing <= 1 + policy.tolerance:
            break
        else:
            rate = math.sqrt(passing * failing)
    return steps


def best_step(steps: list[LoadGenRun]) -> LoadGenRun | None:
    """The passing run at the highest rate, or None."""
    passing = [step for step in steps if passes(step)]
    return max(passing, key=lambda step: step.target_qps) if passing else None


def within_bound(steps: list[LoadGenRun], bound_ms: float) -> LoadGenRun | None:
    """The highest-rate run whose p99 kept the bound though LoadGen did not call it VALID (too short for early stopping)."""
    kept = [s for s in steps if s.responses.intact and s.latency_ms is not None and s.latency_ms.p99 <= bound_ms]
    return max(kept, key=lambda step: step.target_qps) if kept else None


def offline_runs(run: Callable[[float], LoadGenRun], expected_qps: float) -> list[LoadGenRun]:
    """Offline runs until one lasts LoadGen's minimum duration: a query sized for too low a rate ends early."""
    runs: list[LoadGenRun] = []
    while len(runs) < OFFLINE_RESIZES:
        result = run(expected_qps)
        runs.append(result)
        short = any(reason.startswith(MIN_DURATION_REASON) for reason in result.reasons)
        if not short or not result.responses.intact or not result.samples_per_s:
            break
        expected_qps = max(expected_qps, result.samples_per_s) * OFFLINE_MARGIN
    return runs


def sweep(run: Callable[[float], LoadGenRun], anchor_qps: float, fractions: list[float]) -> list[LoadGenRun]:
    """One Server run per fraction of the anchor rate, in rising order; a loop that loses answers ends it."""
    points: list[LoadGenRun] = []
    for fraction in sorted(fractions):
        points.append(run(anchor_qps * fraction))
        if not points[-1].responses.intact:
            break
    return points
