"""Time the default main job end to end from an empty working directory, and each step's share.

    python benchmarks/end_to_end.py [--keep DIR] [--cores N]

Runs `snakemake --cores all results/table.md` (as the README's quick start does) with
config/config.yaml in a new directory and prints the wall time, then the wall and CPU time of every
step that has a Snakemake benchmark file (CPU time is what to compare on a machine shared with other
work); benchmarks/time_breakdown.py splits the run further.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="run in this (new) directory and keep it")
    parser.add_argument("--cores", default="all", help="snakemake's --cores (default: all, as the README's quick start)")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="infbench-e2e-"))
    workdir.mkdir(parents=True, exist_ok=False) if args.keep else None
    shutil.copytree(REPO / "config", workdir / "config")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", args.cores, "results/table.md"]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (workdir / "snakemake.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        print(f"the workflow failed after {wall:.1f} s; see {workdir / 'snakemake.log'}")
        return 1
    print(f"default main job, end to end: {wall:.1f} s ({wall / 60:.2f} min) in {workdir}")
    print("| step | wall s | CPU s |")
    print("|---|---|---|")
    for tsv in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
        with open(tsv) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        name = tsv.relative_to(workdir / "results" / "benchmarks").with_suffix("")
        print(f"| {name} | {float(row['s']):.1f} | {float(row['cpu_time']):.1f} |")
    if not args.keep:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
