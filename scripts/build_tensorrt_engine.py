"""Build a TensorRT engine from the ONNX model (one precision, batch size and builder level) into its folder."""

from infbench.artifacts import read_json, write_json
from infbench.contents import write_contents
from infbench.errors import BackendUnavailable
from infbench.measuring.backends.base import BUILD_RECORD, read_quantized, skipped_build
from infbench.measuring.backends.tensorrt import EngineSpec, build_engine
from infbench.model.onnx_file import batch_ruled_out
from infbench.planning.availability import tensorrt_missing
from infbench.scripting import step


def build(smk, log) -> dict:
    """The engine in the job's folder, and its build record; or the record of why nothing was built."""
    info = read_json(smk.input.onnx_info) if "onnx_info" in smk.input.keys() else {}
    if reason := batch_ruled_out(info.get("fixed_batch"), int(smk.wildcards.batch), info.get("source")):
        log.info("not built: %s", reason)  # the cell is skipped with this reason
        return skipped_build(reason)
    if reason := tensorrt_missing():  # this machine has no TensorRT or no GPU: the cell says so
        log.info("not built: %s", reason)
        return skipped_build(reason)
    card = read_json(smk.input.card)
    try:
        onnx_path = read_quantized(smk.input.onnx)[0] if smk.wildcards.precision == "int8" else smk.input.onnx
    except BackendUnavailable as exc:  # the recipe could not run: neither can the engine
        return skipped_build(str(exc))
    spec = EngineSpec(
        onnx_path=onnx_path,
        precision=smk.wildcards.precision,
        batch_size=int(smk.wildcards.batch),
        image_size=card["image_size"],
        workspace_mb=smk.params.workspace_mb,
        allow_tf32=smk.params.allow_tf32,
        onnx_is_fp16=smk.input.onnx.endswith("_fp16.onnx"),
        level=int(smk.wildcards.level),
    )
    return build_engine(spec, smk.output.folder, log)


def main(smk) -> None:
    with step(smk) as log:
        write_json(f"{smk.output.folder}/{BUILD_RECORD}", build(smk, log))
        write_contents(smk.output.folder, smk.output.contents)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
