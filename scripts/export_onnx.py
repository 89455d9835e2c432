"""Export model_weights.pth to ONNX (fp32, or fp16 from model.half()), checked by onnx.checker."""

from infbench.artifacts import read_json, write_json
from infbench.export import export_onnx
from infbench.models import load_trained
from infbench.scripting import step
from infbench.versions import imported_versions


def main(smk) -> None:
    with step(smk) as log:
        card = read_json(smk.input.card)
        model = load_trained(smk.input.weights, card["architecture"], card["num_classes"])
        info = export_onnx(model, card["image_size"], smk.output.onnx, smk.params.opset, smk.params.exporter, smk.params.half)
        info["versions"] = imported_versions(["torch", "torchvision", "onnx", "onnxscript"])
        write_json(smk.output.info, info)
        log.info("wrote %s (%s, opset %d, %d nodes, onnx.checker passed)", smk.output.onnx, info["dtype"], info["opset"], info["nodes"])


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
