"""A scenario cell's record: one typed definition, written and read through it (schema in workflow/schemas/).

Like a timing cell's `Record`: the serving job writes a `ServingRecord`, the report reads it back
through the same model, and workflow/schemas/serving_record.schema.json is generated from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from infbench.artifacts import write_json
from infbench.planning.catalog import BACKENDS
from infbench.planning.scenarios import ScenarioCell
from infbench.results.records import OK, Host, Isolation, Parity, Status, Strict, describe, now_utc

SERVING_SCHEMA_VERSION = 1
Mode = Literal["PerformanceOnly", "AccuracyOnly"]


class LatencyStats(Strict):
    """LoadGen's latency statistics of a run, in milliseconds (of queries in MultiStream, of samples otherwise)."""

    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p97: float
    p99: float
    p999: float
    max: float


class Responses(Strict):
    """What the serving loop answered: each sample LoadGen asked for must be answered once."""

    issued: int = Field(ge=0)  # samples LoadGen asked for
    answered: int = Field(ge=0)  # answers passed on to LoadGen
    duplicates: int = Field(0, ge=0)  # second answers for a sample (kept from LoadGen)
    unknown: int = Field(0, ge=0)  # answers for samples LoadGen never asked for, or asked for and already given up on
    lost: int = Field(0, ge=0)  # samples never answered: answered empty after serving.stall_timeout_s so that LoadGen ends
    failure: str | None = None  # the serving loop's own error, where it raised one

    @property
    def intact(self) -> bool:
        return not (self.duplicates or self.unknown or self.lost or self.failure) and self.answered == self.issued

    def problem(self) -> str | None:
        """The serving loop's faults in words, or None."""
        faults = [f"{n} {what}" for n, what in ((self.lost, "samples never answered"), (self.duplicates, "answers given twice"),
                                               (self.unknown, "answers for samples not asked for")) if n]
        if self.failure:
            faults.insert(0, f"the serving loop failed: {self.failure}")
        return "; ".join(faults) or None


class LoadGenRun(Strict):
    """One LoadGen test: what it was asked, what it measured and whether it calls the run VALID (and why not)."""

    mode: Mode
    scenario: str  # LoadGen's scenario
    logs: str  # the folder of its mlperf_log_summary.txt and mlperf_log_detail.txt, relative to the record's folder
    valid: bool | None = None  # LoadGen's "Result is": performance runs only
    reasons: list[str] = []  # why LoadGen calls it INVALID, in its words
    errors: list[str] = []  # LoadGen's logged errors and warnings
    target_qps: float | None = None  # Server: the rate LoadGen schedules
    samples_per_query: int = 1
    queries: int | None = None
    over_bound: int | None = None  # Server: queries whose latency passed the bound
    samples_per_s: float | None = None  # Server: completed; Offline: LoadGen's score; the stream scenarios: queries/s x samples
    latency_ms: LatencyStats | None = None
    early_stopping: str | None = None
    wall_s: float
    responses: Responses


class AccuracyCheck(Strict):
    """LoadGen's AccuracyOnly run over the held-out images, each answer judged against the reference as the parity gate does."""

    passed: bool
    failures: list[str] = []
    samples: int  # held-out images LoadGen asked for, each once
    answered: int  # samples with exactly one well-formed answer in mlperf_log_accuracy.json
    missing: int = 0
    duplicated: int = 0
    malformed: int = 0  # answers of the wrong size
    parity: Parity | None = None
    run: LoadGenRun


class TimingReference(Strict):
    """The batch-1 timing cell a scenario cell depends on."""

    record: str
    status: str
    reason: str | None = None
    mean_ms: float | None = None  # its end-to-end latency at batch 1
    one_at_a_time_qps: float | None = None  # the rate one request at a time allows: 1000 / mean_ms
    note: str | None = None  # why one_at_a_time_qps is absent


class ServingRecord(Strict):
    schema_version: int = SERVING_SCHEMA_VERSION
    # The cell (infbench.planning.scenarios.ScenarioCell) and what runs it.
    machine: str
    model: str
    backend: str
    variant: str
    precision: str
    scenario: str
    runtime: str
    variant_label: str
    device: str
    loop: dict[str, Any] = {}  # the serving loop as declared (kind and settings) and as resolved here
    loop_label: str = ""
    # The outcome.
    status: Status
    reason: str | None = None
    created_utc: str
    code: dict[str, str] = {}
    settings: dict[str, Any] = {}
    timing_cell: TimingReference | None = None
    valid: bool | None = None  # LoadGen's verdict on the run that counts
    reasons: list[str] = []  # why it is INVALID
    metric: str | None = None  # what `value` is: "p90 latency", "samples/s at the bound"...
    value: float | None = None
    unit: str | None = None  # "ms" or "samples/s"
    run: LoadGenRun | None = None  # the run that counts (its logs are the cell's folder's top level)
    steps: list[LoadGenRun] = []  # Server: every run of the search; Offline: the run that sized the query
    points: list[LoadGenRun] = []  # Sweep: one Server run per rate
    anchor_qps: float | None = None  # Sweep: the Server cell's rate its fractions apply to
    speedup_over_one_at_a_time: float | None = None  # Server: samples/s at the bound over one_at_a_time_qps
    accuracy: AccuracyCheck | None = None
    runtime_details: dict[str, Any] = {}  # what the runtime reported it ran (providers, streams, compiled precision)
    run_time_notes: list[str] = []
    loadgen: str | None = None  # LoadGen's version
    versions: dict[str, str] = {}
    host: Host | None = None
    isolation: Isolation | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ServingRecord:
        if self.status == OK and self.run is None and not self.points:
            raise ValueError("status ok but no LoadGen run")
        if self.status != OK and not self.reason:
            raise ValueError(f"status {self.status} needs a reason")
        return self

    @property
    def cell(self) -> ScenarioCell:
        return ScenarioCell(self.machine, self.model, self.backend, self.variant, self.precision, self.scenario)

    def dump(self) -> dict:
        return self.model_dump(mode="json", exclude_none=True)


def serving_header(cell: ScenarioCell, status: Status, reason: str | None = None) -> dict:
    """The fields every scenario record starts with."""
    backend = BACKENDS[cell.backend]
    loop = backend.serving_loop(cell.variant, cell.scenario)
    return {
        "schema_version": SERVING_SCHEMA_VERSION, **cell.fields(), "runtime": backend.title,
        "variant_label": backend.variant(cell.variant).label, "device": backend.device,
        "loop": loop.described(), "loop_label": loop.label(), "status": status, "reason": reason, "created_utc": now_utc(),
    }


def read_serving_record(path: str | Path) -> ServingRecord:
    """A scenario record from its file; raise ValueError naming the file and what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable scenario record ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema_version") != SERVING_SCHEMA_VERSION:
        version = data.get("schema_version") if isinstance(data, dict) else None
        raise ValueError(f"{path}: a scenario record of schema version {version}; this workflow reads {SERVING_SCHEMA_VERSION}")
    try:
        return ServingRecord.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{path}: not a valid scenario record ({describe(exc)})") from exc


def write_serving_record(path: str | Path, record: ServingRecord) -> None:
    """Write a scenario record, checked against its definition first."""
    write_json(path, ServingRecord.model_validate(record.dump()).dump())


def serving_json_schema() -> dict:
    """The JSON Schema of a scenario record, as workflow/schemas/serving_record.schema.json holds it."""
    schema = ServingRecord.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = ("One scenario cell's result, written by the serving rules (src/infbench/results/serving_records.py "
                             "generates this file).")
    return schema
