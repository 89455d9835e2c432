"""What keeping history and judging changes cost: record sizes, and the time of "What changed" and of comparing runs.

    python benchmarks/history_and_changes.py [--cells 100] [--runs 5]

Sizes: the committed H200 run's measured records (100 calls a timing mode), as the timing job writes
them and as the history keeps them. Times: a run of N cells made from one committed record (the
H200 run's ONNX Runtime CPU cell, 100 calls), each cell with one earlier measurement in its history:
table.md's "What changed" (history look-up, verdicts, the section), and tools/check_regressions.py
on two such run folders, in this process and as a command (Python's start and imports included);
then check_regressions.py on the two committed runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from infbench.artifacts import write_json
from infbench.report.baseline import compare, history_changes, read_run
from infbench.report.rows import summary_rows
from infbench.report.summary import ModelSummary, RunSummary, write_summary
from infbench.report.whatchanged import document, section
from infbench.results.changes import Threshold
from infbench.results.history import keep
from infbench.results.records import Record, read_record

REPO = Path(__file__).resolve().parents[1]

H200 = REPO / "docs" / "results" / "h200"
CPU = REPO / "docs" / "results" / "cpu-2core"
SOURCE = H200 / "records" / "local" / "resnet50" / "onnxruntime_cpu" / "default" / "fp32_bs1.json"
SAMPLE_KEYS = ("samples_ms", "device_samples_ms")


def _without_samples(data: dict) -> dict:
    data = json.loads(json.dumps(data))
    for block in (data.get("timing") or {}).values():
        if isinstance(block, dict):
            for key in SAMPLE_KEYS:
                block.pop(key, None)
    return data


def _written_size(data: dict) -> int:
    return len((json.dumps(data, indent=2) + "\n").encode())  # as infbench.artifacts.write_json writes it


def sizes() -> list[str]:
    """Per measured record: its size, the share its samples take, and what 100 calls of samples take."""
    rows, per_100 = [], []
    for path in sorted((H200 / "records").rglob("*.json")):
        data = json.loads(path.read_text())
        if data.get("status") != "ok":
            continue
        whole, bare = _written_size(data), _written_size(_without_samples(data))
        calls = sum(len(block.get(key) or []) for block in data["timing"].values() if isinstance(block, dict) for key in SAMPLE_KEYS)
        per_100.append((whole - bare) / calls * 100)
        rows.append((whole, bare, whole - bare))
    whole, bare, samples = (statistics.median(column) for column in zip(*rows))
    return [
        f"- {len(rows)} measured records of {H200.relative_to(REPO)}: median {whole / 1024:.1f} kB as written, "
        f"{bare / 1024:.1f} kB without samples; samples {samples / 1024:.1f} kB ({samples / whole:.0%} of the record).",
        f"- 100 calls of samples: {statistics.median(per_100) / 1024:.2f} kB (median over records; "
        f"{min(per_100) / 1024:.2f} to {max(per_100) / 1024:.2f} kB).",
        "- The history keeps a byte-for-byte copy of each record, keyed by its path (cell and created_utc): no field is "
        "added to a record, so a record without samples is 0% larger, and each measurement costs one copy of its record.",
    ]


def _cell_record(source: Record, batch: int, created: str, samples: list[float]) -> Record:
    block = source.timing.end_to_end
    mean = float(np.mean(samples))
    stats = block.host_ms.model_copy(update={"mean": mean, "p50": float(np.median(samples)), "min": min(samples),
                                              "max": max(samples), "std": float(np.std(samples)), "n": len(samples),
                                              "p90": float(np.percentile(samples, 90)), "p99": float(np.percentile(samples, 99))})
    timing = source.timing.model_copy(update={"end_to_end": block.model_copy(update={
        "host_ms": stats, "samples_ms": samples, "throughput_ips": batch * 1000 / mean, "images_per_step": batch})})
    return source.model_copy(update={"schema_version": 3, "batch_size": batch, "created_utc": created, "timing": timing})


def synthetic_runs(folder: Path, cells: int) -> tuple[Path, Path, list[Record]]:
    """Two run folders of `cells` cells each (old and new), and the new run's history holding the old measurements."""
    source = read_record(SOURCE)
    rng = np.random.default_rng(0)
    base = np.asarray(source.timing.end_to_end.samples_ms)
    runs = {}
    for name, created, scale in (("old", "2026-11-30T09:00:00+00:00", 1.0), ("new", "2026-11-30T10:00:00+00:00", 1.0)):
        records = []
        for batch in range(1, cells + 1):
            factor = scale * (1.2 if name == "new" and batch % 10 == 0 else 1.0)  # every tenth cell 20% slower
            samples = [round(float(v), 5) for v in rng.permutation(base) * factor * rng.normal(1, 0.01, len(base))]
            records.append(_cell_record(source, batch, created, samples))
        paths = [r.cell.record_path.removeprefix("results/") for r in records]
        for record, path in zip(records, paths):
            write_json(folder / name / path, record.dump())
        summary = RunSummary(models={"resnet50": ModelSummary(card=json.loads((H200 / "summary.json").read_text())["models"]
                                                              ["resnet50"]["card"])},
                             settings={}, cells=summary_rows(records, paths))
        write_summary(folder / name / "summary.json", summary)
        runs[name] = records
    for record in runs["old"] + runs["new"]:
        keep(record, folder / "new")
    return folder / "old", folder / "new", runs["new"]


def _best_of(runs: int, action) -> str:
    """The shortest of `runs` runs, wall and CPU time (this process and its children): CPU time shows the work where
    other jobs share the machine."""
    best = None
    for _ in range(runs):
        start, cpu = time.perf_counter(), _cpu_s()
        action()
        took = (time.perf_counter() - start, _cpu_s() - cpu)
        best = took if best is None or took[0] < best[0] else best
    return f"{best[0]:.2f} s (CPU {best[1]:.2f} s)"


def _cpu_s() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _command(old: Path, new: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "tools" / "check_regressions.py"), str(old), str(new)], capture_output=True, check=False)


def _import_scipy() -> None:
    subprocess.run([sys.executable, "-c", "from scipy.stats import mannwhitneyu"], check=True)


def times(cells: int, runs: int) -> list[str]:
    log = logging.getLogger("benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        old, new, records = synthetic_runs(Path(tmp), cells)
        paths = [r.cell.record_path.removeprefix("results/") for r in records]

        def what_changed():
            return section(history_changes(new, records, paths, Threshold(), log), Threshold())

        def comparison():
            a, b = read_run(old), read_run(new)
            result = compare(a, b, Threshold())
            return document(result.changes, Threshold(), a.name, b.name, result.unpaired(a.name, b.name))

        listed = sum(c.listed for c in history_changes(new, records, paths, Threshold(), log))
        return [
            f"- \"What changed\" of {cells} cells (history look-up, {cells} verdicts on 100 calls a side, the section; "
            f"{listed} listed): {_best_of(runs, what_changed)} (best of {runs}), once scipy.stats is imported; importing it "
            f"in a fresh Python: {_best_of(runs, _import_scipy)}.",
            f"- Comparing two run folders of {cells} cells (reading summaries and {2 * cells} records, verdicts, the "
            f"document): {_best_of(runs, comparison)} in this process; as `tools/check_regressions.py` (Python's start "
            f"and imports included): {_best_of(runs, lambda: _command(old, new))}.",
            f"- `tools/check_regressions.py` on the committed runs ({CPU.relative_to(REPO)}, {H200.relative_to(REPO)}; "
            f"no cell comparable, another CPU): {_best_of(runs, lambda: _command(CPU, H200))}.",
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(["Record sizes:", *sizes(), "", "Times:", *times(args.cells, args.runs)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
