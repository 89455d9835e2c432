"""Result records: one JSON file per cell, with one typed definition (`Record`).

The runner writes a `Record`, the aggregate and the comparison of other runs read it back through
the same model, and workflow/schemas/record.schema.json is generated from it (tests keep the two in
step), so that a hand-edited or truncated record is named with what is wrong, never half-read.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from infbench.artifacts import sha256, write_json
from infbench.planning.catalog import BACKENDS
from infbench.planning.cells import Cell

SCHEMA_VERSION = 3  # 2: machine and variant are part of a cell's identity; 3: the model too, typed records
OK, SKIPPED, MISMATCH, ERROR = "ok", "skipped", "mismatch", "error"
STATUSES = (OK, SKIPPED, MISMATCH, ERROR)
TIMING_MODES = ("end_to_end", "device_resident")
Status = Literal["ok", "skipped", "mismatch", "error"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """Blocks whose keys belong to a library or a backend (provider options, nvidia-smi's fields)."""

    model_config = ConfigDict(extra="allow")


class Stats(Strict):
    """Latencies of one timing loop in milliseconds (infbench.harness.summarize computes them from the samples)."""

    n: int = Field(ge=1)
    mean: float
    std: float = Field(ge=0)
    min: float
    p50: float
    p90: float
    p99: float
    max: float
    cv: float = Field(ge=0)


class Warmup(Strict):
    mode: Literal["fixed", "adaptive"]
    iterations: int = Field(ge=0)
    settled: bool
    window_medians_ms: list[float] = []
    stopped_by: str
    seconds: float | None = None  # how long the warm-up took
    calls_before: int | None = None  # the parity run's calls at the same batch, counted towards its first iterations


class TimingBlock(Strict):
    host_ms: Stats
    device_ms: Stats | None = None
    warmup: Warmup
    images_per_step: int = Field(ge=1)
    throughput_ips: float = Field(gt=0)
    noisy: bool
    stopped_by: str
    samples_ms: list[float]
    device_samples_ms: list[float] | None = None


class Timing(Strict):
    policy: dict[str, Any]
    methods: dict[str, str]
    end_to_end: TimingBlock | None = None
    device_resident: TimingBlock | None = None

    def block(self, mode: str) -> TimingBlock | None:
        return getattr(self, mode)


class ColdStart(Strict):
    device_init_s: float | None = None  # torch and a CUDA context, on a GPU
    import_s: float | None = None
    load_s: float | None = None
    prepare_s: float | None = None
    engine_build_s: float | None = None
    quantize_s: float | None = None
    compile_step_s: float | None = None  # torch.compile's compilation in its own step, whose cache prepare_s reused
    build_s: float | None = None
    first_inference_ms: float | None = None


class Parity(Strict):
    passed: bool
    failures: list[str] = []
    finite: bool = True  # False: NaN, infinity or the wrong shape, never a number worth timing
    images: int | None = None
    tolerance: dict[str, float] | None = None
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    mean_abs_diff: float | None = None
    min_cosine: float | None = None
    mean_cosine: float | None = None
    top1_agreement: float | None = None
    decisive_images: int | None = None
    decisive_top1_agreement: float | None = None
    top1_accuracy: float | None = None
    reference_top1_accuracy: float | None = None
    accuracy_ratio: float | None = None
    seconds: float | None = None  # how long running the images took


class Memory(Strict):
    host_rss_before_load_mb: float | None = None
    host_peak_rss_mb: float | None = None
    device_peak_mb: float | None = None
    device_peak_method: str | None = None
    torch_max_allocated_mb: float | None = None


class Artifact(Strict):
    path: str
    sha256: str


class ModelInfo(Strict):
    architecture: str
    image_size: int
    num_classes: int
    artifacts: dict[str, Artifact] = {}

    def with_artifacts(self, files: dict[str, str]) -> ModelInfo:
        """The same model with the files a cell ran (role: path), each with its digest."""
        return self.updated(artifacts={role: Artifact(path=path, sha256=sha256(path)) for role, path in files.items()})

    def updated(self, **fields: Any) -> ModelInfo:
        return ModelInfo.model_validate(self.model_dump() | fields)


class Host(Open):
    cpu: str
    usable_cpus: int
    os: str
    python: str
    hostname: str


class Gpu(Open):
    name: str
    compute_capability: str


class Isolation(Strict):
    """How the cell was kept apart from other work on its machine."""

    lock: str  # the per-host lock file every job of the workflow takes (shared; timing jobs exclusively)
    waited_s: float  # how long the job waited for it
    started_utc: str  # the measurement held the machine from here ...
    ended_utc: str  # ... to here


class Confirmation(Strict):
    """The cell measured once more in a fresh process: it differed from its previous measurement beyond the threshold.

    Most of the variation between two measurements is between processes (memory layout, clocks,
    neighbours), so a change is judged on each process's mean, not on the calls of one process.
    """

    previous: str  # created_utc of the measurement this one differed from
    why: str  # how it differed in its first process ("end to end mean 128.4 → 66.78 ms, ×0.52")
    timings: list[Timing] = []  # each fresh process's timing (the record's own `timing` is the first process's)
    failed: str | None = None  # where the fresh process timed nothing: its status and reason


class Record(Strict):
    schema_version: int
    # The cell (infbench.planning.cells.Cell) and what runs it.
    machine: str
    model: str
    backend: str
    variant: str
    precision: str
    batch_size: int = Field(ge=1)
    runtime: str
    framework: str
    row: str
    label: str
    variant_label: str
    device: str
    provider: str | None = None
    # The outcome.
    status: Status
    reason: str | None = None
    retryable: bool = False  # an error that may pass on another attempt (killed, cancelled, out of memory)
    created_utc: str
    attempt: int = 1
    measure_again: str = ""  # why this measurement was made again (the timing rule's param)
    code: dict[str, str] = {}  # digest of each source file the measuring job ran
    model_info: ModelInfo | None = None
    warnings: list[str] = []
    run_time_notes: list[str] = []  # what the runtime's own log said about how it ran
    settings: dict[str, Any] = {}
    cold_start: ColdStart | None = None
    parity: Parity | None = None
    timing: Timing | None = None
    memory: Memory | None = None
    gpu: Gpu | None = None
    versions: dict[str, str] = {}
    host: Host | None = None
    isolation: Isolation | None = None
    build: dict[str, Any] | None = None
    confirmation: Confirmation | None = None  # measured again in a fresh process (infbench.results.changes)

    @model_validator(mode="before")
    @classmethod
    def _from_schema_2(cls, data: Any) -> Any:
        """Records of schema version 2 (before the model was part of a cell) read as version 3."""
        if isinstance(data, dict) and data.get("schema_version") == 2:
            data = dict(data)
            info = data.pop("model", None)
            data["model_info"] = info
            data["model"] = info["architecture"] if isinstance(info, dict) and "architecture" in info else "unknown"
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Record:
        if self.status == OK and (self.timing is None or not (self.timing.end_to_end or self.timing.device_resident)):
            raise ValueError("status ok but no timing")
        if self.status != OK and not self.reason:
            raise ValueError(f"status {self.status} needs a reason")
        return self

    @property
    def cell(self) -> Cell:
        return Cell(self.machine, self.model, self.backend, self.variant, self.precision, self.batch_size)

    def updated(self, **fields: Any) -> Record:
        """A copy with `fields` replaced, validated as a record is (model_copy(update=...) checks nothing)."""
        return Record.model_validate(self.model_dump() | fields)

    def dump(self) -> dict:
        """The record as its JSON file holds it: what was not measured is absent, not null."""
        return self.model_dump(mode="json", exclude_none=True)


def header(cell: Cell, status: Status, reason: str | None = None) -> dict:
    """The fields every record starts with: the cell, what runs it, and its outcome."""
    b = BACKENDS[cell.backend]
    return {
        "schema_version": SCHEMA_VERSION,
        **cell.fields(),
        "runtime": b.title,
        "framework": b.framework,
        "row": b.row,
        "label": b.label,
        "variant_label": b.variant(cell.variant).label,
        "device": b.device,
        "provider": b.provider or None,
        "status": status,
        "reason": reason,
        "created_utc": now_utc(),
    }


def now_utc(timespec: str = "seconds") -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec=timespec)


def error_record(cell: Cell, reason: str, retryable: bool, **fields) -> Record:
    """The record of a cell whose job failed: killed, cancelled, crashed, or an error of the cell itself."""
    from infbench.planning.envinfo import host

    return Record(**header(cell, ERROR, reason), retryable=retryable, host=host(), **fields)


def describe(error: ValidationError, limit: int = 3) -> str:
    """A validation error as one line: where in the record, and what is wrong there."""
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    more = f" (and {error.error_count() - limit} more)" if error.error_count() > limit else ""
    return "; ".join(parts) + more


def read_record(path: str | Path) -> Record:
    """A record from its file; raise ValueError naming the file and what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable record ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema_version") not in (2, SCHEMA_VERSION):
        version = data.get("schema_version") if isinstance(data, dict) else None
        raise ValueError(f"{path}: a record of schema version {version}; this workflow reads 2 and {SCHEMA_VERSION}")
    try:
        return Record.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{path}: not a valid record ({describe(exc)})") from exc


def write_record(path: str | Path, record: Record) -> None:
    """Write a record, checked against its definition first (a record that does not validate is never written)."""
    write_json(path, Record.model_validate(record.dump()).dump())


def load_records(paths) -> list[Record]:
    return [read_record(p) for p in paths]


def record_json_schema() -> dict:
    """The JSON Schema of a record, as workflow/schemas/record.schema.json holds it."""
    schema = Record.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = "One cell's result, written by the timing rules (src/infbench/results/records.py generates this file)."
    return schema
