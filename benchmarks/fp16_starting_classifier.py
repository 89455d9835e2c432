"""Why every fp16 GPU cell of the first H200 run was a mismatch, reproduced on the CPU at a small image size.

All-layer training (the GPU default: 20 epochs, SGD, batch 64, learning rate 0.02) twice, on the same
data and seed:
  - "fitted": the classifier starts from the one fitted on the frozen backbone's features (what the
    first H200 run did),
  - "fresh": the classifier starts from PyTorch's own initialisation (what training does today).
For each model: held-out accuracy, the largest logit, the largest value the model holds or computes
(infbench.model.reference.largest_value: weights, buffers and layer outputs), and its fp16 run
(`model.half()`, fp16 arithmetic on the CPU) against its fp32 run with the default fp16 tolerances.

    python benchmarks/fp16_starting_classifier.py [--size 32] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from infbench.model import training
from infbench.model.data import load_images, write_digits
from infbench.model.models import build_model
from infbench.model.parity import Tolerance, compare
from infbench.model.reference import FP16_MAX, largest_value
from infbench.model.subsets import subset
from infbench.planning.config import validate_config

REPO = Path(__file__).resolve().parents[1]

# The shipped defaults, as the workflow reads them from its schema.
FP16 = Tolerance(**validate_config({}, REPO / "workflow" / "schemas" / "config.schema.yaml")["parity"]["tolerances"]["fp16"])


class _KeepClassifier:
    """Stands in for the classifier in `_train_all`'s reset: the fitted classifier is kept."""

    def reset_parameters(self) -> None:
        pass


def _train(manifest: dict, size: int, start: str) -> torch.nn.Module:
    settings = training.TrainSettings("resnet50", size, "all", 32, None, "cpu", 0, 2,
                                      training.HeadSettings(400, 100, 0.01, 0.1), training.AllSettings(None, 20, 0.02, 64))
    torch.manual_seed(0)
    model = build_model("resnet50", len(manifest["classes"])).to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    device, history = torch.device("cpu"), {}
    train = manifest["train"]
    labels = torch.tensor(training._labels(train, manifest["classes"]))
    if start == "fitted":
        head = subset(train, 400, manifest["seed"])
        training._train_head(model, head, torch.tensor(training._labels(head, manifest["classes"])), settings, device, history)
        reset = training.classifier_layer
        training.classifier_layer = lambda _model: _KeepClassifier()
        try:
            training._train_all(model, train, labels, settings, device, history)
        finally:
            training.classifier_layer = reset
    else:
        training._prepare_backbone(model, train, manifest["seed"], settings, device, history)
        training._train_all(model, train, labels, settings, device, history)
    return model.eval().to(memory_format=torch.contiguous_format)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        rows = _compare_starts(write_digits(Path(tmp), args.size, 0.2, 0), args.size)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _compare_starts(manifest: dict, size: int) -> list[dict]:
    val = subset(manifest["val"], 256, manifest["seed"])
    images = load_images([p for p, _ in val], size)
    labels = np.array([manifest["classes"].index(c) for _, c in val])
    batches = [torch.from_numpy(images[i : i + 64]) for i in range(0, len(images), 64)]
    rows = []
    print(f"resnet50 at {size}x{size}, every layer trained 20 epochs on the CPU; fp16 against fp32 on {len(val)} held-out images")
    print("| classifier starts | train s | top-1 | max abs logit | largest value (where) | fp16 max rel diff | fp16 min cosine | fp16 passes |")
    print("|---|---|---|---|---|---|---|---|")
    for start in ("fitted", "fresh"):
        began = time.perf_counter()
        model = _train(manifest, size, start)
        seconds = time.perf_counter() - began
        outputs, value, where = largest_value(model, batches)
        reference = np.concatenate(outputs)
        half = copy.deepcopy(model).half()
        with torch.inference_mode():
            fp16 = np.concatenate([half(b.half()).float().numpy() for b in batches])
        result = compare(fp16, reference, labels, FP16)
        row = {
            "start": start, "train_s": round(seconds, 1), "top1": float((reference.argmax(1) == labels).mean()),
            "max_abs_logit": float(np.abs(reference).max()), "largest_value": value, "largest_value_at": where,
            "beyond_fp16": value > FP16_MAX, "fp16_max_rel_diff": result.get("max_rel_diff"),
            "fp16_min_cosine": result.get("min_cosine"), "fp16_passed": result["passed"], "fp16_failures": result["failures"],
        }
        rows.append(row)
        print(f"| {start} | {seconds:.0f} | {row['top1']:.3f} | {row['max_abs_logit']:.1f} | {value:.4g} ({where}) | "
              f"{row['fp16_max_rel_diff']:.3g} | {row['fp16_min_cosine']:.4f} | {'yes' if row['fp16_passed'] else 'no'} |", flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
