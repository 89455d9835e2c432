"""Across models: which model and runtime pair is fastest, models as rows and runtimes as columns."""

from __future__ import annotations

from infbench.planning.catalog import BACKENDS
from infbench.report.fastest import best_of, runtimes_in
from infbench.report.rows import SummaryRow
from infbench.report.text import Footnotes, format_ips, format_ms, markdown

MATRIX_INTRO = (
    "Each runtime at its best on each model (the fastest variant and precision that passed the parity check), with "
    "that cell's top-1 accuracy on the held-out images. GPU cells device resident, CPU cells end to end."
)


def _accuracy(row: SummaryRow) -> str:
    return f"top-1 {row.top1_accuracy:.3f}" if row.top1_accuracy is not None else "top-1 not measured"


def _latency_cell(row: SummaryRow | None) -> str:
    if row is None:
        return "–"
    return f"{format_ms(row.mean_ms(row.best_mode))} ({row.variant_label}, {row.precision}; {_accuracy(row)})"


def _throughput_cell(row: SummaryRow | None) -> str:
    if row is None:
        return "–"
    return f"{format_ips(row.throughput(row.best_mode))} ({row.variant_label}, {row.precision}, batch {row.batch_size}; {_accuracy(row)})"


def across_models(rows: list[SummaryRow], models: list[str], machines: list[str], notes: Footnotes) -> list[str]:
    """Two matrices per machine, fastest batch-1 latency and best throughput: models as rows, runtimes as columns."""
    runtimes = runtimes_in(rows)
    parts = [MATRIX_INTRO, ""]
    for machine in machines:
        for title, pick, cell in (("Latency, batch 1", "latency", _latency_cell), ("Throughput", "throughput", _throughput_cell)):
            table = []
            for model in models:
                mine = [r for r in rows if r.model == model]
                table.append([model, *(cell(getattr(best_of(mine, machine, b), pick)) for b in runtimes)])
            heading = title if len(machines) == 1 else f"{title}, {machine}"
            parts += [f"### {heading}", "", markdown(table, ["Model", *(BACKENDS[b].title for b in runtimes)]), ""]
    return parts
