"""Each runtime at its best: the fastest variant x precision that passed parity, per machine.

Latency is read at batch 1, throughput at the batch that gives the most images per second. A
runtime at its best keeps inputs and outputs on the device where it has one (device-resident
timing on a GPU); on a CPU the two timings are the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from infbench.planning.catalog import BACKENDS, QUANTIZED
from infbench.report.rows import SummaryRow
from infbench.report.text import Footnotes, format_ips, format_ms, format_s, markdown
from infbench.results.records import OK, SKIPPED


@dataclass
class Best:
    latency: SummaryRow | None  # the row of the fastest cell at batch 1
    throughput: SummaryRow | None  # the row of the cell with the most images per second
    why_none: str | None  # where there is no winner: why


def _why_none(mine: list[SummaryRow]) -> str:
    if not mine:
        return "not run on this machine"
    reasons = sorted({r.reason for r in mine if r.status == SKIPPED})
    if len(reasons) == 1 and all(r.status == SKIPPED for r in mine):
        return f"skipped: {reasons[0]}"
    counts = {s: sum(r.status == s for r in mine) for s in sorted({r.status for r in mine})}
    return "no cell passed parity and was timed (" + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")"


def best_of(rows: list[SummaryRow], machine: str, backend: str) -> Best:
    mine = [r for r in rows if r.machine == machine and r.backend == backend]
    ok = [r for r in mine if r.status == OK]
    # One request at a time: OpenVINO's throughput hint keeps several in flight, which is no latency.
    single = [r for r in ok if r.batch_size == 1 and r.timing(r.best_mode).images_per_step == 1]
    latency = min(single, key=lambda r: r.mean_ms(r.best_mode), default=None)
    most = max(ok, key=lambda r: r.throughput(r.best_mode), default=None)
    why = None
    if not ok:
        why = _why_none(mine)
    elif latency is None:
        why = "no cell ran at batch 1 with one request at a time"
    return Best(latency, most, why)


def _noisy(row: SummaryRow) -> str:
    return " ~" if row.timing(row.best_mode).noisy else ""


def accuracy_text(row: SummaryRow) -> str:
    """Beside a quantized cell's number, what it costs: its top-1 accuracy and the share of fp32's it keeps."""
    if row.precision not in QUANTIZED or row.top1_accuracy is None:
        return ""
    return f"; top-1 {row.top1_accuracy:.3f}, {row.accuracy_ratio:.1%} of fp32"


def latency_text(row: SummaryRow, with_build: bool = False) -> str:
    build = f"; build {format_s(row.build_s)}" if with_build and row.build_s else ""
    return (f"{format_ms(row.mean_ms(row.best_mode))}{_noisy(row)} ({row.variant_label}, {row.precision}"
            f"{accuracy_text(row)}{build})")


def throughput_text(row: SummaryRow, with_build: bool = False) -> str:
    build = f"; build {format_s(row.build_s)}" if with_build and row.build_s else ""
    return (f"{format_ips(row.throughput(row.best_mode))}{_noisy(row)} "
            f"({row.variant_label}, {row.precision}, batch {row.batch_size}{accuracy_text(row)}{build})")


def runtimes_in(rows: list[SummaryRow]) -> list[str]:
    present = {r.backend for r in rows}
    return [name for name in BACKENDS if name in present]


def fastest_table(rows: list[SummaryRow], machines: list[str], notes: Footnotes) -> str:
    """One machine: latency and throughput with their build times. Several: machines side by side."""
    table = []
    if len(machines) == 1:
        machine = machines[0]
        for backend in runtimes_in(rows):
            best = best_of(rows, machine, backend)
            none = "–" + notes.ref(f"{backend} on {machine}: {best.why_none}") if best.why_none else ""
            table.append([
                BACKENDS[backend].title,
                latency_text(best.latency) if best.latency else none,
                format_s(best.latency.build_s) if best.latency else "",
                throughput_text(best.throughput) if best.throughput else none,
                format_s(best.throughput.build_s) if best.throughput else "",
            ])
        headers = ["Runtime", "Latency, batch 1", "Build", "Throughput", "Build"]
        return markdown(table, headers)
    for backend in runtimes_in(rows):
        line = [BACKENDS[backend].title]
        for machine in machines:
            best = best_of(rows, machine, backend)
            none = "–" + notes.ref(f"{backend} on {machine}: {best.why_none}") if best.why_none else ""
            line.append(latency_text(best.latency, with_build=True) if best.latency else none)
            line.append(throughput_text(best.throughput, with_build=True) if best.throughput else none)
        table.append(line)
    headers = ["Runtime"] + [f"{m}: {what}" for m in machines for what in ("latency, batch 1", "throughput")]
    return markdown(table, headers)


def winners(rows: list[SummaryRow], machines: list[str]) -> list[tuple[str, str, str, SummaryRow]]:
    """(machine, runtime, 'latency' or 'throughput', row) of every number in the fastest table."""
    found = []
    for machine in machines:
        for backend in runtimes_in(rows):
            best = best_of(rows, machine, backend)
            for kind, row in (("latency", best.latency), ("throughput", best.throughput)):
                if row is not None:
                    found.append((machine, BACKENDS[backend].title, kind, row))
    return found
