"""Errors that reach the user as one line: what is wrong and what is allowed."""


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
