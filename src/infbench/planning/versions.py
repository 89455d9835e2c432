"""Library versions: installed (read from package metadata, cheap) and imported (read from modules)."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path

from infbench.planning.catalog import LIBRARIES

_VERSION_LINE = re.compile(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", re.MULTILINE)
_PACKAGE_LINE = re.compile(r"""^package_name\s*=\s*['"]([^'"]+)['"]""", re.MULTILINE)


def _module_dir(module: str) -> Path | None:
    """Where `module` would be imported from (found, not imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _built_as(lib) -> str | None:
    """'<distribution> <version>' as written into the module's own build-info file, if it has one."""
    if lib.build_info is None or (folder := _module_dir(lib.module)) is None:
        return None
    try:
        text = (folder / lib.build_info).read_text(errors="replace")
    except OSError:
        return None
    package, version = _PACKAGE_LINE.search(text), _VERSION_LINE.search(text)
    return f"{package.group(1)} {version.group(1)}" if package and version else None


def installed_distributions(library: str) -> dict[str, str]:
    """Every pip distribution of a library that is installed, with its version (metadata only)."""
    found = {}
    for dist in LIBRARIES[library].distributions:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def distribution_warnings(libraries) -> list[str]:
    """One line per library of which several alternative distributions are installed at once."""
    warnings = []
    for name in libraries:
        lib = LIBRARIES[name]
        installed = installed_distributions(name) if lib.exclusive else {}
        if len(installed) > 1:
            listed = ", ".join(f"{dist} {version}" for dist, version in installed.items())
            warnings.append(
                f"{name}: {listed} are installed at once and write the same '{lib.module}' module; what is imported is "
                f"{installed_version(name)}. Keep one: pip uninstall -y {' '.join(installed)}, then install the one you want."
            )
    return warnings


@functools.cache  # the DAG build asks for the same libraries for many rules
def installed_version(library: str) -> str | None:
    """The installed version of a library, without importing it; None if it is not installed.

    A module that records what it was built as (ONNX Runtime's build_and_package_info.py) is read
    first: where onnxruntime and onnxruntime-gpu are both installed, the files of the last one
    installed are what runs, whatever the metadata says. Otherwise distribution names are tried in
    the catalog's order ("onnxruntime-gpu 1.31.1", the TensorRT wheels). A module installed without
    package metadata (TensorRT from JetPack's apt packages) is read from its __init__.py.
    """
    lib = LIBRARIES[library]
    if built := _built_as(lib):
        return built
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
