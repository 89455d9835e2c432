"""Library versions: installed (read from package metadata, cheap) and imported (read from modules)."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path

from infbench.catalog import LIBRARIES

_VERSION_LINE = re.compile(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", re.MULTILINE)


@functools.cache  # the DAG build asks for the same libraries for many rules
def installed_version(library: str) -> str | None:
    """The installed version of a library, without importing it; None if it is not installed.

    Distribution names are tried in the catalog's order, so that onnxruntime-gpu and the
    TensorRT wheels are told apart ("onnxruntime-gpu 1.31.1"). A module installed without
    package metadata (TensorRT from JetPack's apt packages) is read from its __init__.py.
    """
    lib = LIBRARIES[library]
    for dist in lib.distributions:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        return version if len(lib.distributions) == 1 else f"{dist} {version}"
    spec = importlib.util.find_spec(lib.module)
    if spec is None or spec.origin is None:
        return None
    match = _VERSION_LINE.search(Path(spec.origin).read_text(errors="replace"))
    return f"{lib.module} {match.group(1)}" if match else f"{lib.module} (version unknown)"


def installed_versions(libraries: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Installed versions as a plain dict, "not installed" where missing: a Snakemake param."""
    return {name: installed_version(name) or "not installed" for name in libraries}


def imported_versions(libraries: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Versions of the libraries this process actually imported (absent ones are left out)."""
    found = {}
    for name in libraries:
        lib = LIBRARIES[name]
        module = sys.modules.get(lib.module)
        if module is None:
            continue
        version = getattr(module, "__version__", None)
        if version is None:  # torch2trt has no __version__
            version = installed_version(name) or "unknown"
        found[name] = str(version)
    return found
