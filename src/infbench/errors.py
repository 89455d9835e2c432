"""Errors that reach the user as one line: what is wrong and what is allowed."""

import errno


class BenchError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class ConfigError(BenchError):
    """The configuration is invalid."""


class ArtifactError(BenchError):
    """A file the workflow produced or was given cannot be used (missing, corrupt, truncated)."""


class BackendUnavailable(Exception):
    """A backend cannot run here (library, device or precision missing): its cell is skipped."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (libraries often add pages of context), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


# The file system's refusals, which the environment causes and the user can mend: each said in one
# line with the path, not as a traceback.
ENVIRONMENT_ERRORS = {
    errno.ENOSPC: "no space left on the device (free some space, then run again)",
    errno.EDQUOT: "disk quota exceeded (free some space, then run again)",
    errno.EACCES: "permission denied (give this user access to it, or run where it has)",
    errno.EPERM: "operation not permitted (give this user access to it, or run where it has)",
    errno.EROFS: "read-only file system (run where results/ can be written)",
    errno.EIO: "input/output error (the disk or the network file system failed; check it, then run again)",
    errno.EMFILE: "too many open files (raise the limit, ulimit -n)",
    errno.ENFILE: "too many open files on this system",
}


def environment_error(exc: BaseException, outputs: list[str] | tuple[str, ...] = ()) -> str | None:
    """One line for an OSError of the environment behind `exc` (it, or an exception raised while handling it, as
    torch.save raises RuntimeError over a full disk's OSError): the path and the cause; None for any other error.

    `outputs`: the step's outputs, named where the system names no file (a write to an open file).
    """
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in ENVIRONMENT_ERRORS:
            paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
            where = " -> ".join(paths) or (f"writing {', '.join(map(str, outputs))}" if outputs else "a file of this step")
            return f"{where}: {ENVIRONMENT_ERRORS[error.errno]}"
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
