"""How long the accuracy-aware int8 recipes take, and what they keep, on a finished run's model.

    python benchmarks/accuracy_aware.py --results DIR [--model resnet50] [--recipes nncf_accuracy qdq_u8s8_accuracy]
                                        [--threads 2] [--ranking-images N] [--validation-images N]

DIR is a finished run's `results` folder (its data manifest, model card, ONNX export and evaluation
set are read, nothing in it is written). Each recipe is quantized into a temporary folder through the
same function as the workflow's `quantize` rule, with the schema's quantization defaults, then its
model is run on the evaluation set's held-out images: the top-1 accuracy that the int8 gate judges.
The quantize time is what issue #15's target (6 minutes per accuracy-aware recipe on 2 cores) is
about; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import yaml

from infbench.measuring.quantization.run import quantize
from infbench.model.reference import load_eval_set
from infbench.planning.catalog import RECIPES

REPO = Path(__file__).resolve().parents[1]

GATE = 0.99  # parity.tolerances.int8.min_accuracy_ratio's default


def quantization_defaults() -> dict:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    properties = schema["properties"]["quantization"]["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def held_out_top1(model_file: Path, images: np.ndarray, labels: np.ndarray, threads: int) -> float:
    """Top-1 of the quantized model on the held-out images, one image at a time (batch 1, as the cells)."""
    if model_file.suffix == ".xml":
        import openvino as ov

        compiled = ov.Core().compile_model(str(model_file), "CPU", {"INFERENCE_NUM_THREADS": threads})
        logits = np.concatenate([compiled(images[i : i + 1])[0] for i in range(len(images))])
    else:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        logits = np.concatenate([session.run(None, {name: images[i : i + 1]})[0] for i in range(len(images))])
    return float((logits.argmax(1) == labels).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--recipes", nargs="+", default=["nncf_accuracy", "qdq_u8s8_accuracy"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ranking-images", type=int)
    parser.add_argument("--validation-images", type=int)
    args = parser.parse_args()

    results = args.results.resolve()
    os.chdir(results.parent)  # the data manifest's paths are relative to the run's folder
    settings = quantization_defaults()
    settings |= {k: v for k, v in (("ranking_images", args.ranking_images), ("validation_images", args.validation_images)) if v}
    model_dir = results / "model" / args.model
    card = json.loads((model_dir / "model_card.json").read_text())
    manifest = json.loads((results / "data" / str(card["image_size"]) / "manifest.json").read_text())
    inputs = {"manifest": manifest, "card": card, "onnx": str(model_dir / "onnx_model.onnx"), "pth": None,
              "onnx_info": json.loads((model_dir / "onnx_model.json").read_text())}
    eval_set = load_eval_set(results / "reference" / args.model / "eval_set.npz")
    images, labels = eval_set["images"], eval_set["labels"]
    fp32_top1 = float((eval_set["reference"].argmax(1) == labels).mean())

    print(f"{args.model} from {results}, {args.threads} threads; settings {json.dumps(settings)}")
    print(f"fp32 top-1 on {len(labels)} held-out images: {fp32_top1:.3f} (the gate: {GATE:.0%} of it, {GATE * fp32_top1:.3f})\n")
    print("| recipe | quantize s | validation images (trained on them?) | kept in fp32 | held-out top-1 | of fp32 | gate |")
    print("|---|---|---|---|---|---|---|")
    for name in args.recipes:
        if not RECIPES[name].accuracy_aware:
            raise SystemExit(f"{name} is not an accuracy-aware recipe (they are: "
                             f"{', '.join(r for r, v in RECIPES.items() if v.accuracy_aware)})")
        with tempfile.TemporaryDirectory() as folder:
            record = quantize(name, inputs, settings, Path(folder), args.threads)
            top1 = held_out_top1(Path(folder) / record["model_file"], images, labels, args.threads)
        seen = "yes" if record.get("validation_seen_in_training") else "no"
        ratio = top1 / fp32_top1
        print(f"| {name} | {record['quantize_s']:.0f} | {record['validation_images']} ({seen}) | "
              f"{len(record['kept_float'])}: {', '.join(record['kept_float'])} | {top1:.3f} | {ratio:.1%} | "
              f"{'passes' if ratio >= GATE else 'below'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
