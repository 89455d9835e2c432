"""Build trt_model_{precision}_bs{batch}.trt from the ONNX model with TensorRT's Python API."""

from infbench.artifacts import read_json, write_json
from infbench.backends.tensorrt import build_engine
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        card = read_json(smk.input.card)
        info = build_engine(
            onnx_path=smk.input.onnx,
            engine_path=smk.output.engine,
            precision=smk.wildcards.precision,
            batch_size=int(smk.wildcards.batch),
            image_size=card["image_size"],
            workspace_mb=smk.params.workspace_mb,
            allow_tf32=smk.params.allow_tf32,
            onnx_is_fp16=smk.input.onnx.endswith("_fp16.onnx"),
            log=log,
        )
        write_json(smk.output.info, info)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
