"""Serve one scenario cell (a runtime's variant at a precision, under one of LoadGen's scenarios) and write its record."""

import dataclasses
from pathlib import Path

from infbench.artifacts import read_json
from infbench.measuring.backends.base import CellRequest
from infbench.measuring.serving.cell import serve_cell
from infbench.model.parity import Tolerance
from infbench.model.reference import load_eval_set
from infbench.planning.catalog import BACKENDS
from infbench.planning.scenarios import ScenarioCell
from infbench.planning.serving import built_for
from infbench.results.records import OK, SKIPPED, Isolation, now_utc, read_record
from infbench.results.serving_records import (
    ServingRecord,
    TimingReference,
    read_serving_record,
    serving_header,
    write_serving_record,
)
from infbench.scripting import held_lock, step

ARTIFACT_ROLES = ("pth", "onnx", "onnx_fp16", "int8_dir")


def timing_reference(path: str) -> TimingReference:
    """The batch-1 timing cell: whether it passed, and the rate one request at a time allows."""
    record = read_record(path)
    block = record.timing.end_to_end if record.timing else None
    fields = {"record": path, "status": record.status, "reason": record.reason}
    if block is None:
        return TimingReference(**fields)
    mean = block.host_ms.mean
    if block.images_per_step != record.batch_size:  # OpenVINO's throughput hint: several requests a call
        return TimingReference(**fields, mean_ms=mean, note=f"its timed call holds {block.images_per_step} requests")
    return TimingReference(**fields, mean_ms=mean, one_at_a_time_qps=round(1000.0 / mean, 3))


def anchor_qps(smk) -> float | None:
    """A Sweep's anchor: the rate its Server cell counted (its highest VALID, or highest within the bound)."""
    if "server" not in smk.input.keys():
        return None
    server = read_serving_record(smk.input.server)
    return server.run.target_qps if server.status == OK and server.run is not None else None


def request_at(smk, cell: ScenarioCell):
    """The cell's request at a batch size, with the engine or module built for that size where the backend has one."""
    settings = smk.params.settings
    card = read_json(smk.input.card)
    inputs = dict(smk.input.items())
    base = CellRequest(
        backend=BACKENDS[cell.backend], precision=cell.precision, batch_size=1,
        artifacts={role: inputs[role] for role in ARTIFACT_ROLES if role in inputs},
        architecture=card["architecture"], num_classes=card["num_classes"], image_size=card["image_size"],
        threads=settings["threads"], variant=cell.variant, machine=cell.machine, model=cell.model,
        cache_dir=smk.params.cache_dir, **settings.get("gpu", {}),  # allow_tf32, workspace_mb: GPU backends' alone
    )

    def at(batch: int) -> CellRequest:
        return dataclasses.replace(base, batch_size=batch, artifacts=base.artifacts | built_for(inputs, batch))

    return at


def serve(smk, cell: ScenarioCell) -> ServingRecord:
    settings = smk.params.settings
    if smk.params.without_module:
        return ServingRecord(**serving_header(cell, SKIPPED, smk.params.without_module), settings=settings)
    started = now_utc("microseconds")
    record = serve_cell(cell, request_at(smk, cell), load_eval_set(smk.input.eval_set), settings,
                        Tolerance(**settings["tolerance"]), timing_reference(smk.input.timing), anchor_qps(smk),
                        Path(smk.output.logs))
    held = held_lock()
    isolation = Isolation(lock=held.path, waited_s=held.waited_s, started_utc=started, ended_utc=now_utc("microseconds"))
    return record.model_copy(update={"isolation": isolation})


def main(smk) -> None:
    cell = ScenarioCell.from_wildcards(smk.wildcards, smk.params.backend)
    with step(smk, measures=True) as log:
        log.info("%s on %s: %s, %s, %s", cell.backend, cell.machine, cell.model, cell.label, cell.scenario)
        Path(smk.output.logs).mkdir(parents=True, exist_ok=True)
        record = serve(smk, cell)
        record = record.model_copy(update={"code": smk.params.code})
        write_serving_record(smk.output.record, record)
        verdict = "" if record.valid is None else (" VALID" if record.valid else " INVALID")
        log.info("%s: %s%s%s", smk.output.record, record.status, verdict, f" ({record.reason})" if record.reason else "")


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
