"""The listing written beside a folder that a step makes (layout.CONTENTS), on which the steps made from it depend.

Snakemake compares a folder by its time alone, which a copy without times resets; a listing is a file,
which it compares by content where its time says it changed.
"""

from __future__ import annotations

from pathlib import Path

from infbench.artifacts import sha256, write_json


def write_contents(folder: str | Path, path: str | Path) -> None:
    """The folder's files (relative names, sizes, SHA-256) as JSON at `path`."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp")
    write_json(path, {str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": sha256(p)} for p in files})
