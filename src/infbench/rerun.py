"""Why a finished step must run again, for what Snakemake's own triggers do not see (read at DAG build, light).

Snakemake reruns a job when one of its params changes. Two params here say why a step must run
again:

- a timing rule's `measure_again`: its cell's record is an error that may pass on another attempt
  (killed, cancelled, out of memory on a busy GPU), or the record cannot be read;
- the aggregate's `repair`: a record the run's summary cites, or the summary itself, is gone.
  Snakemake does not make a deleted file again while what was made from it is up to date.

Each value is remembered (in .snakemake/infbench-rerun.json, beside Snakemake's own bookkeeping)
once seen, and read back while nothing new is wrong: after the step has run, its param reads what
Snakemake stored for it, and nothing more is planned.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

RESULTS = "results"
STATE = Path(".snakemake") / "infbench-rerun.json"


class RerunState:
    """The last reason seen for each output, kept across runs."""

    def __init__(self, path: Path = STATE):
        self.path = path
        try:
            self.reasons: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.reasons = {}

    def reason(self, key: str, problem: str | None) -> str:
        """`problem` where there is one (remembered), else the last one remembered for `key`."""
        if problem and self.reasons.get(key) != problem:
            self.reasons[key] = problem
            self._save()
        return self.reasons.get(key, "")

    def _save(self) -> None:
        with contextlib.suppress(OSError):  # a read-only copy of a run still plans; it cannot remember
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.part")
            tmp.write_text(json.dumps(self.reasons, indent=1, sort_keys=True))
            tmp.replace(self.path)


def _read(path: str | Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_problem(record_path: str | Path) -> str | None:
    """Why a cell's record calls for another measurement, or None."""
    path = Path(record_path)
    if not path.exists():
        return None  # Snakemake makes a missing output itself (or the aggregate's repair asks for it)
    record = _read(path)
    if record is None:
        return f"{path} could not be read"
    if record.get("status") == "error" and record.get("retryable"):
        return f"the attempt of {record.get('created_utc')} ended in an error that may pass: {str(record.get('reason'))[:200]}"
    return None


def summary_problem(summary_json: str | Path, table: str | Path) -> str | None:
    """Which of the aggregate's outputs or cited records are gone, or None."""
    if not Path(table).exists():
        return None  # the aggregate runs anyway, to write the table
    summary = _read(summary_json)
    if summary is None:
        return f"{summary_json} was missing or unreadable"
    cited = [str(Path(RESULTS) / row["record"]) for row in summary.get("cells", []) if isinstance(row, dict) and "record" in row]
    if missing := sorted(path for path in cited if not Path(path).exists()):
        return "records were missing: " + ", ".join(missing)
    return None


def measure_again(record_path: str | Path, state: RerunState | None = None) -> str:
    """The timing rule's param."""
    return (state or RerunState()).reason(str(record_path), record_problem(record_path))


def repair(summary_json: str | Path, table: str | Path, state: RerunState | None = None) -> str:
    """The aggregate's param."""
    return (state or RerunState()).reason(str(table), summary_problem(summary_json, table))
