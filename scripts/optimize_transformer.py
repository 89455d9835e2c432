"""Run ONNX Runtime's transformer optimizer on one model's ONNX export at one precision: the fused model and optimization.json.

Where it cannot (no export, a model it does not apply to, nothing fused), optimization.json says why
and the cells that run it are skipped with that reason.
"""

from pathlib import Path

from infbench.artifacts import read_json, write_json
from infbench.contents import write_contents
from infbench.errors import first_line
from infbench.model.export import export_failure
from infbench.model.ort_transformer import RECORD, model_type, not_applicable, optimize
from infbench.scripting import step


def record_for(smk, folder: Path, log) -> dict:
    architecture = read_json(smk.input.card).get("architecture")
    if failure := export_failure(read_json(smk.input.info)):
        return {"status": "skipped", "reason": f"no ONNX model: {failure}"}
    if model_type(architecture) is None:
        return {"status": "skipped", "reason": not_applicable(architecture)}
    try:
        return optimize(smk.input.onnx, folder, architecture, smk.wildcards.precision)
    except Exception as exc:  # the optimizer's limits with this graph, not a broken run
        log.exception("the optimizer failed")
        return {"status": "skipped", "reason": f"ONNX Runtime's transformer optimizer failed: {type(exc).__name__}: {first_line(exc)}"}


def main(smk) -> None:
    with step(smk) as log:
        folder = Path(smk.output.folder)
        folder.mkdir(parents=True, exist_ok=True)
        record = record_for(smk, folder, log)
        write_json(folder / RECORD, record)
        write_contents(folder, smk.output.contents)
        log.info("%s: %s", folder, record.get("fused_operators") or record.get("reason"))


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
