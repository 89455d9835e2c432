"""The machines a run measures on: this computer, or partitions of a SLURM cluster named in the config."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from infbench.errors import ConfigError
from infbench.planning.cells import LOCAL_MACHINE


@dataclass(frozen=True)
class Machine:
    name: str
    partition: str | None = None  # None: this computer, without a scheduler
    cpus: int | None = None  # None: what this computer gives the process
    gpus: int | None = None  # None: whatever this computer has (asked of the driver)
    gpu_model: str | None = None
    mem_mb: int | None = None
    runtime_min: int | None = None

    @property
    def is_local(self) -> bool:
        return self.partition is None


def machines_of(config: dict) -> dict[str, Machine]:
    """The configured machines, or this computer alone as the machine 'local'."""
    if not config["machines"]:
        return {LOCAL_MACHINE: Machine(LOCAL_MACHINE)}
    return {
        name: Machine(name, m["partition"], m["cpus"], m["gpus"], m["gpu_model"], m["mem_mb"], m["runtime_min"])
        for name, m in config["machines"].items()
    }


def slurm_partitions(timeout_s: float = 5.0) -> list[str] | None:
    """The partitions SLURM knows, or None where SLURM's commands are absent or its controller does not answer."""
    sinfo = shutil.which("sinfo")
    if sinfo is None:
        return None
    try:
        out = subprocess.run([sinfo, "-h", "-o", "%R"], capture_output=True, text=True, timeout=timeout_s, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def check_partitions(machines: dict[str, Machine], known: list[str] | None) -> None:
    """Every configured machine's partition exists in the cluster (where the cluster could be asked)."""
    if known is None:
        return
    for machine in machines.values():
        if machine.partition is not None and machine.partition not in known:
            raise ConfigError(
                f"machines.{machine.name}.partition: '{machine.partition}' is not a partition of this SLURM cluster "
                f"(it has: {', '.join(known) or 'none'})"
            )
