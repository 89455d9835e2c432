"""What LoadGen and the serving harness add to what they measure: a runtime that sleeps, and one that answers at once.

- SingleStream through the workflow's harness (LoadGen, the ledger, a batching loop) with a "runtime"
  that sleeps a known length (its last half millisecond spun, so that the length is exact): LoadGen's
  p90 against that length, and against the sleeps as the runtime itself timed them.
- Offline with a runtime that answers at once: the samples per second LoadGen reaches through the
  harness, and with a bare SUT that answers every sample inside issue_queries (LoadGen's own ceiling
  from Python).

    python benchmarks/loadgen_overhead.py --out docs/results/cpu-2core/checks/loadgen_overhead
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import mlperf_loadgen as lg
import numpy as np

from infbench.measuring.serving.loadgen import DETAIL, LoadGenHarness, RunRequest, read_detail
from infbench.measuring.serving.loops import BatchingLoop, BatchModels, InlineLoop
from infbench.planning.catalog import BACKENDS
from infbench.planning.envinfo import host
from infbench.planning.variants import BatchingQueue
from infbench.planning.versions import installed_version

SAMPLES = 256
CLASSES = 1000  # ResNet50's output: each answer carries 4 kB, as a real one would


SPIN_S = 0.0005  # the last half millisecond of a sleep is spun: time.sleep alone overshoots by 1 to 4% at 5 to 10 ms


def sleeping_model(length_s: float, slept: list[float]):
    def infer(batch: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        end = start + length_s
        time.sleep(max(0.0, length_s - SPIN_S))
        while time.perf_counter() < end:
            pass
        slept.append(time.perf_counter() - start)
        return np.zeros((len(batch), CLASSES), np.float32)

    return infer


# SingleStream's loops: a CPU runtime's (in LoadGen's thread) and a GPU runtime's (a worker thread of its own).
SINGLE_STREAM_LOOPS = {"LoadGen's thread (CPU)": BACKENDS["openvino"].single_stream_serving,
                       "a worker thread (GPU)": BACKENDS["pytorch_cuda"].single_stream_serving}


def harness_for(infer, spec: BatchingQueue) -> LoadGenHarness:
    images = np.zeros((SAMPLES, 1), np.float32)
    models = BatchModels({0: infer}, (), spec.max_batch)

    def loop(ledger):
        return InlineLoop(models, images, ledger) if spec.workers == 0 else BatchingLoop(spec, models, images, ledger, 1)

    return LoadGenHarness(loop, SAMPLES, stall_timeout_s=60)


def single_stream(length_ms: float, where: str, duration_s: float, queries: int, folder: Path) -> dict:
    slept: list[float] = []
    harness = harness_for(sleeping_model(length_ms / 1000, slept), SINGLE_STREAM_LOOPS[where])
    try:
        run = harness.run(RunRequest("SingleStream", duration_s, 10 * duration_s + 60, queries, expected_latency_ms=length_ms / 2),
                          folder / f"single_stream_{length_ms:g}ms_{len(slept)}", "run")
    finally:
        harness.close()
    own_p90 = float(np.percentile(np.array(slept) * 1000, 90))
    p90 = run.latency_ms.p90
    return {"sleep_ms": length_ms, "served_in": where, "queries": run.queries, "valid": run.valid, "loadgen_p50_ms": run.latency_ms.p50,
            "loadgen_p90_ms": p90, "runtime_own_p90_ms": round(own_p90, 4), "p90_over_length": round(p90 / length_ms - 1, 5),
            "p90_over_runtime_own": round(p90 / own_p90 - 1, 5)}


def _bare_test(issue, settings, out: Path) -> dict:
    """One LoadGen test of a bare SUT (no ledger, no loop): LoadGen's own floor from Python."""
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(SAMPLES, SAMPLES, lambda s: None, lambda s: None)
    out.mkdir(parents=True, exist_ok=True)
    log = lg.LogSettings()
    log.log_output.outdir = str(out)
    log.enable_trace = False
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log, "")
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    return read_detail(out / DETAIL)[0]


def single_stream_bare(length_ms: float, duration_s: float, queries: int, folder: Path) -> dict:
    """A SUT that sleeps and answers inside issue_queries."""
    slept: list[float] = []
    sleep = sleeping_model(length_ms / 1000, slept)
    answer = np.zeros(CLASSES, np.float32)

    def issue(samples):
        for sample in samples:
            sleep(answer[None])
            lg.QuerySamplesComplete([lg.QuerySampleResponse(sample.id, answer.ctypes.data, answer.nbytes)])

    request = RunRequest("SingleStream", duration_s, 10 * duration_s + 60, queries, expected_latency_ms=length_ms / 2)
    values = _bare_test(issue, request.settings(), folder / f"bare_{length_ms:g}ms")
    p90, own = values["result_90.00_percentile_latency_ns"] / 1e6, float(np.percentile(np.array(slept) * 1000, 90))
    return {"sleep_ms": length_ms, "served_in": "bare SUT, inside issue_queries", "queries": values["result_query_count"],
            "valid": values["result_validity"] == "VALID", "loadgen_p50_ms": values["result_50.00_percentile_latency_ns"] / 1e6,
            "loadgen_p90_ms": p90, "runtime_own_p90_ms": round(own, 4), "p90_over_length": round(p90 / length_ms - 1, 5),
            "p90_over_runtime_own": round(p90 / own - 1, 5)}


def offline_through_harness(expected_qps: float, duration_s: float, folder: Path) -> dict:
    answer = np.zeros((4096, CLASSES), np.float32)
    harness = harness_for(lambda batch: answer[: len(batch)], BatchingQueue(workers=1, max_batch=4096))
    try:
        run = harness.run(RunRequest("Offline", duration_s, 10 * duration_s + 60, 1, expected_qps=expected_qps),
                          folder / "offline_harness", "run")
    finally:
        harness.close()
    return {"sut": "the workflow's harness: ledger and batching loop (batches of up to 4096)", "valid": run.valid,
            "samples": run.responses.issued, "samples_per_s": run.samples_per_s, "reasons": run.reasons}


def offline_bare(expected_qps: float, duration_s: float, folder: Path) -> dict:
    """A SUT that answers each query's samples inside issue_queries, with one shared buffer."""
    answer = np.zeros(CLASSES, np.float32)

    def issue(samples):
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, answer.ctypes.data, answer.nbytes) for s in samples])

    settings = RunRequest("Offline", duration_s, 10 * duration_s + 60, 1, expected_qps=expected_qps).settings()
    values = _bare_test(issue, settings, folder / "offline_bare")
    return {"sut": "bare: answers inside issue_queries", "valid": values.get("result_validity") == "VALID",
            "samples_per_s": values.get("result_samples_per_second")}


def markdown(result: dict) -> str:
    lines = [f"LoadGen {result['loadgen']} on {result['host']['cpu']} ({result['host']['usable_cpus']} CPUs), shared with other "
             "work while it ran", "", "SingleStream, a runtime that sleeps a known length (p90 within 2% is the target):", "",
             "| sleep (ms) | served in | queries | LoadGen p50 (ms) | LoadGen p90 (ms) | the runtime's own p90 (ms) | "
             "p90 vs the length | p90 vs the runtime's own | VALID |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["single_stream"]:
        lines.append(f"| {r['sleep_ms']:g} | {r['served_in']} | {r['queries']} | {r['loadgen_p50_ms']:.3f} | {r['loadgen_p90_ms']:.3f} | "
                     f"{r['runtime_own_p90_ms']:.3f} | {r['p90_over_length']:+.2%} | {r['p90_over_runtime_own']:+.2%} | {r['valid']} |")
    lines += ["", "Offline, a runtime that answers at once (50,000 samples/s is the target):", "",
              "| SUT | samples/s | VALID |", "|---|---|---|"]
    lines += [f"| {r['sut']} | {r['samples_per_s']:,.0f} | {r['valid']}{' (' + '; '.join(r['reasons']) + ')' if r.get('reasons') else ''} |"
              for r in result["offline"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sleeps-ms", type=float, nargs="+", default=[5.0, 10.0, 30.0])
    parser.add_argument("--duration-s", type=float, default=5.0, help="LoadGen's min_duration of each run")
    parser.add_argument("--queries", type=int, default=200, help="SingleStream's min_query_count")
    parser.add_argument("--offline-qps", type=float, default=500_000,
                        help="the rate the Offline query is sized for (sized too high, a run lasts longer than its minimum)")
    parser.add_argument("--offline-duration-s", type=float, default=2.0, help="Offline's min_duration")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result = {
            "loadgen": installed_version("loadgen"),
            "host": host(),
            "single_stream": [row for ms in args.sleeps_ms for row in (
                *(single_stream(ms, where, args.duration_s, args.queries, folder) for where in SINGLE_STREAM_LOOPS),
                single_stream_bare(ms, args.duration_s, args.queries, folder))],
            "offline": [offline_through_harness(args.offline_qps, args.offline_duration_s, folder),
                        offline_bare(args.offline_qps, args.offline_duration_s, folder)],
        }
    text = markdown(result)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
