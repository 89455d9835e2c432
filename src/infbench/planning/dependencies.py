"""Which files of this package a workflow script runs, so that editing one reruns exactly its steps.

Snakemake does not know which modules a script imports. Each rule therefore has a param that holds
a digest of the script and of every package file it imports, directly or through other modules of
the package, found by reading the sources (`ast`, nothing is imported). Modules a job loads by name
at run time, or imports inside a function only where its backend or recipe calls for them (a
backend's implementation, the GPU's helpers, a quantizer), are `chosen`: never followed through an
import inside a function, they are named by the rules whose jobs run them. A param compares
contents, and its paths are relative to the workflow's folder: an edit reruns what it affects, an
edit undone reruns nothing, and a finished run moved or copied to another folder plans nothing.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import re
from pathlib import Path

PACKAGE = "infbench"
PROJECT_VARIABLE = "INFBENCH_PROJECT"  # envs/*.yaml install the package from this folder: `-e ${INFBENCH_PROJECT}`


def installed_elsewhere(package_root: Path) -> str | None:
    """Why the package this process imports is not the one under `package_root`, whose files the digests read; None
    where it is."""
    imported = Path(__file__).resolve().parents[1]  # infbench/, the folder of this module's package
    if imported == (package_root / PACKAGE).resolve():
        return None
    return f"{PACKAGE} is imported from {imported}, not from {package_root} (pip install -e {package_root.parent})"


def name_project_folder(project: Path) -> None:
    """Tell the conda environments' pip (envs/*.yaml) the folder whose package they install, through the environment
    every job and environment creation inherits."""
    os.environ[PROJECT_VARIABLE] = str(project)


@functools.cache
def _module_file(package_root: Path, module: str) -> Path | None:
    """The file of `module` (dotted, starting with the package's name) under `package_root`, if any."""
    parts = module.split(".")
    base = package_root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _with_parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


# The import statements that name the package, lazy ones included; parenthesised names may span lines.
_PACKAGE_IMPORT = re.compile(
    rf"^[ \t]*(?:from[ \t]+{PACKAGE}\b[\w.]*[ \t]+import[ \t]+(?:\([^)]*\)|[^\n]*)|import[ \t]+{PACKAGE}\b[^\n]*)",
    re.MULTILINE,
)


def _statements(text: str) -> list[tuple[ast.stmt, bool]]:
    """The package's import statements in a source, each with whether it is indented (inside a function: lazy),
    parsed one by one (parsing only these is what keeps a dry run fast)."""
    parsed = []
    for match in _PACKAGE_IMPORT.finditer(text):
        try:
            parsed.extend((node, match.group(0)[0] in " \t") for node in ast.parse(match.group(0).strip()).body)
        except SyntaxError:  # prose in a docstring that reads like an import
            continue
    return parsed


def _names(node: ast.stmt) -> set[str]:
    """The package's modules an import statement names (for `from a import b`, a.b too: a submodule, or a name)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE}
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == PACKAGE:
        return {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return set()


@functools.cache
def _direct_imports(path: Path, chosen: frozenset[str] = frozenset()) -> frozenset[str]:
    """The package's modules that a source file imports (anywhere in it, lazy imports included), except the
    `chosen` modules it imports inside a function."""
    found: set[str] = set()
    for node, lazy in _statements(path.read_text()):
        found.update(name for name in _names(node) if not (lazy and chosen.intersection(_with_parents(name))))
    return frozenset(found)


@functools.cache
def package_files(package_root: Path, script: Path, extra_modules: tuple[str, ...] = (),
                  chosen: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Sorted paths of the package files `script` imports, transitively, plus `extra_modules` and theirs; a `chosen`
    module imported inside a function is left out unless it is one of `extra_modules`."""
    seen: set[Path] = set()
    visited: set[str] = set()
    pending = [m for module in (*_direct_imports(script, chosen), *extra_modules) for m in _with_parents(module)]
    while pending:
        module = pending.pop()
        if module in visited:
            continue
        visited.add(module)
        path = _module_file(package_root, module)
        if path is None or path in seen:
            continue
        seen.add(path)
        pending.extend(m for imported in _direct_imports(path, chosen) for m in _with_parents(imported))
    return tuple(sorted(str(p) for p in seen))


@functools.cache
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def code_digests(base: Path, package_root: Path, script: Path, extra_modules: tuple[str, ...] = (),
                 chosen: frozenset[str] = frozenset()) -> dict[str, str]:
    """{path relative to `base`: digest of its content} for a script and the package files it runs."""
    files = [script, *(Path(p) for p in package_files(package_root, script, extra_modules, chosen))]
    return {str(path.relative_to(base)): _digest(path) for path in files}
