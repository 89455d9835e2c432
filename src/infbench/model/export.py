"""Exporting the trained model to ONNX and checking the export against PyTorch."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from infbench.artifacts import atomic_path
from infbench.errors import ArtifactError, BenchError, first_line
from infbench.model.parity import Tolerance, compare

log = logging.getLogger("infbench")
INPUT_NAME, OUTPUT_NAME = "input", "logits"
# onnx_model.json's status: exported, the export failed, or a file given as it is (models[].onnx)
EXPORTED, FAILED, PROVIDED = "exported", "failed", "provided"


def failed_export(exporter: str, exc: BaseException) -> dict:
    """onnx_model.json where the exporter could not take the model: its ONNX cells are skipped with this reason.

    The .onnx file beside it is then empty (Snakemake needs the output to exist)."""
    return {"status": FAILED, "exporter": exporter, "reason": f"the {exporter} exporter failed: {type(exc).__name__}: {first_line(exc)}"}


def export_failure(info: dict) -> str | None:
    """Why there is no ONNX model to run, or None (an info written before statuses existed is an export)."""
    return info.get("reason", "the ONNX export failed") if info.get("status") == FAILED else None


def export_onnx(model, image_size: int, out_path: str | Path, opset: int, exporter: str, half: bool) -> dict:
    """Write the model as ONNX with a dynamic batch axis, validated by onnx.checker."""
    import onnx
    import torch

    model = model.eval()
    example = torch.randn(2, 3, image_size, image_size)  # shape only: export traces, it computes nothing we keep
    if half:
        model, example = model.half(), example.half()
    with atomic_path(out_path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the torchscript exporter is deprecated but works
        tmp_onnx = tmp.with_suffix(".onnx")
        try:
            if exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1, max=4096)
                torch.onnx.export(
                    model, (example,), tmp_onnx, dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},), external_data=False,
                )
            else:
                torch.onnx.export(
                    model, (example,), tmp_onnx, dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                )
            onnx.checker.check_model(str(tmp_onnx), full_check=True)
            proto = onnx.load(str(tmp_onnx))
            written_opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
            if written_opset != opset:
                raise BenchError(f"export.opset: the {exporter} exporter wrote opset {written_opset}, not {opset}")
            tmp_onnx.replace(tmp)
        finally:
            tmp_onnx.unlink(missing_ok=True)
    return {
        "status": EXPORTED,
        "exporter": exporter,
        "opset": written_opset,
        "dtype": "float16" if half else "float32",
        "nodes": len(proto.graph.node),
        "inputs": [INPUT_NAME],
        "outputs": [OUTPUT_NAME],
    }


def _session(onnx_path: str, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ArtifactError(f"{onnx_path}: ONNX Runtime cannot load it ({first_line(exc)})") from exc


BATCH_CHECK_IMAGES = 16  # images run at each batch size the cells use (two batches where the batch is larger)


def check_with_onnxruntime(onnx_path: str, eval_set: dict[str, np.ndarray], tolerance: Tolerance, threads: int,
                           batch_sizes: tuple[int, ...] = (), fixed_batch: int | None = None) -> dict:
    """Run the ONNX model with ONNX Runtime's CPU provider and compare it with the PyTorch reference.

    All held-out images in one batch (in batches of `fixed_batch`, where the model fixes its batch
    size), then two batches (at least BATCH_CHECK_IMAGES images) of each size in `batch_sizes`: the
    batch axis is dynamic in every size the cells use (each ONNX cell then runs every held-out image at
    its own batch size). Outputs that differ fail the check; a batch size at which ONNX Runtime cannot
    run the model is recorded (its cells will say the same, with the library's own message), and so is
    one that a fixed batch size rules out (its cells are skipped with that reason).
    """
    import onnxruntime as ort

    from infbench.model.onnx_file import batch_ruled_out
    from infbench.model.parity import outputs_over

    session = _session(onnx_path, threads)

    def run(x):
        return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]

    outputs = run(eval_set["images"]) if fixed_batch is None else outputs_over(run, eval_set["images"], fixed_batch)
    result = compare(outputs, eval_set["reference"], eval_set["labels"], tolerance)
    result["onnxruntime"] = ort.__version__
    result["batch_sizes"], result["batch_size_images"] = {}, {}
    for batch in batch_sizes:
        if reason := batch_ruled_out(fixed_batch, batch, onnx_path):
            result["batch_sizes"][str(batch)] = f"not checked: {reason}"
            continue
        n = max(2 * batch, BATCH_CHECK_IMAGES)
        result["batch_size_images"][str(batch)] = min(n, len(eval_set["images"]))
        try:
            batched = outputs_over(run, eval_set["images"][:n], batch)
        except Exception as exc:
            result["batch_sizes"][str(batch)] = f"ONNX Runtime cannot run it: {type(exc).__name__}: {first_line(exc)}"
            continue
        check = compare(batched, eval_set["reference"][:n], eval_set["labels"][:n], tolerance)
        result["batch_sizes"][str(batch)] = "passed" if check["passed"] else "; ".join(check["failures"])
        if not check["passed"]:
            result["passed"] = False
            result["failures"] = result["failures"] + [f"at batch {batch}: " + "; ".join(check["failures"])]
    if not result["passed"]:
        raise BenchError(
            f"{onnx_path}: ONNX Runtime's outputs differ from PyTorch's on {len(outputs)} held-out images: "
            + "; ".join(result["failures"])
        )
    return result
