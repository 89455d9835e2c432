"""Why a finished step must run again, for what Snakemake's own triggers do not see (read at DAG build, light).

Snakemake reruns a job when a param differs from the value it stored when the job last ran. Two
params here say why a step must run again:

- a timing rule's `measure_again`: its cell's record cannot be read, or is an error that may pass
  on another attempt (killed, cancelled, out of memory on a busy GPU);
- the aggregate's `repair`: one of its outputs, or a record its summary cites, is gone.
  Snakemake does not make a deleted file again while what was made from it is up to date.

A problem's value names the problem and the state of the file it was seen in (its size and the
time of its last change, to the nanosecond), which the step's next run necessarily replaces: each
new occurrence, the same fault a second or third time included, is a value Snakemake has not
stored, while a dry run, which changes no file, sees the same value as the run after it.

With nothing wrong, a param reads back the value its step last ran with from the file the step
wrote (a record's `measure_again`, summary.json's `repaired`). Snakemake evaluates a job's params
once more as the job starts, after it has deleted the job's outputs: the job then reads the value
the plan saw from .snakemake/infbench-rerun.json, which holds each output's last planned value, and
writes it into the file it makes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from pathlib import Path

from infbench.results.records import ERROR, read_record

RESULTS = "results"
STATE = Path(".snakemake") / "infbench-rerun.json"


class RerunState:
    """The value each output's param was last planned with (where it is not ""), for the job whose outputs are
    already deleted when it evaluates its params."""

    def __init__(self, path: Path = STATE):
        self.path = path
        try:
            self.values: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.values = {}

    def seen(self, key: str, value: str) -> str:
        if self.values.get(key, "") != value:
            if value:
                self.values[key] = value
            else:
                del self.values[key]
            self._save()
        return value

    def last(self, key: str) -> str:
        return self.values.get(key, "")

    def _save(self) -> None:
        with contextlib.suppress(OSError):  # a read-only copy of a run still plans; it cannot remember
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.part")
            tmp.write_text(json.dumps(self.values, indent=1, sort_keys=True))
            tmp.replace(self.path)


def seen_in(problem: str, path: str | Path) -> str:
    """`problem` with the state of the file it was seen in: another occurrence is another value."""
    try:
        stat = Path(path).stat()
    except OSError:
        return problem
    seconds, nanoseconds = divmod(stat.st_ctime_ns, 1_000_000_000)
    changed = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{problem} (seen in {path}: {stat.st_size} bytes, changed {changed}.{nanoseconds:09d}Z)"


def measure_again(record_path: str | Path, state: RerunState | None = None) -> str:
    """The timing rule's param: why its cell is measured again, or the value its record was made with."""
    state = state or RerunState()
    path = Path(record_path)
    if not path.exists():
        return state.last(str(path))  # the job itself, its record deleted; or Snakemake makes a missing output anyway
    try:
        record = read_record(path)
    except ValueError as exc:  # the aggregate shows such a cell as unreadable
        return state.seen(str(path), seen_in(str(exc), path))
    if record.status == ERROR and record.retryable:
        problem = f"the attempt of {record.created_utc} ended in an error that may pass: {str(record.reason)[:200]}"
        return state.seen(str(path), seen_in(problem, path))
    return state.seen(str(path), record.measure_again)


def _read(path: str | Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _missing_records(summary: dict) -> list[str]:
    rows = [*summary.get("cells", []), *summary.get("serving", [])]  # timing records, then scenario records
    cited = [str(Path(RESULTS) / row["record"]) for row in rows if isinstance(row, dict) and "record" in row]
    return sorted(path for path in cited if not Path(path).exists())


def repair(summary_json: str | Path, table: str | Path, others: tuple[str, ...] = (), state: RerunState | None = None) -> str:
    """The aggregate's param: what of its outputs (`table`, `summary_json`, `others`) or cited records is gone, or
    the value the summary was made with."""
    state = state or RerunState()
    summary = _read(summary_json)
    if not Path(table).exists():  # the job itself, its outputs deleted; or the aggregate runs anyway, to write the table
        return state.seen(str(table), str(summary.get("repaired", ""))) if summary else state.last(str(table))
    problems = [f"{path} was missing" for path in others if not Path(path).exists()]
    if summary is None:
        problems.append(f"{summary_json} was missing or unreadable")
    elif missing := _missing_records(summary):
        problems.append("records were missing: " + ", ".join(missing))
    if problems:
        return state.seen(str(table), seen_in("; ".join(problems), table))  # table.md: the file every repair writes again
    return state.seen(str(table), str(summary.get("repaired", "")))
