"""Build a TensorRT engine from the ONNX model (one precision, batch size and builder level) into its folder."""

from infbench.artifacts import read_json, write_json
from infbench.availability import tensorrt_missing
from infbench.backends.base import BUILD_RECORD, skipped_build
from infbench.backends.tensorrt import EngineSpec, build_engine
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        folder = smk.output.folder
        if reason := tensorrt_missing():  # this machine has no TensorRT or no GPU: the cell says so
            log.info("not built: %s", reason)
            write_json(f"{folder}/{BUILD_RECORD}", skipped_build(reason))
            return
        card = read_json(smk.input.card)
        spec = EngineSpec(
            onnx_path=smk.input.onnx,
            precision=smk.wildcards.precision,
            batch_size=int(smk.wildcards.batch),
            image_size=card["image_size"],
            workspace_mb=smk.params.workspace_mb,
            allow_tf32=smk.params.allow_tf32,
            onnx_is_fp16=smk.input.onnx.endswith("_fp16.onnx"),
            level=int(smk.wildcards.level),
        )
        info = build_engine(spec, folder, log)
        write_json(f"{folder}/{BUILD_RECORD}", info)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
