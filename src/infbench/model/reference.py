"""The held-out images every backend runs, and the reference outputs they are compared with.

The reference is PyTorch's fp32 CPU output; for a model given as an ONNX file, ONNX Runtime's fp32
CPU output of that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from infbench.artifacts import atomic_path
from infbench.errors import ArtifactError

if TYPE_CHECKING:
    from infbench.model.subsets import Coverage

EVAL_KEYS = ("images", "labels", "reference")
# Absent from evaluation sets written before them.
RANGE_KEYS = ("largest_value", "largest_value_at")
REFERENCE_BY = "reference_by"
PYTORCH_REFERENCE = "PyTorch fp32 CPU"
ONNX_FILE_REFERENCE = "ONNX Runtime fp32 CPU (of the given ONNX file)"
FP16_MAX = 65504.0  # float16's largest finite value


def largest_tensor_value(model) -> tuple[float, str]:
    """The largest |value| in `model`'s weights and buffers (BatchNorm's running variance among them), and where."""
    largest, where = 0.0, ""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and tensor.numel():
            value = float(tensor.abs().max())
            if value > largest:
                largest, where = value, name
    return largest, where


def outputs_and_largest_activation(model, batches) -> tuple[list[np.ndarray], float, str]:
    """`model`'s outputs for `batches`, the largest |output| of any of its layers, and that layer's name."""
    import torch

    largest = {"value": 0.0, "layer": ""}

    def record(name):
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor) and output.numel():
                value = float(output.detach().abs().max())
                if value > largest["value"]:
                    largest.update(value=value, layer=name)

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if n and not list(m.children())]
    try:
        with torch.inference_mode():
            outputs = [model(batch).numpy() for batch in batches]
    finally:
        for handle in handles:
            handle.remove()
    return outputs, largest["value"], largest["layer"]


def largest_value(model, batches) -> tuple[list[np.ndarray], float, str]:
    """`model`'s outputs for `batches`, and the largest |value| it holds or computes, with where.

    A model with a value beyond fp16's range cannot run in fp16 as it is: `model.half()` turns such a
    weight or buffer into infinity (a BatchNorm running variance of 1.7e5 makes that layer's output
    its bias alone), and such an output saturates. That is a fact of the model, not of the backend.
    """
    outputs, activation, layer = outputs_and_largest_activation(model, batches)
    tensor, name = largest_tensor_value(model)
    if tensor >= activation:
        return outputs, tensor, name
    return outputs, activation, f"output of {layer}"


def fp16_range_note(eval_set: dict) -> str | None:
    """Why an fp16 mismatch may be the model's: a value of the fp32 model beyond fp16's range, or None."""
    value = float(eval_set.get("largest_value", 0.0))
    if value <= FP16_MAX:
        return None
    return f"the fp32 model holds {value:.3g} ({eval_set['largest_value_at']}), beyond fp16's largest finite value {FP16_MAX:g}"


def parity_images(manifest: dict, n_images: int) -> tuple[list, Coverage]:
    """The held-out images every backend is judged on (`parity.images` of them, drawn by infbench.model.data.draw), and their
    class coverage."""
    from infbench.model.subsets import draw

    return draw(manifest, "val", n_images, "held-out images", "parity.images")


def held_out(manifest: dict, image_size: int, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """The parity set's images, preprocessed, and their labels."""
    from infbench.model.data import load_images

    val, _ = parity_images(manifest, n_images)
    images = load_images([p for p, _ in val], image_size)
    return images, np.array([manifest["classes"].index(c) for _, c in val], dtype=np.int64)


def build_eval_set(manifest: dict, card: dict, weights: str, n_images: int, threads: int) -> dict[str, np.ndarray]:
    import torch

    from infbench.model.models import load_trained

    torch.set_num_threads(threads)
    images, labels = held_out(manifest, card["image_size"], n_images)
    model = load_trained(weights, card["architecture"], card["num_classes"], card["image_size"])
    batches = (torch.from_numpy(images[i : i + 16]) for i in range(0, len(images), 16))
    outputs, value, where = largest_value(model, batches)
    return {
        "images": images, "labels": labels, "reference": np.concatenate(outputs).astype(np.float32),
        "largest_value": np.float32(value), "largest_value_at": np.str_(where), REFERENCE_BY: np.str_(PYTORCH_REFERENCE),
    }


def build_eval_set_from_onnx(manifest: dict, card: dict, onnx_path: str, n_images: int, threads: int,
                             fixed_batch: int | None) -> dict[str, np.ndarray]:
    """The evaluation set of a model given as an ONNX file: ONNX Runtime's fp32 CPU outputs are the reference."""
    from infbench.model.onnx_file import cpu_session, largest_initializer, scores

    images, labels = held_out(manifest, card["image_size"], n_images)
    reference = scores(cpu_session(onnx_path, threads), images, fixed_batch or 16)
    value, where = largest_initializer(onnx_path)
    return {
        "images": images, "labels": labels, "reference": reference,
        "largest_value": np.float32(value), "largest_value_at": np.str_(where), REFERENCE_BY: np.str_(ONNX_FILE_REFERENCE),
    }


def reference_by(eval_set: dict) -> str:
    """What computed the evaluation set's reference outputs."""
    return str(eval_set.get(REFERENCE_BY, PYTORCH_REFERENCE))


def save_eval_set(path: str | Path, eval_set: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **eval_set)


def load_eval_set(path: str | Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            eval_set = {k: data[k] for k in EVAL_KEYS}
            eval_set |= {k: data[k][()] for k in (*RANGE_KEYS, REFERENCE_BY) if k in data}
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"{path}: not a readable evaluation set ({exc})") from exc
    return eval_set
