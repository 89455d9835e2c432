"""The held-out images every backend runs, and the PyTorch fp32 CPU outputs they are compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from infbench.artifacts import atomic_path
from infbench.errors import ArtifactError

EVAL_KEYS = ("images", "labels", "reference")


def build_eval_set(manifest: dict, card: dict, weights: str, n_images: int, threads: int) -> dict[str, np.ndarray]:
    import torch

    from infbench.data import load_images
    from infbench.models import load_trained

    torch.set_num_threads(threads)
    val = manifest["val"][:n_images]
    images = load_images([p for p, _ in val], card["image_size"])
    labels = np.array([manifest["classes"].index(c) for _, c in val], dtype=np.int64)
    model = load_trained(weights, card["architecture"], card["num_classes"])
    with torch.inference_mode():
        reference = np.concatenate([model(torch.from_numpy(images[i : i + 16])).numpy() for i in range(0, len(images), 16)])
    return {"images": images, "labels": labels, "reference": reference.astype(np.float32)}


def save_eval_set(path: str | Path, eval_set: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **eval_set)


def load_eval_set(path: str | Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            eval_set = {k: data[k] for k in EVAL_KEYS}
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"{path}: not a readable evaluation set ({exc})") from exc
    return eval_set
