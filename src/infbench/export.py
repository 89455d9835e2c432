"""Exporting the trained model to ONNX and checking the export against PyTorch."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from infbench.artifacts import atomic_path
from infbench.errors import ArtifactError, BenchError, first_line
from infbench.parity import Tolerance, compare

log = logging.getLogger("infbench")
INPUT_NAME, OUTPUT_NAME = "input", "logits"


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
        "exporter": exporter,
        "opset": written_opset,
        "dtype": "float16" if half else "float32",
        "nodes": len(proto.graph.node),
        "inputs": [INPUT_NAME],
        "outputs": [OUTPUT_NAME],
    }


def check_with_onnxruntime(onnx_path: str, eval_set: dict[str, np.ndarray], tolerance: Tolerance, threads: int) -> dict:
    """Run the ONNX model with ONNX Runtime's CPU provider and compare it with the PyTorch reference."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ArtifactError(f"{onnx_path}: ONNX Runtime cannot load it ({first_line(exc)})") from exc
    outputs = session.run([OUTPUT_NAME], {INPUT_NAME: eval_set["images"]})[0]
    result = compare(outputs, eval_set["reference"], eval_set["labels"], tolerance)
    result["onnxruntime"] = ort.__version__
    if not result["passed"]:
        raise BenchError(
            f"{onnx_path}: ONNX Runtime's outputs differ from PyTorch's on {len(outputs)} held-out images: "
            + "; ".join(result["failures"])
        )
    return result
