"""Convert model_weights.pth with torch2trt for one precision and batch size into its folder."""

import numpy as np

from infbench.artifacts import read_json, write_json
from infbench.contents import write_contents
from infbench.measuring.backends.base import BUILD_RECORD, CellRequest, skipped_build
from infbench.measuring.backends.torch2trt import build_module
from infbench.model.reference import load_eval_set
from infbench.planning.availability import torch2trt_missing
from infbench.planning.catalog import BACKENDS
from infbench.scripting import step


def build(smk, log) -> dict:
    """The module in the job's folder, and its build record; or the record of why nothing was built."""
    if reason := torch2trt_missing():  # this machine has no torch2trt, TensorRT or GPU: the cell says so
        log.info("not built: %s", reason)
        return skipped_build(reason)
    card = read_json(smk.input.card)
    batch = int(smk.wildcards.batch)
    request = CellRequest(
        backend=BACKENDS["torch2trt"],
        precision=smk.wildcards.precision,
        batch_size=batch,
        artifacts={"pth": smk.input.pth},
        architecture=card["architecture"],
        num_classes=card["num_classes"],
        image_size=card["image_size"],
        threads=smk.params.threads,
        allow_tf32=smk.params.allow_tf32,
        workspace_mb=smk.params.workspace_mb,
    )
    images = load_eval_set(smk.input.eval_set)["images"]
    example = images[np.arange(batch) % len(images)]  # real images, as the timing rules use
    return build_module(request, example, smk.output.folder, log)


def main(smk) -> None:
    with step(smk) as log:
        write_json(f"{smk.output.folder}/{BUILD_RECORD}", build(smk, log))
        write_contents(smk.output.folder, smk.output.contents)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
