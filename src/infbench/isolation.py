"""Keeping measurements apart from other work on the same machine, whatever Snakemake was told.

Every job of the workflow holds a lock on one file per host: other jobs share it, a timing job holds
it alone. So a measurement never overlaps another job of any run on that host, also when
`--resources` on the command line replaces the profile's `machine_share` limit or `--cores` is
large, and on a cluster node that SLURM shares. The lock is released when the process ends, however
it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

LOCK_VARIABLE = "INFBENCH_LOCK"  # where the lock file is, if not in the temporary folder
LOCK_NAME = "infbench-machine.lock"

log = logging.getLogger("infbench")


def lock_path() -> str:
    return os.environ.get(LOCK_VARIABLE) or os.path.join(tempfile.gettempdir(), LOCK_NAME)


@dataclass
class Held:
    path: str
    exclusive: bool
    waited_s: float


def _open(path: str) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    except PermissionError:  # created by another user: reading is enough to lock it
        fd = os.open(path, os.O_RDONLY)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666)  # every user's jobs on this host share it
    return fd


@contextlib.contextmanager
def machine_lock(exclusive: bool, path: str | None = None, poll_s: float = 0.5) -> Iterator[Held]:
    """Hold the host's lock (alone for a measurement, shared otherwise) for the block; log while waiting."""
    path = path or lock_path()
    fd = _open(path)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    start = time.perf_counter()
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    what = "a measurement" if exclusive else "this job"
                    log.info("waiting for %s (%s): another job of this workflow is using this machine", path, what)
                    told = True
                time.sleep(poll_s)
        yield Held(path, exclusive, round(time.perf_counter() - start, 3))
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
