"""Summary rows: one typed row per cell (summary.json, and flattened, summary.csv), from which every table is made.

A record that contradicts its place or itself (infbench.results.consistency) is shown as inconsistent, under
the cell its path names, never as a number.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from infbench.planning.catalog import BACKENDS, PRECISIONS
from infbench.planning.cells import cell_of_record, described
from infbench.results.consistency import INCONSISTENT, expected_cell, inconsistencies
from infbench.results.records import OK, TIMING_MODES, Record, TimingBlock, read_record

UNREADABLE = "unreadable"  # a row status: the record's file cannot be read (the next run measures the cell again)

PREFIX = {"end_to_end": "e2e", "device_resident": "resident"}  # column prefixes in summary.csv
STATS = ("mean", "p50", "p90", "p99", "std", "min", "max")


class TimingSummary(BaseModel):
    """One timing mode of a cell, as the tables read it."""

    model_config = ConfigDict(extra="forbid")

    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    cv: float
    iterations: int
    images_per_step: int
    throughput_ips: float
    noisy: bool
    warmup_iterations: int
    warmup_settled: bool
    cuda_event_mean_ms: float | None = None
    cuda_event_p50_ms: float | None = None
    cuda_event_p99_ms: float | None = None

    @classmethod
    def of(cls, block: TimingBlock, noisy_cv: float | None = None) -> TimingSummary:
        """The block as a table reads it; noisy where its coefficient of variation is above `noisy_cv` (None: as the
        record says, for runs reported before the report decided it)."""
        host = block.host_ms
        device = block.device_ms
        noisy = block.noisy if noisy_cv is None else host.cv > noisy_cv
        return cls(
            **{f"{stat}_ms": getattr(host, stat) for stat in STATS}, cv=host.cv, iterations=host.n,
            images_per_step=block.images_per_step, throughput_ips=block.throughput_ips, noisy=noisy,
            warmup_iterations=block.warmup.iterations, warmup_settled=block.warmup.settled,
            cuda_event_mean_ms=device.mean if device else None, cuda_event_p50_ms=device.p50 if device else None,
            cuda_event_p99_ms=device.p99 if device else None,
        )


class SummaryRow(BaseModel):
    """One cell of a run: what the tables, the chart and the comparison of runs read."""

    model_config = ConfigDict(extra="forbid")

    machine: str
    model: str
    backend: str
    variant: str
    precision: str
    batch_size: int
    runtime: str
    framework: str
    study_row: str
    device: str
    variant_label: str
    label: str
    status: str  # the record's status, or "inconsistent"
    reason: str | None = None
    record_status: str
    retryable: bool = False
    record: str  # the record's path, relative to the run's results folder
    source: str | None = None  # where a comparison read the record from
    end_to_end: TimingSummary | None = None
    device_resident: TimingSummary | None = None
    load_s: float | None = None
    first_inference_ms: float | None = None
    prepare_s: float | None = None
    engine_build_s: float | None = None
    quantize_s: float | None = None
    build_s: float | None = None
    host_peak_rss_mb: float | None = None
    device_peak_mb: float | None = None
    parity_images: int | None = None
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    min_cosine: float | None = None
    top1_agreement: float | None = None
    decisive_images: int | None = None
    decisive_top1_agreement: float | None = None
    top1_accuracy: float | None = None
    reference_top1_accuracy: float | None = None
    accuracy_ratio: float | None = None
    threads: int | None = None
    precision_method: str | None = None
    run_time_notes: list[str] = []
    cpu: str | None = None
    usable_cpus: int | None = None
    os: str | None = None
    python: str | None = None
    hostname: str | None = None
    gpu: str | None = None
    gpu_compute_capability: str | None = None
    driver: str | None = None
    cuda_runtime: str | None = None
    cudnn: str | None = None
    versions: dict[str, str] = {}

    def timing(self, mode: str) -> TimingSummary | None:
        return getattr(self, mode)

    @property
    def measured(self) -> bool:
        return self.status == OK

    def shown_mode(self, preferred: str) -> str:
        """The timing mode a cell shows: the preferred one where the row has it (CPU cells have only end to end)."""
        return preferred if self.timing(preferred) is not None else "end_to_end"

    @property
    def best_mode(self) -> str:
        """How a runtime at its best is timed: inputs and outputs on the device where it has one."""
        return self.shown_mode("device_resident")

    def mean_ms(self, mode: str) -> float:
        return self.timing(mode).mean_ms

    def throughput(self, mode: str) -> float:
        return self.timing(mode).throughput_ips

    def flat(self) -> dict:
        """The row as one line of summary.csv: timing modes and versions as prefixed columns."""
        row = self.model_dump(exclude={"end_to_end", "device_resident", "versions", "run_time_notes"})
        for mode in TIMING_MODES:
            if (summary := self.timing(mode)) is not None:
                row |= {f"{PREFIX[mode]}_{key}": value for key, value in summary.model_dump().items() if value is not None}
        row["run_time_notes"] = " | ".join(self.run_time_notes)
        row |= {f"version_{lib}": version for lib, version in self.versions.items()}
        return row


def _precision_method(record: Record) -> str | None:
    settings = record.settings
    if "int8" in settings:
        recipe = settings["int8"].get("recipe", {})
        kept = settings["int8"].get("kept_float") or []
        return f"{recipe.get('quantizer')} {recipe.get('name')}" + (f", {len(kept)} layers kept fp32" if kept else "")
    return (
        settings.get("fp16_method") or settings.get("bf16_method") or (record.build or {}).get("fp16_method")
        or (f"INFERENCE_PRECISION_HINT {settings['inference_precision']}" if "inference_precision" in settings else None)
    )


def _machine_fields(record: Record) -> dict:
    host = record.host.model_dump() if record.host else {}
    gpu = record.gpu.model_dump() if record.gpu else {}
    return {
        "cpu": host.get("cpu"), "usable_cpus": host.get("usable_cpus"), "os": host.get("os"), "python": host.get("python"),
        "hostname": host.get("hostname"), "gpu": gpu.get("name"), "gpu_compute_capability": gpu.get("compute_capability"),
        "driver": gpu.get("driver"), "cuda_runtime": gpu.get("cuda_runtime"),
        "cudnn": None if gpu.get("cudnn") is None else str(gpu.get("cudnn")),
    }


def _measured_fields(record: Record, noisy_cv: float | None) -> dict:
    cold = record.cold_start.model_dump() if record.cold_start else {}
    memory = record.memory.model_dump() if record.memory else {}
    parity = record.parity.model_dump() if record.parity else {}
    fields = {key: cold.get(key) for key in ("load_s", "first_inference_ms", "prepare_s", "engine_build_s", "quantize_s", "build_s")}
    fields |= {"host_peak_rss_mb": memory.get("host_peak_rss_mb"), "device_peak_mb": memory.get("device_peak_mb")}
    fields["parity_images"] = parity.get("images")
    for key in ("max_abs_diff", "max_rel_diff", "min_cosine", "top1_agreement", "decisive_images", "decisive_top1_agreement",
                "top1_accuracy", "reference_top1_accuracy", "accuracy_ratio"):
        fields[key] = parity.get(key)
    if record.timing is not None:
        for mode in TIMING_MODES:
            if (block := record.timing.block(mode)) is not None:
                fields[mode] = TimingSummary.of(block, noisy_cv)
    return fields


def _described_by_record(record: Record) -> dict:
    """What the cell ran, in the words its record wrote when it ran: an older run whose variant was renamed since still reads."""
    return {"runtime": record.runtime, "framework": record.framework, "study_row": record.row, "device": record.device,
            "variant_label": record.variant_label, "label": described(record.variant_label, record.precision)}


def _described_by_catalogue(cell) -> dict:
    """What the cell named by a record's path runs, from today's catalogue (for a record that is not that cell's)."""
    backend = BACKENDS[cell.backend]
    return {"runtime": backend.title, "framework": backend.framework, "study_row": backend.row, "device": backend.device,
            "variant_label": backend.variant(cell.variant).label, "label": cell.label}


def summary_row(record: Record, record_path: str, noisy_cv: float | None = None) -> SummaryRow:
    """The row of one record; `record_path` is where the record lives, relative to the run's results folder;
    `noisy_cv`: the report's threshold of a noisy measurement (benchmark.noisy_cv).

    An inconsistent record fills the row of the cell its path names, with what it contradicts and none of its numbers.
    """
    cell = expected_cell(record, record_path)
    status, reason, measured = record.status, record.reason, _measured_fields(record, noisy_cv)
    described = _described_by_record(record)
    if problems := inconsistencies(record, record_path):
        status, reason, measured, described = INCONSISTENT, "; ".join(problems), {}, _described_by_catalogue(cell)
    return SummaryRow(
        **cell.fields(), **described, status=status, reason=reason,
        record_status=record.status, retryable=record.retryable, record=record_path,
        threads=record.settings.get("threads"), precision_method=_precision_method(record),
        run_time_notes=record.run_time_notes, versions=record.versions,
        **measured, **_machine_fields(record),
    )


def unreadable_row(record_path: str, reason: str) -> SummaryRow:
    """The row of a cell whose record cannot be read: shown as such, with the file and why, beside every other cell."""
    cell = cell_of_record(record_path)
    if cell is None:
        raise ValueError(reason)
    backend = BACKENDS[cell.backend]
    return SummaryRow(
        **cell.fields(), runtime=backend.title, framework=backend.framework, study_row=backend.row, device=backend.device,
        variant_label=backend.variant(cell.variant).label, label=cell.label, status=UNREADABLE, reason=reason,
        record_status=UNREADABLE, retryable=True, record=record_path,
    )


def _order(row: SummaryRow, machines: list[str], models: list[str]) -> tuple:
    backend = BACKENDS[row.backend]
    return (
        machines.index(row.machine),
        models.index(row.model),
        list(BACKENDS).index(row.backend),
        backend.variant_names.index(row.variant) if row.variant in backend.variant_names else 99,
        PRECISIONS.index(row.precision),
        row.batch_size,
    )


def ordered(rows: list[SummaryRow]) -> list[SummaryRow]:
    """Rows in the order of machines and models (as first seen), backends and variants (as catalogued)."""
    machines, models = machines_in(rows), models_in(rows)
    return sorted(rows, key=lambda row: _order(row, machines, models))


def summary_rows(records: list[Record], paths: list[str], noisy_cv: float | None = None) -> list[SummaryRow]:
    """One row per record, ordered."""
    return ordered([summary_row(record, path, noisy_cv) for record, path in zip(records, paths, strict=True)])


def load_rows(files: list[str | Path], paths: list[str], noisy_cv: float | None = None) -> tuple[list[SummaryRow], dict[str, Record]]:
    """The ordered rows of the records in `files` (`paths`: the same, relative to the results folder), an unreadable
    record's row saying so; and the records that could be read, by path."""
    rows, records = [], {}
    for file, path in zip(files, paths, strict=True):
        try:
            records[path] = read_record(file)
        except ValueError as exc:
            rows.append(unreadable_row(path, str(exc)))
        else:
            rows.append(summary_row(records[path], path, noisy_cv))
    return ordered(rows), records


def machines_in(rows: list[SummaryRow]) -> list[str]:
    return list(dict.fromkeys(row.machine for row in rows))


def models_in(rows: list[SummaryRow]) -> list[str]:
    return list(dict.fromkeys(row.model for row in rows))
