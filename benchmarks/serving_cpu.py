"""The CPU target under load: OpenVINO's Server rate at its bound against the rate one request at a time allows.

Runs the workflow (the default configuration's model, resnet50 at 224x224) with serving turned on in a
folder of its own, then reads the scenario records: the Server cell's samples/s at the bound over
1 / the batch-1 cell's latency (the target is 1.5x), and, where it falls short, why: the most samples
per second OpenVINO served in any run (the Offline cell, or a Server run past the knee) over the same
rate is the most any arrival rate could reach on this machine.

    python benchmarks/serving_cpu.py --workdir /tmp/serving-cpu --bound-ms 500 \
        --out docs/results/cpu-2core/checks/serving_cpu
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from infbench.results.serving_records import read_serving_record

REPO = Path(__file__).resolve().parents[1]

TARGET = 1.5


def write_config(workdir: Path, args) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text()) or {}
    config["serving"] = {
        "scenarios": args.scenarios, "backends": args.backends, "variants": {"openvino": ["latency"]},
        "server": {"latency_bound_ms": {"cpu": args.bound_ms, "cuda": 15}},
    }
    config.setdefault("benchmark", {})["backends"] = args.backends  # the served ones alone: a shorter job
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return config


def verdict(results: Path, machine: str, model: str) -> dict:
    """The Server cell against one request at a time, and the Offline cell's rate as the ceiling."""
    folder = results / "serving" / machine / model / "openvino" / "latency" / "fp32"
    server = read_serving_record(folder / "Server.json")
    offline = read_serving_record(folder / "Offline.json") if (folder / "Offline.json").exists() else None
    one = server.timing_cell.one_at_a_time_qps
    out = {"one_at_a_time_qps": one, "batch1_mean_ms": server.timing_cell.mean_ms, "server_samples_per_s": server.value,
           "server_valid": server.valid, "server_reasons": server.reasons, "server_target_qps": server.run.target_qps if server.run else None,
           "bound_ms": server.settings["server"]["latency_bound_ms"], "loop": server.loop_label,
           "speedup": server.speedup_over_one_at_a_time, "steps": [
               {"target_qps": s.target_qps, "samples_per_s": s.samples_per_s, "p99_ms": s.latency_ms.p99 if s.latency_ms else None,
                "valid": s.valid} for s in server.steps]}
    sweep = read_serving_record(folder / "Sweep.json") if (folder / "Sweep.json").exists() else None
    served = [r.samples_per_s for r in (*server.steps, *(sweep.points if sweep else [])) if r.samples_per_s]
    if offline is not None and offline.value:
        out["offline_samples_per_s"] = offline.value
        served.append(offline.value)
    if served and one:
        out["most_served_samples_per_s"] = max(served)
        out["most_served_over_one_at_a_time"] = round(max(served) / one, 3)
    reached = (server.speedup_over_one_at_a_time or 0) >= TARGET
    out["target_met"] = reached
    if not reached:
        ceiling = out.get("most_served_over_one_at_a_time")
        out["why_not"] = (
            f"the most OpenVINO served in any run here (Offline, or Server past the knee) was {ceiling:.2f}x the rate one "
            "request at a time allows: no arrival rate can be served at 1.5x within any bound on this machine"
            if ceiling is not None and ceiling < TARGET else
            "the Server search found no VALID rate at 1.5x within the bound: " + "; ".join(server.reasons or ["see its steps"])
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--bound-ms", type=float, default=500.0, help="the Server p99 bound for CPU cells")
    parser.add_argument("--backends", nargs="+", default=["openvino", "onnxruntime_cpu"])
    parser.add_argument("--scenarios", nargs="+", default=["SingleStream", "MultiStream", "Server", "Offline", "Sweep"])
    parser.add_argument("--cores", default="2")
    parser.add_argument("--measure-again", action="store_true", help="in a folder that ran before: the batch-1 cells too")
    parser.add_argument("--no-run", action="store_true", help="read the folder's records as they are")
    parser.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if not args.no_run:
        run_workflow(args)
    wall = time.perf_counter() - start
    result = verdict(args.workdir / "results", "local", "resnet50") | {"workflow_wall_s": round(wall, 1), "bound_ms_cpu": args.bound_ms}
    table = (args.workdir / "results" / "table.md").read_text()
    section = "## Under load" + table.split("## Under load", 1)[1].split("\n## ", 1)[0]
    text = json.dumps(result, indent=2)
    print(section)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(text + "\n")
        args.out.with_suffix(".md").write_text(section + "\n")
    return 0


def run_workflow(args) -> None:
    write_config(args.workdir, args)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(args.workdir), "--cores", args.cores,
           "results/table.md"]
    if args.measure_again:  # the batch-1 cells again, and the scenario cells after them: measured under the same load
        cmd += ["--forcerun", *(f"time_{backend}" for backend in args.backends)]
    subprocess.run(cmd, check=True)


if __name__ == "__main__":
    sys.exit(main())
