"""Whether a record agrees with its place and with itself; one that does not is shown as inconsistent, never as a number.

The cell a record names must be the cell its path names (a record copied over another cell's is not
that cell's), its status must agree with its parity (ok only where parity passed; timed with a failed
parity only where a reduced precision, fp16, bf16 or int8, was timed below its gate), and its figures must
agree with each other (mean between min and max, throughput from the mean, as many samples as calls).
Every record the runner writes where the workflow puts it passes; the summary rows and the comparison
of two measurements (infbench.report.rows, infbench.results.changes) both ask here.
"""

from __future__ import annotations

import math

from infbench.planning.catalog import BACKENDS, PRECISIONS, REDUCED
from infbench.planning.cells import Cell, named_by_path
from infbench.results.records import MISMATCH, OK, TIMING_MODES, Record, TimingBlock

INCONSISTENT = "inconsistent"  # a row status: the record contradicts its path, its parity or its own figures


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-4)


def block_problems(mode: str, block: TimingBlock) -> list[str]:
    """Where a timing block's figures disagree with each other (a hand-edited or corrupted record)."""
    problems = []
    for name, stats, samples in (("host", block.host_ms, block.samples_ms), ("CUDA events", block.device_ms, block.device_samples_ms)):
        if stats is None:
            continue
        where = f"{mode.replace('_', ' ')} {name}"
        if not stats.min <= stats.mean <= stats.max:
            problems.append(f"{where}: mean {stats.mean:.4g} ms is outside its minimum {stats.min:.4g} and maximum {stats.max:.4g}")
        if not stats.min <= stats.p50 <= stats.p90 <= stats.p99 <= stats.max:
            problems.append(f"{where}: percentiles out of order (min {stats.min:.4g}, p50 {stats.p50:.4g}, p90 {stats.p90:.4g}, "
                            f"p99 {stats.p99:.4g}, max {stats.max:.4g} ms)")
        if samples is not None and len(samples) != stats.n:
            problems.append(f"{where}: {stats.n} calls but {len(samples)} samples")
        elif samples and not _close(sum(samples) / len(samples), stats.mean):
            problems.append(f"{where}: mean {stats.mean:.4g} ms differs from the mean of its samples {sum(samples) / len(samples):.4g} ms")
    expected = block.images_per_step * 1000.0 / block.host_ms.mean
    if not _close(block.throughput_ips, expected):
        problems.append(f"{mode.replace('_', ' ')}: throughput {block.throughput_ips:.4g} img/s is not images per call / mean "
                        f"({expected:.4g})")
    return problems


def record_problems(record: Record) -> list[str]:
    """Where a record's figures contradict each other; empty for every record the runner writes."""
    problems = []
    if record.timing is not None:
        for mode in TIMING_MODES:
            if (block := record.timing.block(mode)) is not None:
                problems += block_problems(mode, block)
    if record.parity is not None and record.parity.passed == bool(record.parity.failures):
        problems.append("parity: passed and its list of failures disagree")
    return problems


def identity_problems(record: Record, record_path: str) -> list[str]:
    """Where the cell a record names is not the cell its path names (a record copied over another cell's)."""
    named = named_by_path(record_path)
    if named is None:
        return []
    own = record.cell.fields()
    return [f"{key} {own[key]}, not {value} as its path {record_path} says" for key, value in named.items()
            if own[key] != value]


def status_problems(record: Record) -> list[str]:
    """Where a record's status contradicts its parity: numbers are shown only for cells that passed it."""
    parity, timed = record.parity, record.timing is not None
    if record.status == OK and (parity is None or not parity.passed):
        return [f"status ok but {'no parity check' if parity is None else 'its parity check failed'}"]
    below_gate = record.precision in REDUCED and parity is not None and not parity.passed and parity.finite
    if record.status == MISMATCH and timed and not below_gate:
        return ["status mismatch with timings, which only a reduced precision (fp16, bf16, int8) below its gate has"]
    return []


def inconsistencies(record: Record, record_path: str) -> list[str]:
    """What a record contradicts: its path, its status against its parity, its own figures; empty for every record
    the runner writes where the workflow puts it."""
    found = []
    if clash := identity_problems(record, record_path):
        found.append("the record is of another cell: " + ", ".join(clash))
    found += status_problems(record)
    if figures := record_problems(record):
        found.append("the record's figures disagree with each other: " + "; ".join(figures))
    return found


def expected_cell(record: Record, record_path: str) -> Cell:
    """The cell whose row a record fills: the one its path names (with the record's model where the path names none,
    as schema 2's did), or the record's own where the path names no cell of the catalogue."""
    named = named_by_path(record_path)
    if named is None:
        return record.cell
    fields = record.cell.fields() | named
    backend = BACKENDS.get(fields["backend"])
    if backend is None or fields["variant"] not in backend.variant_names or fields["precision"] not in PRECISIONS:
        return record.cell
    return Cell(fields["machine"], fields["model"], fields["backend"], fields["variant"], fields["precision"],
                fields["batch_size"])
