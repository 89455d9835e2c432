"""Every record a timing job writes, kept: results/history/<cell>/<when it was made>.json.

Snakemake deletes a job's output before the job runs, so a cell measured again would leave no trace
of the measurement it replaces. Each timing job therefore writes its record twice: to its place under
results/records (the run as it stands) and to the cell's history, one file per measurement, named by
the record's `created_utc`. A record carries the versions, code digests and host that produced it,
so a history entry says what it measured with, and any two entries of a cell can be compared.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from infbench.planning.cells import Cell
from infbench.planning.layout import RESULTS
from infbench.results.records import Record, read_record, write_record

STAMP = "%Y%m%dT%H%M%SZ"  # a file name on any file system, sorting as time does


def stamp(created_utc: str) -> str:
    """'2026-11-29T06:35:34+00:00' -> '20261129T063534Z'."""
    return parse_time(created_utc).strftime(STAMP)


def parse_time(text: str) -> dt.datetime:
    """A time as a record or a history file names it (ISO 8601, either form), in UTC; naive times are UTC."""
    when = dt.datetime.fromisoformat(text)
    return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(dt.timezone.utc)


def cell_folder(results: str | Path, cell: Cell) -> Path:
    """A cell's history under a results folder: its record's path with 'records' made 'history', less '.json'."""
    relative = Path(cell.record_path).relative_to(RESULTS)
    return Path(results) / "history" / relative.relative_to("records").with_suffix("")


def _order(path: Path) -> tuple[str, int]:
    """Entries made in the same second are numbered: <stamp>.json, <stamp>-2.json, ..."""
    name, _, number = path.stem.partition("-")
    return name, int(number) if number.isdigit() else 1


def entries(results: str | Path, cell: Cell) -> list[Path]:
    """A cell's history files, oldest first."""
    folder = cell_folder(results, cell)
    return sorted(folder.glob("*.json"), key=_order) if folder.is_dir() else []


def keep(record: Record, results: str | Path = RESULTS) -> Path:
    """Write a copy of `record` into its cell's history (atomically, as the record itself is written)."""
    folder = cell_folder(results, record.cell)
    name = stamp(record.created_utc)
    path, number = folder / f"{name}.json", 1
    while path.exists():  # another measurement of the cell in the same second: both are kept
        number += 1
        path = folder / f"{name}-{number}.json"
    write_record(path, record)
    return path


@dataclass(frozen=True)
class Entry:
    path: Path
    record: Record


def _readable(path: Path, log: logging.Logger) -> Record | None:
    try:
        return read_record(path)
    except ValueError as exc:
        log.warning("history: skipped %s", exc)
        return None


def latest(results: str | Path, cell: Cell, before: dt.datetime, log: logging.Logger, inclusive: bool = False) -> Entry | None:
    """The newest readable entry of a cell made before `before` (or at it, where `inclusive`); unreadable ones are logged and skipped."""
    for path in reversed(entries(results, cell)):
        try:
            made = parse_time(_order(path)[0])
        except ValueError:
            log.warning("history: skipped %s: its name is not a time", path)
            continue
        if made < before or (inclusive and made == before):
            if (record := _readable(path, log)) is not None:
                return Entry(path, record)
    return None


def previous(results: str | Path, record: Record, log: logging.Logger) -> Entry | None:
    """The measurement of the same cell that `record` replaced: the newest entry made before it."""
    return latest(results, record.cell, parse_time(record.created_utc), log)
