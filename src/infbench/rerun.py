"""Why a finished step must run again, for what Snakemake's own triggers do not see (read at DAG build, light).

Snakemake reruns a job when a param differs from the value it stored when the job last ran. Two
params here say why a step must run again:

- a timing rule's `measure_again`: its cell's record cannot be read, or is an error that may pass
  on another attempt (killed, cancelled, out of memory on a busy GPU);
- the aggregate's `repair`: one of its outputs, or a record its summary cites, is gone.
  Snakemake does not make a deleted file again while what was made from it is up to date.

With nothing wrong, each param reads back the value its step last ran with from the file the step
wrote (a record's `measure_again`, summary.json's `repaired`), which is the value Snakemake stored:
nothing is planned, and nothing else is remembered. A problem's value names the problem and the
state of the file it was seen in (its size and the time of its last change, to the nanosecond),
which the step's next run necessarily replaces: each new occurrence, the same fault a second or
third time included, is a value Snakemake has not stored, while a dry run, which changes no file,
sees the same value as the run after it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from infbench.records import ERROR, read_record

RESULTS = "results"


def seen_in(problem: str, path: str | Path) -> str:
    """`problem` with the state of the file it was seen in: another occurrence is another value."""
    try:
        stat = Path(path).stat()
    except OSError:
        return problem
    seconds, nanoseconds = divmod(stat.st_ctime_ns, 1_000_000_000)
    changed = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{problem} (seen in {path}: {stat.st_size} bytes, changed {changed}.{nanoseconds:09d}Z)"


def measure_again(record_path: str | Path) -> str:
    """The timing rule's param: why its cell is measured again, or the value its record was made with."""
    path = Path(record_path)
    if not path.exists():
        return ""  # Snakemake makes a missing output itself (or the aggregate's repair asks for it)
    try:
        record = read_record(path)
    except ValueError as exc:  # the aggregate shows such a cell as unreadable
        return seen_in(str(exc), path)
    if record.status == ERROR and record.retryable:
        problem = f"the attempt of {record.created_utc} ended in an error that may pass: {str(record.reason)[:200]}"
        return seen_in(problem, path)
    return record.measure_again


def _read(path: str | Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _missing_records(summary: dict) -> list[str]:
    cited = [str(Path(RESULTS) / row["record"]) for row in summary.get("cells", []) if isinstance(row, dict) and "record" in row]
    return sorted(path for path in cited if not Path(path).exists())


def repair(summary_json: str | Path, table: str | Path, others: tuple[str, ...] = ()) -> str:
    """The aggregate's param: what of its outputs (`table`, `summary_json`, `others`) or cited records is gone, or
    the value the summary was made with."""
    summary = _read(summary_json)
    if not Path(table).exists():
        return str((summary or {}).get("repaired", ""))  # the aggregate runs anyway, to write the table
    problems = [f"{path} was missing" for path in others if not Path(path).exists()]
    if summary is None:
        problems.append(f"{summary_json} was missing or unreadable")
    elif missing := _missing_records(summary):
        problems.append("records were missing: " + ", ".join(missing))
    if problems:
        return seen_in("; ".join(problems), table)  # the file every repair writes again
    return str(summary.get("repaired", ""))
