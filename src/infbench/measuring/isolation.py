"""Keeping measurements apart from other work on the same machine, whatever Snakemake or the environment say.

Every job of the workflow holds a lock on one file per host: other jobs share it, a timing job holds
it alone. So a measurement never overlaps another job of any run on that host, also when
`--resources` on the command line replaces the profile's `machine_share` limit or `--cores` is
large, and on a cluster node that SLURM shares. The lock is released when the process ends, however
it ends.

The file is `/dev/shm/infbench-machine.lock` (`/tmp/infbench-machine.lock` only where there is no
/dev/shm): a fixed path that no variable moves. A lock under the temporary folder followed
`TMPDIR`, which a profile, a user or a SLURM job sets to a folder of its own, and two runs with
two `TMPDIR`s measured at the same time. /dev/shm is shared by every process of the host, writable
by every user, and in memory (nothing is written to a disk). A file, not an abstract socket: a
socket can be held by one process only, while the lock is shared by the jobs that do not measure and
taken alone by a measurement (flock's shared and exclusive modes). The file is made readable and
writable by every user, so that every user's runs share it; a user who cannot open it (another
user made it unreadable) or cannot lock it gets one line saying so, and the job fails: a
measurement is never made unlocked.

Processes share the lock where they share the file: a container with a /dev/shm of its own (Docker's
default) has a lock of its own, so containers that measure on one host are run with the host's
/dev/shm (`--ipc=host`). A SLURM job may also get a private /dev/shm (job_container/tmpfs); on a
cluster every timing job asks SLURM for its node alone (profiles/slurm), which keeps it apart there.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from infbench.errors import BenchError

LOCK_NAME = "infbench-machine.lock"
LOCK_FOLDERS = ("/dev/shm", "/tmp")  # the first that exists: shared by every process of the host

log = logging.getLogger("infbench")


def lock_path() -> str:
    """The host's lock file: the same for every process of the host, whatever its environment."""
    folder = next((f for f in LOCK_FOLDERS if os.path.isdir(f)), LOCK_FOLDERS[-1])
    return os.path.join(folder, LOCK_NAME)


@dataclass
class Held:
    path: str
    exclusive: bool
    waited_s: float


def _cannot(path: str, what: str, exc: OSError) -> BenchError:
    return BenchError(f"cannot take the machine's lock {path}: {what} ({exc.strerror or exc}); no job runs unlocked, "
                      "since a measurement beside it would not be alone (ask the file's owner to make it readable by "
                      "every user, chmod 666, or remove it)")


def _open(path: str) -> int:
    """The lock file, opened (created where missing); never through a symbolic link."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        try:
            fd = os.open(path, flags | os.O_CREAT, 0o666)
        except PermissionError:  # another user's file in a sticky folder (fs.protected_regular): open it as it is
            fd = os.open(path, flags)
    except OSError as exc:
        raise _cannot(path, "cannot open it", exc) from exc
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666)  # every user's jobs on this host share it (only its owner can; others need not)
    return fd


def _try_lock(fd: int, mode: int, path: str) -> bool:
    """Take the lock without waiting: False where another process holds it, an error where it cannot be locked."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        raise _cannot(path, "cannot lock it", exc) from exc


@contextlib.contextmanager
def machine_lock(exclusive: bool, path: str | None = None, poll_s: float = 0.5) -> Iterator[Held]:
    """Hold the host's lock (alone for a measurement, shared otherwise) for the block; log while waiting.

    `path` is for tests only (a lock of their own); the workflow always takes `lock_path()`.
    """
    path = path or lock_path()
    fd = _open(path)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    start = time.perf_counter()
    told = False
    try:
        while not _try_lock(fd, mode, path):
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
