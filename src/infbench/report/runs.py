"""Runs made elsewhere, read back for a comparison: their summaries, checked to measure comparable models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infbench.errors import BenchError
from infbench.planning.cells import LOCAL_MACHINE, summary_path
from infbench.report.rows import SummaryRow, machines_in
from infbench.report.summary import RunSummary, read_summary

MODEL_KEY = ("architecture", "image_size", "num_classes")


@dataclass
class LoadedRun:
    path: Path  # the run's summary.json
    summary: RunSummary
    rows: list[SummaryRow]  # its cells, machines renamed where the run measured 'local' alone, with their sources

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def first_card(self) -> dict:
        return next(iter(self.summary.models.values())).card


def _read(i: int, run: str | Path) -> LoadedRun:
    path = summary_path(run)
    try:
        summary = read_summary(path)
    except ValueError as exc:
        raise BenchError(f"compare.runs[{i}]: {exc}") from exc
    machines = machines_in(summary.cells)
    rename = {LOCAL_MACHINE: path.parent.name} if machines == [LOCAL_MACHINE] else {}
    rows = [
        row.model_copy(update={"machine": rename.get(row.machine, row.machine), "source": str(path.parent / row.record)})
        for row in summary.cells
    ]
    return LoadedRun(path, summary, rows)


def _check_models(runs: list[LoadedRun]) -> None:
    """Every run shares a model with the first, and a model name means the same architecture, input size and classes."""
    seen: dict[str, tuple[tuple, Path]] = {}
    first = runs[0]
    for i, run in enumerate(runs):
        if not set(run.summary.models) & set(first.summary.models):
            theirs = run.first_card
            raise BenchError(
                f"compare.runs[{i}]: {run.path} holds records of {theirs['architecture']} at "
                f"{theirs['image_size']}x{theirs['image_size']} with {theirs['num_classes']} classes, none of the models of "
                f"{first.path} ({', '.join(first.summary.models)})"
            )
        for name, model in run.summary.models.items():
            key = tuple(model.card[k] for k in MODEL_KEY)
            if name in seen and seen[name][0] != key:
                (arch, size, classes), first = seen[name]
                raise BenchError(
                    f"compare.runs[{i}]: {run.path} holds records of {key[0]} at {key[1]}x{key[1]} with {key[2]} classes, "
                    f"not {arch} at {size}x{size} with {classes} classes like {first}"
                )
            seen.setdefault(name, (key, run.path))


def _check_machines(runs: list[LoadedRun]) -> None:
    seen: dict[str, Path] = {}
    for run in runs:
        for machine in machines_in(run.rows):
            if machine in seen:
                raise BenchError(f"machine '{machine}' is in two runs ({seen[machine]} and {run.path}): name them apart")
            seen[machine] = run.path


def load_runs(runs: list[str | Path]) -> list[LoadedRun]:
    """Read each run's summary.json; check that they measured the same models and input, and label their machines.

    A run that measured this computer alone ('local') is named after its folder (docs/results/h200 -> h200).
    """
    if not runs:
        raise BenchError("compare.runs: no runs to compare (give result folders or their summary.json files)")
    loaded = [_read(i, run) for i, run in enumerate(runs)]
    _check_models(loaded)
    _check_machines(loaded)
    return loaded
