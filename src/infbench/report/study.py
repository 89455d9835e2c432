"""The study's table: rows CPU / CUDA / TensorRT, columns PyTorch / ONNX Runtime / TensorRT, one machine."""

from __future__ import annotations

from infbench.planning.catalog import BACKENDS, COLUMN_ARTIFACTS, COLUMNS, ROWS, backend_at
from infbench.report.rows import INCONSISTENT, UNREADABLE, SummaryRow
from infbench.report.text import Footnotes, format_ms, markdown, status_note
from infbench.results.records import MISMATCH, OK, SKIPPED

MARKS = {SKIPPED: "–", MISMATCH: "✗ mismatch", INCONSISTENT: "✗ inconsistent record", UNREADABLE: "✗ unreadable record"}


def headline(precisions: list[str], batch_sizes: list[int]) -> tuple[str, int]:
    """The configuration the study's table shows: fp32 and batch 1 where measured (the study's)."""
    precision = "fp32" if "fp32" in precisions else precisions[0]
    batch = 1 if 1 in batch_sizes else min(batch_sizes)
    return precision, batch


def cell_text(row: SummaryRow | None, backend_name: str, preferred: str, notes: Footnotes) -> str:
    if row is None:
        return "not run" + notes.ref(f"{backend_name}: not in benchmark.backends of the configuration")
    if row.status == OK:
        timing = row.timing(row.shown_mode(preferred))
        text = format_ms(timing.mean_ms)
        if label := BACKENDS[backend_name].label:
            text += f" ({label})"
        if timing.noisy:
            text += " ~" + notes.ref(
                f"{backend_name} on {row.machine} ({row.label}, batch {row.batch_size}): noisy, coefficient of "
                f"variation {timing.cv:.1%} (p50 {format_ms(timing.p50_ms)}, p99 {format_ms(timing.p99_ms)})"
            )
        return text
    return MARKS.get(row.status, "error") + notes.ref(status_note(row))


def study_table(rows: list[SummaryRow], machine: str, backends: list[str], precision: str, batch: int, preferred: str,
                notes: Footnotes) -> str:
    """The study's cells on one machine (and one model): each runtime's default variant at `precision` and `batch`."""
    by_key = {
        (r.backend, r.precision, r.batch_size): r
        for r in rows
        if r.machine == machine and r.variant == BACKENDS[r.backend].default_variant
    }
    table = []
    for study_row in ROWS:
        cells = []
        for column in COLUMNS:
            backend = backend_at(column, study_row)
            if backend is None:
                cells.append("-")
            else:
                row = by_key.get((backend.name, precision, batch)) if backend.name in backends else None
                cells.append(cell_text(row, backend.name, preferred, notes))
        table.append([study_row, *cells])
    return markdown(table, ["Device", *(f"{c} ({COLUMN_ARTIFACTS[c]})" for c in COLUMNS)])
