"""A one-node SLURM cluster on this machine, for trying the workflow's SLURM profile and for its tests.

    python tools/slurm_local.py start DIR [--partitions cpu_a cpu_b]
    python tools/slurm_local.py stop DIR

`start` installs Debian's slurm-wlm and munge where they are missing (as root, with apt-get), writes
/etc/slurm/slurm.conf (refusing where one exists already; state, spool, logs and process ids go into
DIR), starts munged unless one runs already, then slurmctld and slurmd for this host, and waits
until every partition is idle. Every partition holds this one node, so that several "machines" can
be tried on one. `stop` ends exactly the processes `start` started, by the process ids it recorded
in DIR, and removes the configuration it wrote: no SLURM command then waits for a controller that
is gone. Needs root.

The configuration has to be at SLURM's default place: inside a job, the SLURM executor's job step
clears SLURM_* variables (SLURM_CONF among them) before it calls srun.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# Written by tools/slurm_local.py"
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_PID = Path("/run/munge/munged.pid")
STARTED = "started.json"  # what start started, by process id


class ClusterError(RuntimeError):
    """The cluster cannot be brought up here; the message says why."""


def missing_requirements() -> str | None:
    """Why this machine cannot run the local cluster, or None where it can."""
    if os.geteuid() != 0:
        return "the local SLURM cluster needs root (to install packages and run slurmd)"
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        return "slurm-wlm is not installed and apt-get is not available to install it"
    return None


def install() -> None:
    """Debian's slurm-wlm and munge, where they are missing."""
    if shutil.which("slurmctld") and shutil.which("slurmd") and shutil.which("munged"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ClusterError(f"{' '.join(cmd)} failed: {result.stderr.strip()[-500:]}")


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


def write_config(state: Path, partitions: list[str]) -> Path:
    host = socket.gethostname().split(".")[0]
    for folder in ("spool/slurmctld", "spool/slurmd", "log"):
        (state / folder).mkdir(parents=True, exist_ok=True)
    lines = [
        "ClusterName=local",
        f"SlurmctldHost={host}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "MpiDefault=none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "AccountingStorageType=accounting_storage/none",  # job states come from squeue
        "JobAcctGatherType=jobacct_gather/none",
        "MinJobAge=300",
        "ReturnToService=2",
        f"StateSaveLocation={state}/spool/slurmctld",
        f"SlurmdSpoolDir={state}/spool/slurmd",
        f"SlurmctldPidFile={state}/slurmctld.pid",
        f"SlurmdPidFile={state}/slurmd.pid",
        f"SlurmctldLogFile={state}/log/slurmctld.log",
        f"SlurmdLogFile={state}/log/slurmd.log",
        f"NodeName={host} CPUs={os.cpu_count()} RealMemory={max(1024, _memory_mb() - 2048)} State=UNKNOWN",
    ]
    lines += [
        f"PartitionName={name} Nodes={host} MaxTime=INFINITE State=UP" + (" Default=YES" if i == 0 else "")
        for i, name in enumerate(partitions)
    ]
    if CONF.exists() and not CONF.read_text().startswith(MARKER):
        raise ClusterError(f"{CONF} exists and was not written by this script: a SLURM installation is configured here already")
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(f"{MARKER}; its state is in {state}\n" + "\n".join(lines) + "\n")
    return CONF


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path, timeout_s: float = 10.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.1)
    raise ClusterError(f"{path} was not written: the daemon did not start (see its log in {path.parent})")


def _start_munge() -> int | None:
    """Start munged unless one runs already; return its process id if this call started it."""
    if MUNGE_PID.exists() and _alive(int(MUNGE_PID.read_text().split()[0] or 0)):
        return None
    if not MUNGE_KEY.exists():
        MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
        MUNGE_KEY.write_bytes(os.urandom(1024))
        shutil.chown(MUNGE_KEY, "munge", "munge")
        MUNGE_KEY.chmod(0o400)
    MUNGE_PID.parent.mkdir(parents=True, exist_ok=True)
    shutil.chown(MUNGE_PID.parent, "munge", "munge")
    subprocess.run(["su", "-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged"], check=True, capture_output=True)
    return _read_pid(MUNGE_PID)


def _wait_until_idle(env: dict, partitions: list[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        result = subprocess.run(["sinfo", "-h", "-o", "%R %t"], env=env, capture_output=True, text=True)
        last = (result.stdout + result.stderr).strip()
        states = dict(line.split() for line in result.stdout.splitlines() if len(line.split()) == 2)
        if all(states.get(p) == "idle" for p in partitions):
            return
        time.sleep(0.5)
    raise ClusterError(f"the partitions did not become idle in {timeout_s:.0f} s (sinfo: {last or 'no answer'})")


def start(state: Path, partitions: list[str]) -> Path:
    """Bring the cluster up; return its configuration file."""
    if why := missing_requirements():
        raise ClusterError(why)
    install()
    state = state.resolve()
    conf = write_config(state, partitions)
    env = dict(os.environ)
    started: dict[str, int] = {}
    (state / STARTED).write_text(json.dumps(started))
    if (munged := _start_munge()) is not None:
        started["munged"] = munged
    for daemon in ("slurmctld", "slurmd"):
        (state / f"{daemon}.pid").unlink(missing_ok=True)
        subprocess.run([daemon, "-f", str(conf)], env=env, check=True, capture_output=True)
        started[daemon] = _read_pid(state / f"{daemon}.pid")
        (state / STARTED).write_text(json.dumps(started))
    _wait_until_idle(env, partitions)
    return conf


def stop(state: Path, timeout_s: float = 15.0) -> list[str]:
    """End what start started (slurmd, slurmctld, and munged if start started it); return their names."""
    try:
        started = json.loads((state / STARTED).read_text())
    except (OSError, ValueError):
        return []
    for name in ("slurmd", "slurmctld", "munged"):
        if name in started and _alive(started[name]):
            os.kill(started[name], signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in started.values()):
        time.sleep(0.2)
    for pid in started.values():
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    (state / STARTED).write_text("{}")
    if CONF.exists() and CONF.read_text().startswith(MARKER):
        CONF.unlink()
    return sorted(started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("state", type=Path, help="a folder for the configuration, state, logs and process ids")
    parser.add_argument("--partitions", nargs="+", default=["cpu_a", "cpu_b"])
    args = parser.parse_args()
    try:
        if args.action == "start":
            conf = start(args.state, args.partitions)
            print(f"up: partitions {', '.join(args.partitions)} on this host ({conf})")
        else:
            print("stopped: " + (", ".join(stop(args.state)) or "nothing"))
    except (ClusterError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
