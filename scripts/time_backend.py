"""Measure one cell (a model on a backend's variant at a precision and batch size, on a machine) and write its record."""

from pathlib import Path

from infbench.artifacts import read_json
from infbench.measuring.backends.base import BUILD_RECORD, CellRequest
from infbench.measuring.fresh import CellJob, confirmed
from infbench.measuring.harness import MeasurePolicy, WarmupPolicy
from infbench.model.export import export_failure
from infbench.model.onnx_file import batch_ruled_out
from infbench.model.parity import Tolerance
from infbench.planning.catalog import BACKENDS
from infbench.planning.cells import Cell
from infbench.planning.layout import RESULTS
from infbench.results.changes import Threshold
from infbench.results.history import keep
from infbench.results.records import SKIPPED, Isolation, Record, error_record, header, now_utc, write_record
from infbench.scripting import attempt_log, failed_log, held_lock, step

ARTIFACT_ROLES = ("pth", "onnx", "onnx_fp16", "engine_dir", "torch2trt_dir", "int8_dir", "ort_transformer_dir", "compile_dir")
BUILD_ROLES = ("engine_dir", "torch2trt_dir", "compile_dir")


def tail(path: Path, lines: int = 3) -> str:
    try:
        text = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " / ".join(line[:300] for line in text[-lines:])


def killed_attempt_record(smk, cell: Cell) -> Record | None:
    """The cell's error where the previous attempt ended without a record and without an error of its own.

    Its log copy is still there (killed mid-way), or there is none (cancelled before it started); an
    attempt that ended with an error of its own left `<copy>.failed`, and this attempt measures again.
    """
    attempt = int(smk.resources.attempt)
    previous = attempt_log(smk.log[0], attempt - 1)
    if attempt == 1:
        return None
    if failed_log(previous).exists():
        failed_log(previous).unlink()
        return None
    if previous.exists():
        what = f"its log ({previous}) ends with: {tail(previous) or 'nothing'}"
    else:
        what = "it wrote no log (cancelled or killed before it started)"
    reason = (f"the measuring job on {cell.machine} ended without a record (killed, cancelled or crashed) in attempt "
              f"{attempt - 1}; {what}")
    return error_record(cell, reason, retryable=True, attempt=attempt, measure_again=smk.params.measure_again,
                        code=smk.params.code)


def cell_request(smk, cell: Cell) -> CellRequest:
    settings = smk.params.settings
    card = read_json(smk.input.card)
    inputs = dict(smk.input.items())
    return CellRequest(
        backend=BACKENDS[cell.backend], precision=cell.precision, batch_size=cell.batch,
        artifacts={role: inputs[role] for role in ARTIFACT_ROLES if role in inputs},
        architecture=card["architecture"], num_classes=card["num_classes"], image_size=card["image_size"],
        threads=settings["threads"], variant=cell.variant, machine=cell.machine, model=cell.model,
        cache_dir=smk.params.cache_dir, **settings.get("gpu", {}),  # allow_tf32, workspace_mb: GPU backends' alone
    )


def cell_job(smk, cell: Cell) -> CellJob:
    settings = smk.params.settings
    return CellJob(cell_request(smk, cell), smk.input.eval_set, measure=MeasurePolicy(**settings["measure"]),
                   warmup=WarmupPolicy(**settings["warmup"]), tolerance=Tolerance(**settings["tolerance"]),
                   # The record's flag as measured; the report decides from the cv and benchmark.noisy_cv, not a param here.
                   noisy_cv=smk.config["benchmark"]["noisy_cv"])


def change_threshold(smk) -> Threshold:
    """What counts as a change (compare.*): read from the configuration, not a param, so that it reruns no measurement."""
    return Threshold(factor=smk.config["compare"]["factor"], alpha=smk.config["compare"]["alpha"])


def without_model_record(smk, cell: Cell) -> Record | None:
    """The cell's skip where the model it runs does not exist: an ONNX file given without the PyTorch
    module the backend runs, or at another batch size than the file fixes, or an export that failed
    (the exporter's own message)."""
    info = read_json(smk.input.onnx_info) if "onnx_info" in smk.input.keys() else {}
    if smk.params.without_module:
        reason = smk.params.without_module
    elif failure := export_failure(info):
        reason = f"no ONNX model: {failure}"
    elif ruled_out := batch_ruled_out(info.get("fixed_batch"), cell.batch, info.get("source")):
        reason = ruled_out
    else:
        return None
    return Record(**header(cell, SKIPPED, reason), measure_again=smk.params.measure_again, code=smk.params.code)


def completed(smk, request: CellRequest, record: Record) -> Record:
    """The runner's record with what the job knows: the attempt, why it measured, its code, the files and builds it ran."""
    extra: dict = {"attempt": int(smk.resources.attempt), "measure_again": smk.params.measure_again, "code": smk.params.code}
    if record.status != SKIPPED and record.model_info is not None:
        files = {role: path for role, path in request.artifacts.items() if Path(path).is_file()}
        extra["model_info"] = record.model_info.with_artifacts(files)
    for role in BUILD_ROLES:
        if role in request.artifacts and Path(request.artifacts[role], BUILD_RECORD).is_file():
            extra["build"] = read_json(Path(request.artifacts[role], BUILD_RECORD))
    return record.updated(**extra)


def measure(smk, cell: Cell, log) -> Record:
    """The cell measured, and measured once more in a fresh process where it differs from its previous measurement."""
    job = cell_job(smk, cell)
    log.info("%s on %s: %s, %s, batch %d", cell.backend, cell.machine, cell.model, cell.label, cell.batch)
    started = now_utc("microseconds")
    record = confirmed(completed(smk, job.request, job.run()), job, RESULTS, change_threshold(smk), log)
    held = held_lock()
    return record.updated(isolation=Isolation(lock=held.path, waited_s=held.waited_s, started_utc=started,
                                              ended_utc=now_utc("microseconds")))


def main(smk) -> None:
    cell = Cell.from_wildcards(smk.wildcards, smk.params.backend)
    with step(smk, measures=True) as log:
        record = killed_attempt_record(smk, cell) or without_model_record(smk, cell) or measure(smk, cell, log)
        write_record(smk.output.record, record)
        kept = keep(record)  # now: Snakemake deletes the record before the cell is measured again
        log.info("%s: %s%s; kept as %s", smk.output.record, record.status, f" ({record.reason})" if record.reason else "", kept)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
