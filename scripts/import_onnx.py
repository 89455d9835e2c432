"""A model given as an ONNX file: check it, write it as onnx_model.onnx, and its card with its held-out accuracy."""

import numpy as np

from infbench.artifacts import read_json, sha256, write_json
from infbench.model.data import load_images
from infbench.model.onnx_file import cpu_session, import_onnx, scores
from infbench.model.subsets import draw
from infbench.planning.versions import imported_versions
from infbench.scripting import step

CHUNK = 64  # images loaded at a time while the held-out accuracy is measured


def held_out_top1(session, val: list, classes: list[str], image_size: int, batch: int) -> float:
    """Top-1 accuracy on the held-out images `val`, as the train step measures a model it trains."""
    correct = 0
    for start in range(0, len(val), CHUNK):
        chunk = val[start : start + CHUNK]
        logits = scores(session, load_images([p for p, _ in chunk], image_size), batch)
        labels = np.array([classes.index(c) for _, c in chunk])
        correct += int((logits.argmax(1) == labels).sum())
    return correct / len(val)


def main(smk) -> None:
    with step(smk) as log:
        manifest = read_json(smk.input.manifest)
        size, classes = smk.params.image_size, manifest["classes"]
        info = import_onnx(smk.input.source, smk.output.onnx, size, len(classes))
        log.info("%s: input %s, output %s, opset %s, %d nodes; written as %s", smk.input.source, info["input_shape"],
                 info["output_shape"], info["opset"], info["nodes"], smk.output.onnx)
        if info["fixed_batch"]:
            log.warning("note: %s fixes its batch size at %d: it is checked and measured at that size, and its cells at "
                        "other batch sizes are skipped (export it with a dynamic batch axis to measure them)",
                        smk.input.source, info["fixed_batch"])
        session = cpu_session(smk.output.onnx, smk.params.cpu_threads)
        val, judged_on = draw(manifest, "val", smk.params.max_val_images, "held-out images", "train.max_val_images")
        top1 = held_out_top1(session, val, classes, size, info["fixed_batch"] or 16)
        card = {
            "name": smk.wildcards.model,
            "architecture": f"{smk.wildcards.model} (ONNX file)",
            "classes": classes,
            "num_classes": len(classes),
            "image_size": size,
            "input": {"layout": "NCHW", "dtype": "float32", "normalisation": "ImageNet mean and std of RGB in [0, 1]"},
            "data": manifest["source"],
            "trainable": "none",
            "starting_weights": f"ONNX file {smk.input.source} (sha256 {sha256(smk.input.source)[:16]})",
            "reference": "ONNX Runtime's fp32 CPU outputs of the file",
            "val_images": len(val),
            "val_top1": round(top1, 6),
            "class_coverage": {"held_out": judged_on.card()},
            "versions": imported_versions(["onnx", "onnxruntime", "numpy", "pillow"]),
        }
        info["versions"] = card["versions"]
        write_json(smk.output.info, info)
        write_json(smk.output.card, card)
        log.info("held-out top-1 %.3f on %s (ONNX Runtime, CPU)", top1, judged_on.sentence)
        judged_on.log(log)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
