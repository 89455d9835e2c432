"""What changed, as tables: the "What changed" section of table.md, and changes.md, which compares two runs.

Cells whose parity result changed come first, then those whose status changed (a cell measured
before and not now is named a regression), then the slower, the faster, the unconfirmed, those
whose difference is the machine's, and those that cannot be compared; cells within noise, and cells
timed in neither measurement, are counted, with what differed for them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import fields

from infbench.planning.catalog import BACKENDS
from infbench.planning.cells import Cell
from infbench.report.text import format_ms, markdown
from infbench.results.changes import (
    CONFIDENCE_INTERVALS,
    FASTER,
    NOT_COMPARABLE,
    PROCESS_MEANS,
    SLOWER,
    THE_MACHINE,
    UNCONFIRMED,
    WITHIN_NOISE,
    Change,
    Threshold,
)
from infbench.results.history import parse_time

COLUMNS = ["Cell", "What differs", "Mean", "p50", "Change", "Verdict", "Measured (UTC)"]
SAME = "same versions and code"


def rule(threshold: Threshold) -> str:
    return (
        f"A difference is found where the means differ by a factor of at least {threshold.factor:g} and a Mann-Whitney U "
        f"test on the two sets of calls gives p < {threshold.alpha:g} (for sets too small for that test to reach it: "
        "where the 99% confidence intervals of the means do not overlap), as `asv compare` decides. Most of the "
        "variation is between processes, so it is called faster or slower only where it holds in a fresh process "
        "(each process of the new measurement beyond the factor from each of the old, and closer to each other than to "
        "them); with "
        "the same code, versions, model files and settings it is the machine's, never a change. GPU cells are compared "
        "device resident, CPU cells end to end; measurements on another CPU or GPU, or with other settings (how long "
        "aside), and inconsistent records are not comparable."
    )


def cell_text(change: Change, with_machine: bool) -> str:
    cell = change.cell
    text = f"{BACKENDS[cell.backend].title}: {cell.label}, batch {cell.batch}"
    return f"{cell.machine}, {text}" if with_machine else text


def _pair(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return ""
    return f"{format_ms(old).removesuffix(' ms')} → {format_ms(new)}"


def _relative(change: Change) -> str:
    return "" if change.relative_change is None else f"{change.relative_change:+.1%}"


def when(change: Change) -> str:
    """When the two were measured: a cell's previous measurement may be older than the last run."""
    old, new = parse_time(change.old_created), parse_time(change.new_created)
    return f"{old:%Y-%m-%d %H:%M} → {new:%H:%M}" if old.date() == new.date() else f"{old:%Y-%m-%d %H:%M} → {new:%Y-%m-%d %H:%M}"


def _evidence(change: Change) -> str:
    """What the calls of the first processes showed: the U test's p, or the confidence intervals."""
    if change.p_value is not None:
        return f"p = {change.p_value:.2g}" + (" over process means" if change.test == PROCESS_MEANS else "")
    return "by 99% confidence intervals" if change.test == CONFIDENCE_INTERVALS else ""


def _means(values: tuple[float, ...]) -> str:
    return ", ".join(format_ms(v).removesuffix(" ms") for v in values) + " ms"


def _timed_verdict(change: Change) -> str:
    direction = SLOWER if change.ratio > 1 else FASTER
    if change.verdict == THE_MACHINE:
        return f"differs ×{change.ratio:.2f} with the same code and versions (the machine, not a change)"
    if change.verdict == UNCONFIRMED and change.fresh_failed:
        return f"unconfirmed: {direction} in one process ({_evidence(change)}), a fresh one timed nothing ({change.fresh_failed})"
    if change.verdict == UNCONFIRMED and len(change.new_processes) < 2:
        return f"unconfirmed: {direction} in one process ({_evidence(change)}), not measured in a fresh one"
    if change.verdict == UNCONFIRMED:
        return (f"unconfirmed: {direction} in one process ({_evidence(change)}), not in every fresh one (processes: "
                f"{_means(change.old_processes)} → {_means(change.new_processes)})")
    confirmed = f", confirmed in a fresh process ({_means(change.new_processes)})" if len(change.new_processes) > 1 else ""
    return f"{change.verdict} ({_evidence(change)}){confirmed}"


def verdict_text(change: Change) -> str:
    parts = [f"parity {change.parity}"] if change.parity else []
    if change.status:
        parts.append(f"status {change.status}" + (" (a regression)" if change.status_regressed else ""))
    if change.verdict == NOT_COMPARABLE:
        parts.append(f"{NOT_COMPARABLE}: {change.why_not_comparable}")
    elif change.verdict == WITHIN_NOISE:
        parts.append(WITHIN_NOISE)
    else:
        parts.append(_timed_verdict(change))
    return "; ".join(parts)


def _group(change: Change) -> int:
    if change.parity:
        return 0
    if change.status:
        return 1
    return {SLOWER: 2, FASTER: 3, UNCONFIRMED: 4, THE_MACHINE: 5}.get(change.verdict, 6)


def change_table(changes: list[Change]) -> str:
    """The listed changes, one row each: parity changes first."""
    with_machine = len({c.cell.machine for c in changes}) > 1
    listed = sorted((c for c in changes if c.listed), key=_group)  # stable: the cells' own order within a group
    lines = [[cell_text(c, with_machine), c.differs or SAME, _pair(c.old_mean_ms, c.new_mean_ms),
              _pair(c.old_p50_ms, c.new_p50_ms), _relative(c), verdict_text(c), when(c)] for c in listed]
    return markdown(lines, COLUMNS)


def _by_difference(changes: list[Change]) -> str:
    counted = Counter(c.differs or SAME for c in changes)
    return "; ".join(f"{n} with {what}" for what, n in counted.items())


def _cells(n: int) -> str:
    return f"{n} cell" if n == 1 else f"{n} cells"


def counted_lines(changes: list[Change]) -> list[str]:
    """The cells not listed, counted with what differed for them."""
    quiet = [c for c in changes if not c.listed and c.verdict == WITHIN_NOISE]
    untimed = [c for c in changes if not c.listed and c.verdict != WITHIN_NOISE]
    lines = []
    if quiet:
        lines.append(f"Within noise: {_cells(len(quiet))} ({_by_difference(quiet)}).")
    if untimed:
        lines.append(f"Timed in neither measurement (skipped, failed or mismatched both times): {_cells(len(untimed))} "
                     f"({_by_difference(untimed)}).")
    return lines


def _body(changes: list[Change]) -> list[str]:
    parts = [change_table(changes), ""] if any(c.listed for c in changes) else ["No cell changed beyond noise.", ""]
    counted = counted_lines(changes)
    return parts + ["\n".join(counted), ""] if counted else parts


def section(changes: list[Change], threshold: Threshold) -> list[str]:
    """table.md's "What changed": each cell against its previous measurement; nothing where no cell has one."""
    if not changes:
        return []
    return ["## What changed", "", "Each cell against its previous measurement (results/history). " + rule(threshold), "",
            *_body(changes)]


def document(changes: list[Change], threshold: Threshold, old: str, new: str, unpaired: list[str]) -> str:
    """changes.md: every cell of one run against the same cell of another (`old`, `new` name them)."""
    parts = [f"# What changed: {old} → {new}", "", rule(threshold), "", *_body(changes)]
    parts += [f"{line}" for line in unpaired] + ([""] if unpaired else [])
    return "\n".join(parts)


def flat(change: Change) -> dict:
    """One line of changes.csv."""
    data = change.as_dict()
    cell = data.pop("cell")
    for key in ("versions", "code", "inputs", "how_long"):
        data[key] = " | ".join(data[key])
    for key in ("old_processes", "new_processes"):
        data[key] = " | ".join(f"{v:g}" for v in data[key])
    return cell | {"verdict_text": verdict_text(change)} | data


def csv_columns() -> list[str]:
    """changes.csv's header, also where no cell was compared."""
    cell = list(Cell("m", "m", "b", "v", "fp32", 1).fields())  # the columns a cell fills, as Cell names them
    return cell + ["verdict_text"] + [f.name for f in fields(Change) if f.name != "cell"] + ["relative_change", "differs", "regressed"]
