"""Measure one cell (a backend at a precision and batch size) and write its record."""

from infbench.artifacts import read_json, sha256, write_json
from infbench.backends.base import CellRequest
from infbench.catalog import BACKENDS
from infbench.harness import MeasurePolicy, WarmupPolicy
from infbench.parity import Tolerance
from infbench.reference import load_eval_set
from infbench.runner import run_cell
from infbench.scripting import step

ARTIFACT_ROLES = ("pth", "onnx", "onnx_fp16", "engine", "torch2trt")


def main(smk) -> None:
    with step(smk) as log:
        settings = smk.params.settings
        card = read_json(smk.input.card)
        inputs = dict(smk.input.items())
        precision, batch = smk.wildcards.precision, int(smk.wildcards.batch)
        request = CellRequest(
            backend=BACKENDS[smk.params.backend],
            precision=precision,
            batch_size=batch,
            artifacts={role: inputs[role] for role in ARTIFACT_ROLES if role in inputs},
            architecture=card["architecture"],
            num_classes=card["num_classes"],
            image_size=card["image_size"],
            threads=settings["threads"],
            allow_tf32=settings["allow_tf32"],
            workspace_mb=settings["workspace_mb"],
            cache_dir=smk.params.cache_dir,
        )
        log.info("%s, %s, batch %d", request.backend.name, precision, batch)
        record = run_cell(
            request,
            load_eval_set(smk.input.eval_set),
            measure=MeasurePolicy(**settings["measure"]),
            warmup=WarmupPolicy(**settings["warmup"]),
            tolerance=Tolerance(**settings["tolerances"][precision]),
            noisy_cv=settings["noisy_cv"],
        )
        if record["status"] != "skipped":
            record["model"]["artifacts"] = {role: {"path": p, "sha256": sha256(p)} for role, p in request.artifacts.items()}
        if "build" in inputs:
            record["build"] = read_json(inputs["build"])
            record.setdefault("cold_start", {})["build_s"] = record["build"]["build_seconds"]
        write_json(smk.output.record, record)
        log.info("%s: %s%s", smk.output.record, record["status"], f" ({record['reason']})" if record["reason"] else "")


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
