"""Measure one cell (a backend's variant at a precision and batch size, on a machine) and write its record."""

from pathlib import Path

from infbench.artifacts import read_json, sha256, write_json
from infbench.backends.base import CellRequest
from infbench.catalog import BACKENDS
from infbench.cells import Cell
from infbench.harness import MeasurePolicy, WarmupPolicy
from infbench.parity import Tolerance
from infbench.records import error_record
from infbench.reference import load_eval_set
from infbench.runner import run_cell
from infbench.scripting import step

ARTIFACT_ROLES = ("pth", "onnx", "onnx_fp16", "engine_dir", "torch2trt_dir")


def last_line(path: str) -> str:
    try:
        lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def main(smk) -> None:
    cell = Cell(smk.wildcards.machine, smk.params.backend, smk.wildcards.variant, smk.wildcards.precision, int(smk.wildcards.batch))
    attempt = getattr(smk.resources, "attempt", 1)
    previous = last_line(smk.log[0]) if attempt > 1 else ""  # before this attempt's log replaces it
    with step(smk) as log:
        if attempt > 1:
            # The first attempt ended without a record: killed (out of memory), cancelled by the
            # scheduler, or crashed in native code. That is this cell's result; the rest of the table stands.
            reason = f"the measuring job on {cell.machine} ended without a record (killed, cancelled or crashed)"
            reason += f"; its log ends with: {previous}" if previous else f"; see {smk.log[0]}"
            write_json(smk.output.record, error_record(cell, reason))
            log.error("%s: error (%s)", smk.output.record, reason)
            return
        settings = smk.params.settings
        card = read_json(smk.input.card)
        inputs = dict(smk.input.items())
        request = CellRequest(
            backend=BACKENDS[cell.backend],
            precision=cell.precision,
            batch_size=cell.batch,
            artifacts={role: inputs[role] for role in ARTIFACT_ROLES if role in inputs},
            architecture=card["architecture"],
            num_classes=card["num_classes"],
            image_size=card["image_size"],
            threads=settings["threads"],
            variant=cell.variant,
            machine=cell.machine,
            allow_tf32=settings["allow_tf32"],
            workspace_mb=settings["workspace_mb"],
            cache_dir=smk.params.cache_dir,
        )
        log.info("%s on %s: %s, batch %d", cell.backend, cell.machine, cell.label, cell.batch)
        record = run_cell(
            request,
            load_eval_set(smk.input.eval_set),
            measure=MeasurePolicy(**settings["measure"]),
            warmup=WarmupPolicy(**settings["warmup"]),
            tolerance=Tolerance(**settings["tolerances"][cell.precision]),
            noisy_cv=settings["noisy_cv"],
        )
        if record["status"] != "skipped":
            record["model"]["artifacts"] = {
                role: {"path": p, "sha256": sha256(p)} for role, p in request.artifacts.items() if Path(p).is_file()
            }
        for role in ("engine_dir", "torch2trt_dir"):
            if role in inputs and Path(inputs[role], "build.json").is_file():
                record["build"] = read_json(Path(inputs[role], "build.json"))
        write_json(smk.output.record, record)
        log.info("%s: %s%s", smk.output.record, record["status"], f" ({record['reason']})" if record["reason"] else "")


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
