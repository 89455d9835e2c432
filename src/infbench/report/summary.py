"""summary.json: one run's rows with what the tables around them need, typed, written and read by one definition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from infbench.artifacts import write_json
from infbench.report.rows import SummaryRow
from infbench.report.serving import ScenarioRow
from infbench.results.records import describe

SUMMARY_SCHEMA_VERSION = 3  # 3: typed rows with nested timing, one entry per model


class ModelSummary(BaseModel):
    """One model of a run: its card (training, accuracy), its ONNX export and ONNX Runtime's check of it."""

    model_config = ConfigDict(extra="forbid")

    card: dict[str, Any]
    onnx_export: dict[str, Any] = {}
    onnx_check: dict[str, Any] = {}


class RunSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SUMMARY_SCHEMA_VERSION
    models: dict[str, ModelSummary]
    settings: dict[str, Any]
    installed: dict[str, str | None] = {}  # library versions installed where the run was aggregated
    notes: list[str] = []  # what the run's report says about its inputs (parity images fewer than asked...)
    repaired: str = ""  # what this summary was written again for (infbench.results.rerun.repair)
    cells: list[SummaryRow]
    serving: list[ScenarioRow] = []  # the scenario cells (under load), where the run served any


def write_summary(path: str | Path, summary: RunSummary) -> None:
    # A run that served nothing writes the summary it wrote before scenario cells existed.
    write_json(path, summary.model_dump(mode="json", exclude=None if summary.serving else {"serving"}))


def read_summary(path: str | Path) -> RunSummary:
    """A run's summary.json; raise ValueError naming the file and what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable summary.json ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema_version") != SUMMARY_SCHEMA_VERSION:
        version = data.get("schema_version") if isinstance(data, dict) else None
        raise ValueError(
            f"{path} was written by another version of this workflow (summary schema {version}, not "
            f"{SUMMARY_SCHEMA_VERSION}); write it again from its records: python tools/rerender.py {Path(path).parent}"
        )
    try:
        return RunSummary.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{path} is not a valid summary.json ({describe(exc)})") from exc


def summary_models(summary: dict) -> dict[str, ModelSummary]:
    """The models a summary.json describes, whichever version wrote it (schema 2 held one model)."""
    if summary.get("schema_version") == SUMMARY_SCHEMA_VERSION:
        return {name: ModelSummary.model_validate(m) for name, m in summary["models"].items()}
    card = summary["model"]
    return {card["architecture"]: ModelSummary(card=card, onnx_export=summary.get("onnx_export", {}),
                                               onnx_check=summary.get("onnx_check", {}))}


def cited_records(summary: dict) -> list[str]:
    """The records a summary.json cites, relative to its folder."""
    return [row["record"] for row in summary["cells"]]


def parity_notes(rows: list[SummaryRow], asked: int) -> list[str]:
    """Where a model's cells were judged on fewer held-out images than parity.images asks for (its data holds fewer)."""
    notes = []
    for model in dict.fromkeys(r.model for r in rows):
        used = {r.parity_images for r in rows if r.model == model and r.parity_images is not None}
        if used and max(used) < asked:
            notes.append(f"{model}: parity used {max(used)} held-out images, not the {asked} that parity.images asks "
                         f"for: the data holds no more")
    return notes
