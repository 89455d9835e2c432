"""Result records: one JSON file per cell (backend x precision x batch size)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from infbench.artifacts import read_json
from infbench.backends.base import CellRequest
from infbench.catalog import BACKENDS
from infbench.cells import Cell
from infbench.envinfo import host

SCHEMA_VERSION = 2  # 2: machine and variant are part of a cell's identity
OK, SKIPPED, MISMATCH, ERROR = "ok", "skipped", "mismatch", "error"
STATUSES = (OK, SKIPPED, MISMATCH, ERROR)
TIMING_MODES = ("end_to_end", "device_resident")


def _header(cell: Cell, status: str | None, reason: str | None) -> dict:
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
    }


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_record(request: CellRequest) -> dict:
    cell = Cell(request.machine, request.backend.name, request.variant_name, request.precision, request.batch_size)
    return {
        **_header(cell, None, None),
        "model": {
            "architecture": request.architecture,
            "image_size": request.image_size,
            "num_classes": request.num_classes,
        },
        "created_utc": _now(),
    }


def error_record(cell: Cell, reason: str) -> dict:
    """The record of a cell whose job ended without writing one (killed, cancelled, crashed)."""
    return {**_header(cell, ERROR, reason), "host": host(), "created_utc": _now()}


def validate_record(record: dict, source: str | Path = "record") -> dict:
    """Check the fields the report relies on; raise ValueError naming the file otherwise."""
    for key in ("machine", "backend", "variant", "precision", "batch_size", "status"):
        if key not in record:
            raise ValueError(f"{source}: missing '{key}' (a record of schema version {record.get('schema_version')}, "
                             f"this workflow writes {SCHEMA_VERSION})")
    if record["status"] not in STATUSES:
        raise ValueError(f"{source}: status {record['status']!r} is not one of {STATUSES}")
    if record["status"] == OK:
        timing = record.get("timing", {})
        if not any(mode in timing for mode in TIMING_MODES):
            raise ValueError(f"{source}: status ok but no timing")
    elif not record.get("reason"):
        raise ValueError(f"{source}: status {record['status']} needs a reason")
    return record


def load_records(paths) -> list[dict]:
    return [validate_record(read_json(p), p) for p in paths]

