"""The machine a record was measured on: CPU, OS, Python and, where there is one, the GPU."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


SLURM_VARIABLES = {"job_id": "SLURM_JOB_ID", "partition": "SLURM_JOB_PARTITION", "node": "SLURMD_NODENAME"}


def host() -> dict:
    """The computer a record was measured on, as it reports itself."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        physical, memory_gb = None, None
    info = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "physical_cores": physical,
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "hostname": platform.node(),
    }
    # Where a cluster ran the job: SLURM's own word for job, partition and node.
    slurm = {key: os.environ[var] for key, var in SLURM_VARIABLES.items() if var in os.environ}
    if slurm:
        info["slurm"] = slurm
    return info


_SMI_FIELDS = (
    "name", "driver_version", "memory.total", "clocks.sm", "clocks.max.sm", "clocks.mem",
    "clocks.max.mem", "power.limit", "pstate", "temperature.gpu",
)


def nvidia_smi(index: int = 0) -> dict | None:
    """What nvidia-smi says of one GPU (clocks, driver, power limit), or None when it does not answer."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, f"--id={index}", f"--query-gpu={','.join(_SMI_FIELDS)}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    values = [v.strip() for v in out.split(",")]
    if len(values) != len(_SMI_FIELDS):
        return None
    return dict(zip((f.replace(".", "_") for f in _SMI_FIELDS), values))
