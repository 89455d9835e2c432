"""What every workflow script shares: logging to the rule's log and to the terminal, one-line errors."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from infbench.errors import BenchError


def setup_logging(name: str, log_path: str | Path | None) -> logging.Logger:
    """A logger that writes to the rule's log file and to stderr, so long steps show progress."""
    logger = logging.getLogger("infbench")
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    fmt = logging.Formatter(f"%(asctime)s [{name}] %(message)s", datefmt="%H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    return logger


@contextlib.contextmanager
def step(snakemake) -> Iterator[logging.Logger]:
    """Run a script's body: a BenchError ends the job with its one-line message, other errors with a traceback."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    logger = setup_logging(snakemake.rule, log_path)
    try:
        yield logger
    except BenchError as exc:
        logger.error("error: %s", exc)
        raise SystemExit(1) from None
    except Exception:
        logger.exception("unexpected error")
        raise
