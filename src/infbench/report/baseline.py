"""What a run's records are compared with: each cell's previous measurement, a run folder, or a point in the history.

A run folder (a committed result such as docs/results/cpu-2core, a results/ folder copied from
elsewhere) is read through the summary.json it holds and the records it cites, in any layout this
workflow wrote. A point in time reads, for each cell of this run, the newest history entry made at
or before it. Cells are paired by their identity (machine, model, backend, variant, precision,
batch); whether a pair can be compared is the verdict's to say (infbench.results.changes).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from infbench.artifacts import read_json
from infbench.errors import BenchError
from infbench.planning.cells import Cell
from infbench.report.summary import cited_records, summary_models
from infbench.results.changes import Change, Threshold, compare_records, shown_status
from infbench.results.consistency import expected_cell
from infbench.results.history import latest, previous
from infbench.results.records import OK, Record, read_record

ModelKey = tuple[str, int, int]  # architecture, image size, classes


@dataclass
class Side:
    """One side of a comparison: records by cell, where each was read from, and the models they measured."""

    name: str
    records: dict[Cell, tuple[Record, str]] = field(default_factory=dict)
    models: dict[str, ModelKey] = field(default_factory=dict)

    def add(self, record: Record, source: str) -> None:
        """A record, under the cell its path names (a record copied over another cell's is that cell's, inconsistent)."""
        self.records[expected_cell(record, source)] = (record, source)
        if (info := record.model_info) is not None:
            self.models.setdefault(record.model, (info.architecture, info.image_size, info.num_classes))


@dataclass
class Comparison:
    changes: list[Change]
    same: int  # cells whose record is the same measurement on both sides
    only_old: list[Cell]
    only_new: list[Cell]
    missing: list[Cell] = field(default_factory=list)  # of only_old: measured there, absent here (a regression)

    def unpaired(self, old: str, new: str) -> list[str]:
        """The cells left out of the comparison, counted; those measured in `old` and missing from `new` named."""
        lines = [f"The same measurement in both: {self.same} cells (not measured again)."] if self.same else []
        lines += [f"Only in {old}: {len(self.only_old)} cells."] if self.only_old else []
        lines += [f"Only in {new}: {len(self.only_new)} cells."] if self.only_new else []
        if self.missing:
            lines.append(f"Measured in {old} and missing from {new} (a regression): "
                         + ", ".join(cell.name for cell in self.missing) + ".")
        return lines

    @property
    def regressed(self) -> list[Change]:
        return [c for c in self.changes if c.regressed]

    def as_json(self, old: str, new: str, threshold: Threshold) -> dict:
        """changes.json: every pair with its verdict, and the cells left out."""
        return {"baseline": old, "run": new, "threshold": asdict(threshold), "changes": [c.as_dict() for c in self.changes],
                "same_measurement": self.same, "only_in_baseline": [c.fields() for c in self.only_old],
                "only_in_run": [c.fields() for c in self.only_new], "missing_from_run": [c.fields() for c in self.missing]}


def history_changes(results: str | Path, records: list[Record], paths: list[str], threshold: Threshold,
                    log: logging.Logger) -> list[Change]:
    """Each record against the measurement it replaced (its cell's newest earlier history entry), where there is one."""
    changes = []
    for record, path in zip(records, paths, strict=True):
        if (entry := previous(results, record, log)) is not None:
            changes.append(compare_records(entry.record, record, threshold, str(entry.path), path))
    return changes


def _describe(key: ModelKey) -> str:
    architecture, size, classes = key
    return f"{architecture} at {size}x{size} with {classes} classes"


def read_run(folder: str | Path) -> Side:
    """A run folder's records, as its summary.json cites them; bad input is one line naming the folder."""
    folder = Path(folder)
    folder = folder.parent if folder.name == "summary.json" and folder.is_file() else folder
    if not folder.exists():
        raise BenchError(f"{folder}: does not exist (give a run's result folder, holding summary.json and its records)")
    if not (folder / "summary.json").is_file():
        raise BenchError(f"{folder}: holds no records (no summary.json)")
    try:
        summary = read_json(folder / "summary.json")
        paths, models = cited_records(summary), summary_models(summary)
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{folder}: summary.json is not one this workflow wrote ({type(exc).__name__}: {exc})") from exc
    if not paths:
        raise BenchError(f"{folder}: holds no records (its summary.json cites none)")
    side = Side(str(folder))
    for path in paths:
        try:
            side.add(read_record(folder / path), str(folder / path))
        except ValueError as exc:
            raise BenchError(str(exc)) from exc
    side.models |= {name: (m.card["architecture"], m.card["image_size"], m.card["num_classes"]) for name, m in models.items()}
    return side


def history_point(results: str | Path, cells: list[Cell], when: dt.datetime, log: logging.Logger) -> Side:
    """The cells of a run as they stood at `when`: each cell's newest history entry made then or before."""
    side = Side(f"{Path(results) / 'history'} at {when.isoformat()}")
    for cell in cells:
        if (entry := latest(results, cell, when, log, inclusive=True)) is not None:
            side.add(entry.record, str(entry.path))
    if not side.records:
        raise BenchError(f"{Path(results) / 'history'}: holds no records made at or before {when.isoformat()}")
    return side


def check_models(old: Side, new: Side) -> None:
    """The two sides measured a model in common, and a model's name means the same architecture, input and classes."""
    for name in old.models.keys() & new.models.keys():
        if old.models[name] != new.models[name]:
            raise BenchError(f"{old.name}: holds records of {_describe(old.models[name])}, not "
                             f"{_describe(new.models[name])} like {new.name}")
    if old.models and new.models and not old.models.keys() & new.models.keys():
        theirs = ", ".join(_describe(key) for key in old.models.values())
        raise BenchError(f"{old.name}: holds records of {theirs}, none of the models of {new.name} "
                         f"({', '.join(_describe(key) for key in new.models.values())})")


def compare(old: Side, new: Side, threshold: Threshold) -> Comparison:
    """Every cell of `new` against the same cell of `old`, in `new`'s order."""
    check_models(old, new)
    changes, same = [], 0
    for cell, (record, source) in new.records.items():
        if cell not in old.records:
            continue
        before, before_source = old.records[cell]
        if before == record:
            same += 1
            continue
        changes.append(compare_records(before, record, threshold, before_source, source))
    only_old = [cell for cell in old.records if cell not in new.records]
    only_new = [cell for cell in new.records if cell not in old.records]
    missing = [cell for cell in only_old if shown_status(*old.records[cell]) == OK]
    return Comparison(changes, same, only_old, only_new, missing)
