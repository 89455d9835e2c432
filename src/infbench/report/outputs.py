"""Writing a run's report files from its summary: table.md, summary.json, summary.csv and the chart.

The aggregate step writes them from the run's records; tools/rerender.py writes them again for a
finished run folder (a committed result, or one made by an earlier version of the workflow).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infbench.artifacts import atomic_path, write_text
from infbench.report.chart import plot
from infbench.report.document import render_run
from infbench.report.loadchart import plot_load
from infbench.report.rows import load_rows
from infbench.report.serving import scenario_rows
from infbench.report.summary import (
    SUMMARY_SCHEMA_VERSION,
    RunSummary,
    cited_records,
    parity_notes,
    summary_models,
    write_summary,
)
from infbench.results.changes import Change
from infbench.results.serving_records import read_serving_record


@dataclass(frozen=True)
class ReportFiles:
    table: Path
    csv: Path
    json: Path
    png: Path
    svg: Path
    # The latency-throughput curve, where the run served any scenario cell (the workflow's rule load_chart draws it).
    load_png: Path | None = None
    load_svg: Path | None = None

    @classmethod
    def in_folder(cls, folder: Path) -> ReportFiles:
        return cls(folder / "table.md", folder / "summary.csv", folder / "summary.json", folder / "latency.png",
                   folder / "latency.svg", folder / "load.png", folder / "load.svg")


def write_report(summary: RunSummary, files: ReportFiles, changes: list[Change] = ()) -> None:
    """The run's files; `changes` (each cell against its previous measurement) make table.md's "What changed"."""
    import pandas as pd

    write_text(files.table, render_run(summary, changes))
    with atomic_path(files.csv) as tmp:
        pd.DataFrame([row.flat() for row in summary.cells]).to_csv(tmp, index=False)
    write_summary(files.json, summary)
    with atomic_path(files.png) as png, atomic_path(files.svg) as svg:
        plot(summary.cells, png, svg)
    if summary.serving and files.load_png and files.load_svg:
        with atomic_path(files.load_png) as png, atomic_path(files.load_svg) as svg:
            plot_load(summary.serving, png, svg)


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def summary_from_folder(folder: Path) -> RunSummary:
    """A finished run's summary made again from the records its summary.json cites."""
    old = _read(folder / "summary.json")
    paths = cited_records(old)
    settings = old["settings"]
    rows, _ = load_rows([folder / p for p in paths], paths, settings.get("noisy_cv"))
    if old.get("schema_version") == SUMMARY_SCHEMA_VERSION:
        installed, repaired = old.get("installed", {}), old.get("repaired", "")
    else:
        installed, repaired = {}, ""
    notes = parity_notes(rows, settings["parity_images"]) if "parity_images" in settings else []
    served = [row["record"] for row in old.get("serving", [])]
    serving = scenario_rows([read_serving_record(folder / p) for p in served], served)
    return RunSummary(models=summary_models(old), settings=settings, installed=installed, notes=notes, repaired=repaired,
                      cells=rows, serving=serving)
