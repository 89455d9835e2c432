"""ONNX Runtime CPU latency: this harness against a bare loop and against Polygraphy, on the same model and input.

Four measurements of onnx_model.onnx at batch 1 on the workflow's first held-out image:
  1. this harness (the onnxruntime_cpu backend through time_steps),
  2. a bare loop over session.run with the same session options,
  3. Polygraphy's OnnxrtRunner (its own timer, time.time() around session.run) on a session with
     the same options,
  4. the Polygraphy CLI as a user would run it: `polygraphy run onnx_model.onnx --onnxrt ...`
     (its own session, ONNX Runtime's default thread count).

    python benchmarks/polygraphy_compare.py --results results --iterations 100
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from infbench.artifacts import read_json
from infbench.measuring.backends import onnxruntime as ort_backend
from infbench.measuring.backends.base import CellRequest
from infbench.measuring.harness import WarmupPolicy, bare_loop_mean_ms, summarize, time_steps, warm_up
from infbench.model.reference import load_eval_set
from infbench.planning.catalog import BACKENDS
from infbench.planning.envinfo import host, usable_cpus
from infbench.planning.layout import ModelFiles


def polygraphy_api(session, feed, iterations: int, warmup: int) -> list[float]:
    from polygraphy.backend.onnxrt import OnnxrtRunner

    times = []
    with OnnxrtRunner(session) as runner:
        for _ in range(warmup):
            runner.infer(feed)
        for _ in range(iterations):
            runner.infer(feed)
            times.append(runner.last_inference_time() * 1000)
    return times


def polygraphy_cli(onnx_path: Path, batch, iterations: int, warmup: int) -> tuple[list[float], str]:
    """Per-iteration times from `polygraphy run --onnxrt`, read back from the results it saves.

    With --load-inputs Polygraphy runs one iteration per loaded feed, so the input file holds the
    same image warmup + iterations times; the first `warmup` times are dropped.
    """
    from polygraphy.comparator import RunResults
    from polygraphy.json import save_json

    exe = shutil.which("polygraphy") or str(Path(sys.executable).parent / "polygraphy")
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = Path(tmp) / "inputs.json", Path(tmp) / "outputs.json"
        save_json([{"input": batch}] * (warmup + iterations), str(inputs))
        cmd = [exe, "run", str(onnx_path), "--onnxrt", "--providers", "cpu", "--load-inputs", str(inputs),
               "--save-outputs", str(outputs)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"polygraphy failed: {(run.stdout + run.stderr)[-500:]}")
        results = RunResults.load(str(outputs))
    (_, iteration_results), = results.items()
    times = [r.runtime * 1000 for r in iteration_results][warmup:]
    return times, " ".join(cmd[1:4] + ["--providers cpu --load-inputs inputs.json --save-outputs outputs.json"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--iterations", type=int, default=50, help="calls per round and method")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=usable_cpus())
    parser.add_argument("--model", help="the model of the results folder (default: its only one)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    files = ModelFiles.only(args.results, args.model)
    card = read_json(files.card)
    onnx_path = files.onnx
    batch = load_eval_set(files.eval_set)["images"][:1]
    request = CellRequest(BACKENDS["onnxruntime_cpu"], "fp32", 1, {"onnx": str(onnx_path)}, card["architecture"],
                          card["num_classes"], card["image_size"], threads=args.threads)
    loaded = ort_backend.RUNTIME.load(request)

    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), ort_backend._session_options(ort, args.threads), providers=["CPUExecutionProvider"])
    feed = {"input": batch}

    # In-process methods alternate over rounds, so that drift of the machine reaches all of them alike.
    step = lambda: loaded.infer(batch)  # noqa: E731
    bare = lambda: session.run(None, feed)  # noqa: E731
    warm_up(step, WarmupPolicy(mode="fixed", iterations=args.warmup))
    warm_up(bare, WarmupPolicy(mode="fixed", iterations=args.warmup))
    samples = {"this harness": [], "Polygraphy OnnxrtRunner, same session options": []}
    bare_means = []
    for _ in range(args.rounds):
        samples["this harness"] += time_steps(step, args.iterations).host_ms
        bare_means.append(bare_loop_mean_ms(bare, args.iterations))
        samples["Polygraphy OnnxrtRunner, same session options"] += polygraphy_api(session, feed, args.iterations, 0)
    results = {name: summarize(times).as_dict() for name, times in samples.items()}
    results["bare loop"] = {"mean": statistics.mean(bare_means)}
    cli_times, cli_command = polygraphy_cli(onnx_path, batch, args.iterations * args.rounds, args.warmup)
    results["polygraphy run --onnxrt (its own session, default threads)"] = summarize(cli_times).as_dict()
    base = results["bare loop"]["mean"]
    print(f"{card['architecture']} {card['image_size']}x{card['image_size']}, batch 1, ONNX Runtime CPU, {args.rounds} rounds "
          f"of {args.iterations} calls per method after {args.warmup} warm-up calls, {args.threads} threads")
    print("| measurement | mean (ms) | p50 (ms) | vs bare loop |")
    print("|---|---|---|---|")
    for name, r in results.items():
        mean = r["mean"]
        p50 = f"{r['p50']:.3f}" if "p50" in r else ""
        print(f"| {name} | {mean:.3f} | {p50} | {(mean / base - 1) * 100:+.2f}% |")
    print(f"Polygraphy CLI: polygraphy {cli_command}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "threads": args.threads, "machine": host(),
                                          "iterations": args.iterations, "rounds": args.rounds, "warmup": args.warmup}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
