"""ONNX Runtime's transformer optimizer as a step: the exported model with its transformer layers fused.

ONNX Runtime's users run a transformer through `onnxruntime.transformers.optimizer.optimize_model`,
which rewrites attention, LayerNorm (with its residual add: SkipLayerNormalization) and GELU into
ONNX Runtime's fused operators, and converts the fused model to fp16 itself. It is a step of its own
(rule optimize_transformer), once per model and precision, shared by every cell that runs it, as a
quantization is; its record says which operators it fused, and where it fused none the cells are
skipped with that reason. Which architectures it applies to is decided by name, without imports.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from infbench.artifacts import atomic_path

RECORD = "optimization.json"
MODEL_FILE = "model.onnx"
PRECISIONS = ("fp32", "fp16")
# The optimizer's model type of each transformer family it applies to (timm's names after "timm/").
MODEL_TYPES = ((re.compile(r"^vit_"), "vit"), (re.compile(r"^timm/(vit|deit|deit3)_"), "vit"))
APPLIES_TO = "vision transformers (torchvision's vit_*, timm's vit_* and deit*)"


def model_type(architecture: str | None) -> str | None:
    """The optimizer's model type for an architecture, or None where it is no transformer the optimizer knows."""
    for pattern, kind in MODEL_TYPES:
        if architecture and pattern.match(architecture):
            return kind
    return None


def not_applicable(architecture: str | None) -> str:
    return f"ONNX Runtime's transformer optimizer applies to {APPLIES_TO}; {architecture or 'a model given as an ONNX file'} is not one"


def optimize(onnx_path: str, folder: Path, architecture: str, precision: str) -> dict:
    """Fuse the model's transformer layers (fp16: then convert it, inputs and outputs included); write the model, return its record."""
    from onnxruntime.transformers.optimizer import optimize_model

    start = time.perf_counter()
    # opt_level 0: the optimizer's own fusions only; each cell's session applies ONNX Runtime's
    # graph optimizations for its provider at load. Heads and width are found in the graph.
    model = optimize_model(onnx_path, model_type=model_type(architecture), num_heads=0, hidden_size=0, opt_level=0, use_gpu=False)
    fused = {name: count for name, count in model.get_fused_operator_statistics().items() if count}
    if precision == "fp16":
        model.convert_float_to_float16(keep_io_types=False)
    if not fused:
        return {"status": "skipped", "reason": f"ONNX Runtime's transformer optimizer fused no operator of {architecture}"}
    with atomic_path(folder / MODEL_FILE) as tmp:
        model.save_model_to_file(str(tmp))
    return {
        "status": "optimized", "model_file": MODEL_FILE, "model_type": model_type(architecture), "fused_operators": fused,
        "precision": precision, "optimize_s": round(time.perf_counter() - start, 3),
        "fp16_method": "the optimizer's convert_float_to_float16 of the fused fp32 model" if precision == "fp16" else None,
    }
