"""Where a finished run's time went: per job category, what was measurement and what was not.

    python benchmarks/time_breakdown.py docs/results/h200 [--log snakemake.log] [--out FILE]

FOLDER is a run's results folder (results/, or a committed docs/results/<run>): its records,
benchmarks/*.tsv and logs/. The Snakemake log (FOLDER/snakemake.log, or the one beside FOLDER) gives
each job's start and end and the run's wall time. Each timing job's wall time (its benchmark file)
is split into the process around the measurement (Python's start, the script's imports, reading the
inputs, writing the record), the wait for the machine's lock, the backend's library imports, load,
preparation (compilation, graph capture), first inference, parity, warm-up and timing, from its
record's cold_start, parity, timing and isolation blocks; where a record predates a field, from its
log's timestamps (one-second resolution, so a job's parts can be off by a second either way).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from infbench.results.records import Record, read_record

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
FIELD = re.compile(r"^\s+(jobid|output|log|benchmark): (.*)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
LOG_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d) \[\w+\] (.*)$")
# The runner's log lines that close each phase of a cell (src/infbench/measuring/runner.py).
PHASE_ENDS = {"loaded": ("loaded in ",), "parity": ("parity on ", "below the gate", "mismatch:"),
              "end_to_end": ("end to end: mean",), "device_resident": ("device resident: mean",)}
TIMING_PARTS = ("process", "lock_wait", "device_init", "imports", "load", "prepare", "first_inference", "parity", "warmup",
                "timing", "rest")
PART_TITLES = {
    "process": "process (start, script imports, inputs, record)", "lock_wait": "lock wait",
    "device_init": "torch + CUDA context", "imports": "library imports",
    "load": "load", "prepare": "compile / capture", "first_inference": "first inference", "parity": "parity",
    "warmup": "warm-up", "timing": "timing", "rest": "rest",
}


@dataclass
class Job:
    rule: str
    jobid: str
    start: dt.datetime
    end: dt.datetime | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def log_seconds(self) -> float:
        return (self.end - self.start).total_seconds() if self.end else 0.0


def _stamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")


def parse_snakemake_log(path: Path) -> list[Job]:
    """Every job a Snakemake log started and finished, over all the invocations it holds."""
    jobs: list[Job] = []
    open_jobs: dict[str, Job] = {}
    stamp, pending = None, None
    for line in path.read_text(errors="replace").splitlines():
        if (m := STAMP.match(line)) is not None:
            stamp = _stamp(m[1])
        elif line.startswith("Building DAG of jobs"):
            open_jobs = {}  # a new invocation numbers its jobs afresh
        elif (m := RULE.match(line)) is not None and stamp is not None:
            pending = Job(m[1], "", stamp)
            jobs.append(pending)
        elif (m := FIELD.match(line)) is not None and pending is not None:
            pending.fields[m[1]] = m[2].split(", ")[0]
            if m[1] == "jobid":
                pending.jobid = m[2]
                open_jobs[m[2]] = pending
        elif (m := FINISHED.match(line)) is not None and m[1] in open_jobs:
            open_jobs.pop(m[1]).end = stamp
    return [job for job in jobs if job.end is not None]


def invocations_wall(path: Path) -> list[float]:
    """Snakemake's own 'Elapsed time' of each invocation in the log."""
    found = re.findall(r"^Elapsed time: (\d+):(\d\d):(\d\d(?:\.\d+)?)$", path.read_text(errors="replace"), re.MULTILINE)
    return [int(h) * 3600 + int(m) * 60 + float(s) for h, m, s in found]


def busy_seconds(jobs: list[Job]) -> float:
    """The union of the jobs' intervals: the time at least one job was running."""
    total, current_start, current_end = 0.0, None, None
    for job in sorted(jobs, key=lambda j: j.start):
        if current_end is None or job.start > current_end:
            if current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = job.start, job.end
        else:
            current_end = max(current_end, job.end)
    if current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total


def read_tsv(path: Path) -> dict[str, float] | None:
    if not path.is_file():
        return None
    with open(path) as f:
        row = next(csv.DictReader(f, delimiter="\t"))
    return {"s": float(row["s"]), "cpu_time": float(row["cpu_time"])}


def in_folder(folder: Path, snakemake_path: str | None) -> Path | None:
    """A path as the Snakemake log names it (results/...), inside the run's folder."""
    if not snakemake_path:
        return None
    return folder / snakemake_path.removeprefix("results/")


def phase_times(log: Path | None, day: dt.datetime) -> dict[str, dt.datetime]:
    """When the cell's log says each phase ended (the first line of each kind), and when measuring began."""
    times: dict[str, dt.datetime] = {}
    if log is None or not log.is_file():
        return times
    for line in log.read_text(errors="replace").splitlines():
        if (m := LOG_LINE.match(line)) is None:
            continue
        when = day.replace(hour=int(m[1]), minute=int(m[2]), second=int(m[3]))
        text = m[4]
        if " on " in text and ": " in text and "started" not in times and not text.startswith("waiting"):
            times["started"] = when
        for phase, needles in PHASE_ENDS.items():
            if phase not in times and any(text.startswith(n) or n in text for n in needles):
                times[phase] = when
        times["last"] = when
    return times


def _between(times: dict[str, dt.datetime], first: str, second: str) -> float | None:
    if first in times and second in times:
        return max((times[second] - times[first]).total_seconds(), 0.0)
    return None


def _span(record: Record, times: dict[str, dt.datetime]) -> float:
    if record.isolation is not None:
        started = dt.datetime.fromisoformat(record.isolation.started_utc)
        return (dt.datetime.fromisoformat(record.isolation.ended_utc) - started).total_seconds()
    return _between(times, "started", "last") or 0.0


def _warmup_and_timing(record: Record, times: dict[str, dt.datetime]) -> tuple[float, float]:
    """Seconds spent warming up and timing, over both timing modes."""
    warmup = timing = 0.0
    previous = "parity"
    for mode in ("end_to_end", "device_resident"):
        block = record.timing.block(mode) if record.timing else None
        if block is None:
            continue
        timed = sum(block.samples_ms) / 1000
        if (seconds := getattr(block.warmup, "seconds", None)) is None:
            window = _between(times, previous, mode)
            seconds = max(window - timed, 0.0) if window is not None else 0.0
        warmup += seconds
        timing += timed
        previous = mode
    return warmup, timing


def timing_parts(record: Record, wall: float, times: dict[str, dt.datetime]) -> dict[str, float]:
    """A timing job's wall time split into its parts (see the module's docstring)."""
    cold = record.cold_start
    parts = dict.fromkeys(TIMING_PARTS, 0.0)
    span = _span(record, times)
    parts["lock_wait"] = record.isolation.waited_s if record.isolation else 0.0
    parts["process"] = max(wall - span - parts["lock_wait"], 0.0)
    if cold is not None:
        parts["device_init"] = cold.device_init_s or 0.0
        parts["imports"] = cold.import_s or 0.0
        parts["load"] = cold.load_s or 0.0
        parts["prepare"] = cold.prepare_s or 0.0
        parts["first_inference"] = (cold.first_inference_ms or 0.0) / 1000
    seconds = getattr(record.parity, "seconds", None) if record.parity else None
    parts["parity"] = seconds if seconds is not None else (_between(times, "loaded", "parity") or 0.0)
    parts["warmup"], parts["timing"] = _warmup_and_timing(record, times)
    parts["rest"] = span - sum(parts[k] for k in TIMING_PARTS if k not in ("process", "lock_wait", "rest"))
    return parts


@dataclass
class Category:
    jobs: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    wall: float = 0.0
    cpu: float = 0.0
    parts: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def _cost(job: Job, folder: Path) -> tuple[float, float | None]:
    """A job's wall time (its benchmark file, else the Snakemake log's stamps) and CPU time where measured."""
    tsv = read_tsv(in_folder(folder, job.fields.get("benchmark"))) if job.fields.get("benchmark") else None
    return (tsv["s"], tsv["cpu_time"]) if tsv else (job.log_seconds, None)


def categorise(jobs: list[Job], folder: Path) -> tuple[dict[str, Category], dict[tuple[str, str], Category]]:
    """Jobs that measure nothing by rule; timing jobs by backend and variant."""
    steps: dict[str, Category] = defaultdict(Category)
    cells: dict[tuple[str, str], Category] = defaultdict(Category)
    for job in jobs:
        wall, cpu = _cost(job, folder)
        record_path = in_folder(folder, job.fields.get("output"))
        if job.rule.startswith("time_") and record_path is not None and record_path.is_file():
            record = read_record(record_path)
            category = cells[(record.backend, record.variant)]
            category.statuses[record.status] += 1
            times = phase_times(in_folder(folder, job.fields.get("log")), job.start)
            for name, seconds in timing_parts(record, wall, times).items():
                category.parts[name] += seconds
        else:
            category = steps[job.rule]
        category.jobs += 1
        category.wall += wall
        category.cpu += cpu or 0.0
    return steps, cells


def _s(value: float) -> str:
    return f"{value:.1f}"


def steps_table(steps: dict[str, Category]) -> list[str]:
    lines = ["| step (rule) | jobs | wall s | CPU s |", "|---|---|---|---|"]
    for rule, c in sorted(steps.items(), key=lambda item: -item[1].wall):
        lines.append(f"| {rule} | {c.jobs} | {_s(c.wall)} | {_s(c.cpu) if c.cpu else '-'} |")
    total = Category(jobs=sum(c.jobs for c in steps.values()), wall=sum(c.wall for c in steps.values()),
                     cpu=sum(c.cpu for c in steps.values()))
    lines.append(f"| **all steps that measure nothing** | {total.jobs} | {_s(total.wall)} | {_s(total.cpu)} |")
    return lines


def cells_table(cells: dict[tuple[str, str], Category]) -> list[str]:
    head = ["backend / variant", "jobs (statuses)", "wall s", "CPU s", *(PART_TITLES[p] for p in TIMING_PARTS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    total = Category()
    for (backend, variant), c in sorted(cells.items()):
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(c.statuses.items()))
        lines.append(f"| {backend} / {variant} | {c.jobs} ({statuses}) | {_s(c.wall)} | {_s(c.cpu)} | "
                     + " | ".join(_s(c.parts[p]) for p in TIMING_PARTS) + " |")
        total.jobs += c.jobs
        total.wall += c.wall
        total.cpu += c.cpu
        for p in TIMING_PARTS:
            total.parts[p] += c.parts[p]
    lines.append(f"| **all timing jobs** | {total.jobs} | {_s(total.wall)} | {_s(total.cpu)} | "
                 + " | ".join(_s(total.parts[p]) for p in TIMING_PARTS) + " |")
    return lines


def summary_lines(jobs: list[Job], steps, cells, log: Path) -> list[str]:
    start, end = min(j.start for j in jobs), max(j.end for j in jobs)
    elapsed = invocations_wall(log)
    serial = sum(c.wall for c in steps.values()) + sum(c.wall for c in cells.values())
    timing = sum(c.parts["timing"] for c in cells.values())
    lines = [
        f"- Jobs: {len(jobs)} ({sum(c.jobs for c in cells.values())} timing jobs), in {len(elapsed) or 1} Snakemake "
        f"invocation(s)" + (f" of {', '.join(_s(e) for e in elapsed)} s" if elapsed else ""),
        f"- Wall time of the run (first job's start to last job's end in the log): {_s((end - start).total_seconds())} s"
        + (f"; Snakemake's elapsed times add up to {_s(sum(elapsed))} s" if elapsed else ""),
        f"- The jobs' wall times add up to {_s(serial)} s; some job was running for {_s(busy_seconds(jobs))} s of the run",
        f"- Timed calls (the measurements themselves): {_s(timing)} s, {timing / max(serial, 1e-9):.1%} of the jobs' time",
    ]
    return lines


def breakdown(folder: Path, log: Path) -> str:
    jobs = parse_snakemake_log(log)
    if not jobs:
        raise SystemExit(f"{log}: no finished jobs in this Snakemake log")
    steps, cells = categorise(jobs, folder)
    out = [f"# Where the time of {folder} went", "", *summary_lines(jobs, steps, cells, log), "",
           "## Steps that measure nothing", "", *steps_table(steps), "",
           "## Timing jobs, by backend and variant (seconds, summed over the jobs)", "", *cells_table(cells), ""]
    return "\n".join(out)


def default_log(folder: Path) -> Path:
    for candidate in (folder / "snakemake.log", folder.parent / "snakemake.log"):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"{folder}: no snakemake.log in it or beside it; name one with --log")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a run's results folder (results/ or docs/results/<run>)")
    parser.add_argument("--log", type=Path, help="the run's Snakemake log (default: FOLDER/snakemake.log or beside FOLDER)")
    parser.add_argument("--out", type=Path, help="write the markdown here instead of printing it")
    args = parser.parse_args()
    text = breakdown(args.folder, args.log or default_log(args.folder))
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
