"""Each variant's harness number against a bare loop of the same configuration, built without this package.

For every cell asked for, two implementations run side by side in one process, in alternating rounds
(so that drift of the machine affects both alike):

- the harness: the workflow's backend (infbench.measuring.backends) loaded and prepared as a timing job does,
  and timed by infbench.measuring.harness one call at a time (device resident on a GPU, end to end on a CPU);
- a bare loop: the same runtime configured directly with its own API (torchvision + torch.compile,
  an ONNX Runtime session with IO binding, an OpenVINO compiled model), read by one clock at each end
  of N calls, with the same synchronisation per call as the harness (one request at a time).

    python benchmarks/variants_vs_bare_loop.py --results results --cells pytorch_cuda:compile_cudagraphs:fp16:1 ...
    python benchmarks/variants_vs_bare_loop.py --results results        # every measured cell at batch 1 and the largest batch

The ratio harness / bare is what the workflow's number costs or gains against the runtime itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from infbench.artifacts import read_json
from infbench.measuring.backends import implementation
from infbench.measuring.backends.base import CellRequest
from infbench.measuring.harness import WarmupPolicy, summarize, time_steps, warm_up
from infbench.model.reference import load_eval_set
from infbench.planning.catalog import BACKENDS
from infbench.planning.envinfo import host, usable_cpus
from infbench.planning.layout import ModelFiles


def harness_step(request: CellRequest, batch: np.ndarray):
    """What a timing job times: the backend's own load, prepare and call (device resident on a GPU)."""
    loaded = implementation(request.backend.name).load(request)
    batch = batch.astype(loaded.input_dtype)
    if loaded.prepare:
        loaded.prepare(batch)
    if loaded.resident is not None:
        loaded.resident.bind(batch)
        return loaded.resident.step, loaded.resident.sync
    step = loaded.make_step(batch) if loaded.make_step else (lambda: loaded.infer(batch))
    return step, None


def bare_pytorch(request: CellRequest, batch: np.ndarray):
    import torch
    import torchvision

    torch.set_num_threads(request.threads)
    device = request.backend.device
    model = torchvision.models.get_model(request.architecture, weights=None, num_classes=request.num_classes)
    model.load_state_dict(torch.load(request.artifacts["pth"], map_location="cpu", weights_only=True))
    model = model.eval().to(device)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[request.precision]
    options = request.options  # what the variant means, as the catalogue declares it
    fmt = torch.channels_last if options.channels_last else torch.contiguous_format
    if device == "cuda":
        torch.backends.cudnn.benchmark = options.cudnn_benchmark
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    cpu_bf16 = device == "cpu" and request.precision == "bf16"
    model = model.to(memory_format=fmt, dtype=torch.float32 if cpu_bf16 else dtype)
    if options.compile_mode:
        model = torch.compile(model, mode=None if options.compile_mode == "default" else options.compile_mode, dynamic=False)
    x = torch.from_numpy(batch).to(device).to(dtype=torch.float32 if cpu_bf16 else dtype, memory_format=fmt)

    # Inductor's CUDA graphs need no_grad: under inference_mode they return wrong outputs (PyTorch issue 135892).
    cudagraphs = device == "cuda" and options.cuda_graph
    grad_mode = torch.no_grad if cudagraphs else torch.inference_mode

    def step():
        with grad_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16):
            if cudagraphs:
                torch.compiler.cudagraph_mark_step_begin()  # the documented call before each inference step
            return model(x)

    for _ in range(3):  # compile, record
        step()
    return step, (torch.cuda.synchronize if device == "cuda" else None)


def bare_onnxruntime(request: CellRequest, batch: np.ndarray):
    import onnxruntime as ort
    import torch  # loads the CUDA libraries first

    options = ort.SessionOptions()
    options.intra_op_num_threads = request.threads
    if request.backend.device == "cpu":
        session = ort.InferenceSession(request.artifacts["onnx"], options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: batch}
        return (lambda: session.run(None, feed)), None
    variant = request.options
    stream = torch.cuda.Stream()  # as the harness: ONNX Runtime computes on a stream given to it
    cuda = {"cudnn_conv_algo_search": "EXHAUSTIVE", "use_tf32": 0, "prefer_nhwc": int(variant.nhwc),
            "enable_cuda_graph": int(variant.cuda_graph), "user_compute_stream": str(stream.cuda_stream)}
    path = request.artifacts["onnx_fp16" if request.precision == "fp16" else "onnx"]
    session = ort.InferenceSession(path, options, providers=[("CUDAExecutionProvider", cuda)])
    x = ort.OrtValue.ortvalue_from_numpy(batch.astype(np.float16 if request.precision == "fp16" else np.float32), "cuda", 0)
    y = ort.OrtValue.ortvalue_from_shape_and_type((len(batch), request.num_classes),
                                                   np.float16 if request.precision == "fp16" else np.float32, "cuda", 0)
    binding = session.io_binding()
    binding.bind_ortvalue_input(session.get_inputs()[0].name, x)
    binding.bind_ortvalue_output(session.get_outputs()[0].name, y)
    for _ in range(3):  # algorithm search, graph capture
        session.run_with_iobinding(binding)
    return (lambda: session.run_with_iobinding(binding)), stream.synchronize


def bare_openvino(request: CellRequest, batch: np.ndarray):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(request.artifacts["onnx"])
    model.reshape({0: list(batch.shape)})
    hint = request.options.performance_hint
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": hint, "INFERENCE_NUM_THREADS": request.threads,
                                                 "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}[request.precision]})
    if hint == "LATENCY":
        infer_request = compiled.create_infer_request()
        return (lambda: infer_request.infer({0: batch})), None
    n = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    queue = ov.AsyncInferQueue(compiled, n)

    def step():
        for _ in range(n):
            queue.start_async({0: batch})
        queue.wait_all()

    return step, None


BARE = {"infbench.measuring.backends.pytorch": bare_pytorch, "infbench.measuring.backends.onnxruntime": bare_onnxruntime,
        "infbench.measuring.backends.openvino": bare_openvino}


def bare_mean_ms(step, sync, n: int) -> float:
    """One clock read at each end of n calls; the same per-call synchronisation as the harness."""
    t0 = time.perf_counter_ns()
    for _ in range(n):
        step()
        if sync is not None:
            sync()
    return (time.perf_counter_ns() - t0) / 1e6 / n


def compare_cell(request: CellRequest, batch: np.ndarray, calls: int, rounds: int) -> dict:
    """Alternating rounds of `calls` calls (0: about half a second of calls a round)."""
    ours, ours_sync = harness_step(request, batch)
    bare, bare_sync = BARE[request.backend.module](request, batch)
    warm_up(ours, WarmupPolicy(mode="adaptive", iterations=10, max_time_s=30), ours_sync)
    warm_up(bare, WarmupPolicy(mode="adaptive", iterations=10, max_time_s=30), bare_sync)
    if not calls:
        # The median of single calls: one slow call (a late re-capture, a page fault) must not set the round's length.
        one_call = statistics.median(bare_mean_ms(bare, bare_sync, 1) for _ in range(9))
        calls = max(3, min(2000, int(500 / max(one_call, 1e-3))))
    harness, loop = [], []
    for _ in range(rounds):
        loop.append(bare_mean_ms(bare, bare_sync, calls))
        harness.append(summarize(time_steps(ours, calls, sync=ours_sync).host_ms).mean)
    ratios = [h / b for h, b in zip(harness, loop)]
    return {"calls_per_round": calls, "harness_mean_ms": harness, "bare_loop_mean_ms": loop, "median_ratio": statistics.median(ratios),
            "harness_ms": statistics.median(harness), "bare_ms": statistics.median(loop)}


def default_cells(summary: dict, model: str) -> list[tuple[str, str, str, int]]:
    """Every measured cell of a run's model at batch 1 and at its device's largest batch."""
    largest = {device: max(sizes) for device, sizes in summary["settings"]["batch_sizes"].items()}
    return [(c["backend"], c["variant"], c["precision"], c["batch_size"]) for c in summary["cells"]
            if c["status"] == "ok" and c["model"] == model and c["batch_size"] in (1, largest[c["device"]])
            and BACKENDS[c["backend"]].module in BARE]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"), help="a finished workflow's results folder")
    parser.add_argument("--cells", nargs="*", help="backend:variant:precision:batch (default: every measured cell at batch 1 and the largest batch)")
    parser.add_argument("--calls", type=int, default=0, help="calls per round (default: about 0.5 s of calls)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=usable_cpus())
    parser.add_argument("--model", help="the model of the results folder (default: its only one)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    files = ModelFiles.only(args.results, args.model)
    card = read_json(files.card)
    summary = read_json(args.results / "summary.json")
    eval_set = load_eval_set(files.eval_set)
    cells = [tuple(c.split(":")) for c in args.cells] if args.cells else default_cells(summary, files.model)
    artifacts = {"pth": str(files.weights), "onnx": str(files.onnx), "onnx_fp16": str(files.onnx_fp16)}
    results = []
    print("| cell | harness (ms) | bare loop (ms) | harness / bare, median of rounds |")
    print("|---|---|---|---|")
    for backend, variant, precision, batch in cells:
        batch = int(batch)
        request = CellRequest(BACKENDS[backend], precision, batch, artifacts, card["architecture"], card["num_classes"],
                              card["image_size"], threads=args.threads, variant=variant,
                              cache_dir=str(args.results / "cache" / "local"))
        images = eval_set["images"][np.arange(batch) % len(eval_set["images"])]
        result = {"cell": f"{backend}:{variant}:{precision}:{batch}"} | compare_cell(request, images, args.calls, args.rounds)
        results.append(result)
        print(f"| {result['cell']} | {result['harness_ms']:.3f} | {result['bare_ms']:.3f} | {result['median_ratio']:.3f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "threads": args.threads, "rounds": args.rounds,
                                         "machine": host()}, indent=2) + "\n")
    worst = max((abs(r["median_ratio"] - 1) for r in results), default=0)
    print(f"largest deviation from the bare loop: {worst:.1%} over {len(results)} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
