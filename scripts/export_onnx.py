"""Export model_weights.pth to ONNX (fp32, or fp16 from model.half()), checked by onnx.checker.

An exporter that cannot take the model writes why in onnx_model.json (and an empty .onnx file): the
model's ONNX cells are then skipped with the exporter's own message, and the rest of the run goes on.
"""

from pathlib import Path

from infbench.artifacts import read_json, write_json, write_text
from infbench.model.export import export_onnx, failed_export
from infbench.model.models import load_trained
from infbench.planning.versions import imported_versions
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        card = read_json(smk.input.card)
        model = load_trained(smk.input.weights, card["architecture"], card["num_classes"], card["image_size"])
        try:
            info = export_onnx(model, card["image_size"], smk.output.onnx, smk.params.opset, smk.params.exporter, smk.params.half)
        except Exception as exc:  # the exporter's limits, not a broken run: the ONNX cells say so
            info = failed_export(smk.params.exporter, exc)
            log.exception("the export failed; the model's ONNX cells will be skipped with this reason: %s", info["reason"])
            write_text(Path(smk.output.onnx), "")
        info["versions"] = imported_versions(["torch", "torchvision", "timm", "onnx", "onnxscript"])
        write_json(smk.output.info, info)
        if info["status"] == "exported":
            log.info("wrote %s (%s, opset %d, %d nodes, onnx.checker passed)", smk.output.onnx, info["dtype"], info["opset"],
                     info["nodes"])


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
