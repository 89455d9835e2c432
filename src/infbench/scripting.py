"""What every workflow script shares: logging to the rule's log and to the terminal, one-line errors, the machine's lock."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from infbench.errors import BenchError
from infbench.isolation import Held, machine_lock

_held: list[Held] = []  # the lock the running step holds (one step per process)


def held_lock() -> Held:
    """The machine's lock as the running step holds it (how long it waited, alone or shared)."""
    return _held[-1]


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
        handlers.append(logging.FileHandler(path, mode="w"))
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


@contextlib.contextmanager
def step(snakemake, measures: bool = False) -> Iterator[logging.Logger]:
    """Run a script's body: a BenchError ends the job with its one-line message, other errors with a traceback.

    The body holds the machine's lock: alone where it `measures`, shared otherwise. A measuring job
    also keeps a copy of its log while it runs (`attempt_log`).
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    attempt = int(getattr(snakemake.resources, "attempt", 1))
    copy = attempt_log(log_path, attempt) if measures and log_path else None
    if copy is not None and attempt == 1:
        _clear_earlier_attempts(log_path)
    logger = setup_logging(snakemake.rule, [p for p in (log_path, copy) if p])
    failed = True
    try:
        with machine_lock(exclusive=measures) as held:
            _held.append(held)
            yield logger
        failed = False
    except BenchError as exc:
        logger.error("error: %s", exc)
        raise SystemExit(1) from None
    except Exception:
        logger.exception("unexpected error")
        raise
    finally:
        if copy is not None:  # the attempt ended without being killed: its copy says how
            for handler in logger.handlers:
                handler.close()
            if failed:
                copy.replace(failed_log(copy))
            else:
                copy.unlink(missing_ok=True)
