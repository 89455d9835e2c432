"""What every workflow script shares: logging to the rule's log and to the terminal, one-line errors, the machine's lock."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from infbench.errors import BenchError, environment_error
from infbench.measuring.isolation import Held, machine_lock

_held: list[Held] = []  # the lock the running step holds (one step per process)


def held_lock() -> Held:
    """The machine's lock as the running step holds it (how long it waited, alone or shared)."""
    return _held[-1]


class _LogFile(logging.FileHandler):
    """A job's log file that, when it cannot be written (a full disk), stays silent: the terminal still gets every
    line, and logging's own report of the failure would be a traceback per line."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def setup_logging(name: str, log_paths: list[str | Path]) -> logging.Logger:
    """A logger that writes to the rule's log files and to stderr, so long steps show progress."""
    logger = logging.getLogger("infbench")
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    fmt = logging.Formatter(f"%(asctime)s [{name}] %(message)s", datefmt="%H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    for path in log_paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(_LogFile(path, mode="w"))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    return logger


def attempt_log(log_path: str | Path, attempt: int) -> Path:
    """Where an attempt of a measuring job keeps a copy of its log while it runs.

    Snakemake deletes a job's declared log before the next attempt. After an attempt, the copy is
    gone if it succeeded, renamed `<copy>.failed` if it ended with an error, and still there if the
    attempt was killed mid-way: the next attempt reads what happened from it.
    """
    return Path(f"{log_path}.attempt{attempt}")


def failed_log(copy: Path) -> Path:
    return Path(f"{copy}.failed")


def _clear_earlier_attempts(log_path: str) -> None:
    """A new first attempt: copies left by an earlier run's attempts say nothing about this one."""
    for stale in Path(log_path).parent.glob(Path(log_path).name + ".attempt*"):
        stale.unlink(missing_ok=True)


def _to_log_files(logger: logging.Logger, exc: BaseException) -> None:
    """The traceback of `exc` in the job's log files only: the terminal gets the one line that names the cause."""
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "the error in full:", (),
                               (type(exc), exc, exc.__traceback__))
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


@contextlib.contextmanager
def step(snakemake, measures: bool = False) -> Iterator[logging.Logger]:
    """Run a script's body: a BenchError ends the job with its one-line message, and so does an OSError of the
    environment (no space left, permission denied, read-only file system: the path and the cause, the traceback
    in the job's log file only); other errors end it with a traceback.

    The body holds the machine's lock: alone where it `measures`, shared otherwise. A measuring job
    also keeps a copy of its log while it runs (`attempt_log`).
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    attempt = int(getattr(snakemake.resources, "attempt", 1))
    copy = attempt_log(log_path, attempt) if measures and log_path else None
    if copy is not None and attempt == 1:
        _clear_earlier_attempts(log_path)
    outputs = [str(p) for p in getattr(snakemake, "output", [])]
    try:
        logger = setup_logging(snakemake.rule, [p for p in (log_path, copy) if p])
    except OSError as exc:
        if (line := environment_error(exc, outputs)) is None:
            raise
        raise SystemExit(f"error: {line}") from None
    failed = True
    try:
        with machine_lock(exclusive=measures) as held:
            _held.append(held)
            yield logger
        failed = False
    except BenchError as exc:
        logger.error("error: %s", exc)
        raise SystemExit(1) from None
    except Exception as exc:
        if (line := environment_error(exc, outputs)) is None:
            logger.exception("unexpected error")
            raise
        _to_log_files(logger, exc)
        logger.error("error: %s", line)
        raise SystemExit(1) from None
    finally:
        if copy is not None:  # the attempt ended without being killed: its copy says how
            for handler in logger.handlers:
                handler.close()
            if failed:
                copy.replace(failed_log(copy))
            else:
                copy.unlink(missing_ok=True)
