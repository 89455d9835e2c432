"""One cell's measurement as a job that runs here or, once more, in a fresh process.

Most of the variation between two measurements of the same code is between processes (a process's
memory layout, clocks, neighbours), which is why pyperf and asv measure in several. A timing job
that finds its cell differing from its previous measurement therefore measures it again in a new
Python process (the same interpreter and package, `python -m infbench.measuring.fresh`) before the change is
called faster or slower (infbench.results.changes). The timing job holds the machine's lock alone
while the fresh process measures; the fresh process takes no lock of its own (it would wait for its
parent forever), and nothing else runs beside it.
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from infbench.errors import BenchError
from infbench.measuring.backends.base import CellRequest
from infbench.measuring.harness import MeasurePolicy, WarmupPolicy
from infbench.model.parity import Tolerance
from infbench.results.records import Record, read_record, write_record

log = logging.getLogger("infbench")


@dataclass(frozen=True)
class CellJob:
    """What measuring one cell takes: the request, the evaluation set's file and the policies."""

    request: CellRequest
    eval_set: str
    measure: MeasurePolicy
    warmup: WarmupPolicy
    tolerance: Tolerance
    noisy_cv: float

    def run(self) -> Record:
        from infbench.measuring.runner import run_cell
        from infbench.model.reference import load_eval_set

        return run_cell(self.request, load_eval_set(self.eval_set), measure=self.measure, warmup=self.warmup,
                        tolerance=self.tolerance, noisy_cv=self.noisy_cv)


def in_fresh_process(job: CellJob, timeout_s: float | None = None) -> Record:
    """`job` measured by a new Python process, its log relayed to this one's; BenchError where it ends without a record."""
    with tempfile.TemporaryDirectory(prefix="infbench-fresh-") as tmp:
        job_file, record_file = Path(tmp) / "job.pickle", Path(tmp) / "record.json"
        job_file.write_bytes(pickle.dumps(job))
        command = [sys.executable, "-m", "infbench.measuring.fresh", str(job_file), str(record_file)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"the fresh process did not finish in {timeout_s:g} s") from exc
        for line in (done.stdout + done.stderr).splitlines():
            log.info("fresh process: %s", line)
        if done.returncode != 0 or not record_file.is_file():
            last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "no output")
            raise BenchError(f"the fresh process ended with exit status {done.returncode} and no record ({last})")
        return read_record(record_file)


def confirmed(record: Record, job: CellJob, results: str | Path, threshold, log: logging.Logger) -> Record:
    """The record, measured once more in a fresh process where it differs from its cell's previous measurement (its
    history) beyond the threshold with code, versions or settings changed (Change.needs_fresh_process); else as it is."""
    from infbench.results.changes import compare_records
    from infbench.results.history import previous
    from infbench.results.records import OK, Confirmation

    if record.status != OK or (entry := previous(results, record, log)) is None:
        return record
    change = compare_records(entry.record, record, threshold)
    if not change.needs_fresh_process:
        return record
    why = (f"{change.timing.replace('_', ' ')} mean {change.old_mean_ms:.4g} → {change.new_mean_ms:.4g} ms "
           f"(×{change.ratio:.2f}) against {entry.path.name}")
    log.info("%s: measuring the cell once more in a fresh process", why)
    try:
        fresh = in_fresh_process(job)
        timings, failed = ([fresh.timing], None) if fresh.status == OK else ([], f"{fresh.status}: {fresh.reason}")
    except BenchError as exc:
        timings, failed = [], str(exc)
    record = record.updated(confirmation=Confirmation(previous=entry.record.created_utc, why=why, timings=timings,
                                                      failed=failed))
    after = compare_records(entry.record, record, threshold)
    means = [", ".join(f"{m:.4g}" for m in side) for side in (after.old_processes, after.new_processes)]
    log.info("against %s: %s (process means %s → %s ms)%s", entry.path, after.verdict, *means,
             f"; the fresh process: {failed}" if failed else "")
    return record


def main(job_file: str, record_file: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    job: CellJob = pickle.loads(Path(job_file).read_bytes())  # written by in_fresh_process, in a folder of its own
    write_record(record_file, job.run())


if __name__ == "__main__":
    main(*sys.argv[1:])
