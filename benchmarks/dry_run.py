"""How long a dry run (`snakemake -n`) takes, with and without the SLURM executor plugin importable.

    python benchmarks/dry_run.py --workdir DIR [--configfile FILE] [--plugin DIR] [--dead-controller] [--runs 5]

DIR is a workflow directory (a finished run, or an empty one: the plan is built either way). With
--plugin, the same dry run is timed again with the plugin on PYTHONPATH (install it with
`pip install --target DIR -r requirements-slurm.txt`). With --dead-controller (as root, where SLURM's
commands are installed and /etc/slurm/slurm.conf does not exist), the runs are repeated with a
slurm.conf that names a controller nobody runs, the case of a machine with SLURM's client but no
cluster; the file is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SLURM_CONF = Path("/etc/slurm/slurm.conf")
DEAD_CONTROLLER = (
    "# written by benchmarks/dry_run.py: a controller that does not run\n"
    "ClusterName=dead\nSlurmctldHost=localhost\nNodeName=localhost CPUs=1 State=UNKNOWN\n"
    "PartitionName=debug Nodes=localhost Default=YES\n"
)


def _times(workdir: Path, configfiles: list[str], env: dict, runs: int) -> list[float]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "1", "results/table.md", "-n", "-q"]
    if configfiles:
        cmd += ["--configfile", *configfiles]
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
        out.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"dry run failed in {workdir}: {result.stderr.strip().splitlines()[-1:]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--configfile", nargs="*", default=[])
    parser.add_argument("--plugin", type=Path, help="a folder holding snakemake-executor-plugin-slurm")
    parser.add_argument("--dead-controller", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cases = [("without the plugin", base)]
    if args.plugin:
        cases.append(("with the plugin", base | {"PYTHONPATH": str(args.plugin)}))
    settings = [("SLURM's configuration as found", False)]
    if args.dead_controller:
        if SLURM_CONF.exists():
            raise SystemExit(f"{SLURM_CONF} exists: --dead-controller writes its own and would replace it")
        settings.append(("a slurm.conf whose controller does not run", True))

    print(f"`snakemake -n` in {args.workdir}, {args.runs} runs each (seconds)")
    print("| SLURM | plugin | median | all |")
    print("|---|---|---|---|")
    for title, dead in settings:
        if dead:
            SLURM_CONF.write_text(DEAD_CONTROLLER)
        try:
            for name, env in cases:
                times = _times(args.workdir, args.configfile, env, args.runs)
                print(f"| {title} | {name} | {statistics.median(times):.2f} | {' '.join(f'{t:.2f}' for t in times)} |")
        finally:
            if dead:
                SLURM_CONF.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
