"""How much the timing harness adds to a backend call: harness mean vs a bare loop, side by side.

The bare loop reads the clock once before and once after N calls; the harness reads it around
every call and stores each sample. Rounds alternate the two (bare, harness, bare, ...) so that
drift of the machine affects both alike.

    python benchmarks/harness_overhead.py --results results --backend onnxruntime_cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from infbench.artifacts import read_json
from infbench.measuring.backends import implementation
from infbench.measuring.backends.base import CellRequest
from infbench.measuring.harness import WarmupPolicy, bare_loop_mean_ms, summarize, time_steps, warm_up
from infbench.model.reference import load_eval_set
from infbench.planning.catalog import BACKENDS
from infbench.planning.envinfo import host, usable_cpus
from infbench.planning.layout import ModelFiles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"), help="a finished workflow's results folder")
    parser.add_argument("--backend", default="onnxruntime_cpu", choices=["onnxruntime_cpu", "pytorch_cpu", "pytorch_cuda", "onnxruntime_cuda"])
    parser.add_argument("--iterations", type=int, default=50, help="calls per round and method")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=usable_cpus())
    parser.add_argument("--model", help="the model of the results folder (default: its only one)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    files = ModelFiles.only(args.results, args.model)
    card = read_json(files.card)
    eval_set = load_eval_set(files.eval_set)
    request = CellRequest(
        BACKENDS[args.backend], "fp32", 1, {"pth": str(files.weights), "onnx": str(files.onnx)},
        card["architecture"], card["num_classes"], card["image_size"], threads=args.threads,
    )
    loaded = implementation(args.backend).load(request)
    batch = eval_set["images"][:1].astype(loaded.input_dtype)

    def step():
        return loaded.infer(batch)

    warm_up(step, WarmupPolicy(mode="adaptive", iterations=10, max_iterations=200))
    bare, harness = [], []
    for _ in range(args.rounds):
        bare.append(bare_loop_mean_ms(step, args.iterations))
        harness.append(summarize(time_steps(step, args.iterations).host_ms).mean)
    ratios = [h / b for h, b in zip(harness, bare)]
    # What the harness itself costs per call, free of the backend's noise: both loops on an empty step.
    empty_n = 200_000
    empty_bare_us = bare_loop_mean_ms(lambda: None, empty_n) * 1000
    empty_harness_us = statistics.mean(time_steps(lambda: None, empty_n).host_ms) * 1000
    result = {
        "backend": args.backend,
        "model": f"{card['architecture']} {card['image_size']}x{card['image_size']}, batch 1, fp32",
        "threads": args.threads,
        "iterations_per_round": args.iterations,
        "rounds": args.rounds,
        "bare_loop_mean_ms": bare,
        "harness_mean_ms": harness,
        "overhead_percent_median": (statistics.median(ratios) - 1) * 100,
        "overhead_percent_of_means": (statistics.mean(harness) / statistics.mean(bare) - 1) * 100,
        "empty_step_bare_us": empty_bare_us,
        "empty_step_harness_us": empty_harness_us,
        "harness_cost_per_call_us": empty_harness_us - empty_bare_us,
        "harness_cost_percent_of_mean": (empty_harness_us - empty_bare_us) / 1000 / statistics.mean(bare) * 100,
        "machine": host(),
    }
    print(f"{result['model']} on {args.backend}, {args.threads} threads, {args.rounds} rounds x {args.iterations} calls")
    print("| round | bare loop mean (ms) | harness mean (ms) | harness / bare |")
    print("|---|---|---|---|")
    for i, (b, h) in enumerate(zip(bare, harness), 1):
        print(f"| {i} | {b:.3f} | {h:.3f} | {h / b:.4f} |")
    print(f"| all | {statistics.mean(bare):.3f} | {statistics.mean(harness):.3f} | {statistics.mean(harness) / statistics.mean(bare):.4f} |")
    print(f"harness overhead: {result['overhead_percent_median']:+.2f}% (median of per-round ratios), "
          f"{result['overhead_percent_of_means']:+.2f}% (ratio of means)")
    print(f"empty step: bare loop {empty_bare_us:.3f} us per call, harness {empty_harness_us:.3f} us per call; "
          f"the harness costs {result['harness_cost_per_call_us']:.3f} us per call = "
          f"{result['harness_cost_percent_of_mean']:.5f}% of this backend's mean")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
