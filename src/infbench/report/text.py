"""Formatting shared by the tables: numbers, footnotes, Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field

from tabulate import tabulate

from infbench.report.rows import SummaryRow
from infbench.results.records import SKIPPED


def format_ms(value: float) -> str:
    return f"{value:.2f} ms" if value >= 10 else f"{value:.3f} ms"


def format_ips(value: float) -> str:
    return f"{value:,.0f} img/s" if value >= 100 else f"{value:.1f} img/s"


def format_s(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 10:
        return f"{value:.0f} s"
    return f"{value:.1f} s" if value >= 1 else f"{value:.2g} s"  # a CUDA graph's capture: 0.045 s, not 0.0 s


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(rows: list[list], headers: list[str]) -> str:
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True, missingval="")


@dataclass
class Footnotes:
    """Numbered Markdown footnotes; identical texts share a number."""

    texts: list[str] = field(default_factory=list)

    def ref(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[^{self.texts.index(text) + 1}]"

    def render(self) -> str:
        return "\n".join(f"[^{i}]: {text}" for i, text in enumerate(self.texts, 1))


def status_note(row: SummaryRow) -> str:
    """The footnote of a cell that shows no time: which runtime, what happened, why.

    A skip's reason usually holds for every variant, precision and batch size of a runtime on a
    machine, so those share one note.
    """
    where = f" on {row.machine}"
    if row.status == SKIPPED:
        return f"{row.backend}{where}: skipped, {row.reason}"
    again = "; the next run measures it again" if row.retryable else ""
    return f"{row.backend}{where} ({row.label}, batch {row.batch_size}): {row.status}, {row.reason}{again}"
