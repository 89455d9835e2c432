"""Errors that reach the user as one line: what is wrong and what is allowed."""


class BenchError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class ConfigError(BenchError):
    """The configuration is invalid."""


class ArtifactError(BenchError):
    """A file the workflow produced or was given cannot be used (missing, corrupt, truncated)."""


class BackendUnavailable(Exception):
    """A backend cannot run here (library, device or precision missing): its cell is skipped."""
