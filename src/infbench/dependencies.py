"""Which files of this package a workflow script runs, so that editing one reruns exactly its steps.

Snakemake does not know which modules a script imports. Each rule therefore has a param that holds
a digest of the script and of every package file it imports, directly or through other modules of
the package, found by reading the sources (`ast`, nothing is imported). Modules a script loads by
name at run time (a backend's implementation) are named by the rule. A param compares contents, and
its paths are relative to the workflow's folder: an edit reruns what it affects, an edit undone
reruns nothing, and a finished run moved or copied to another folder plans nothing.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
from pathlib import Path

PACKAGE = "infbench"


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


def _statements(text: str) -> list[ast.stmt]:
    """The package's import statements in a source, parsed one by one (parsing only these is what keeps a dry run fast)."""
    parsed = []
    for match in _PACKAGE_IMPORT.finditer(text):
        try:
            parsed.extend(ast.parse(match.group(0).strip()).body)
        except SyntaxError:  # prose in a docstring that reads like an import
            continue
    return parsed


@functools.cache
def _direct_imports(path: Path) -> frozenset[str]:
    """The package's modules that a source file imports (anywhere in it, lazy imports included)."""
    found: set[str] = set()
    for node in _statements(path.read_text()):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == PACKAGE:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # a submodule, or a name (dropped below)
    return frozenset(found)


@functools.cache
def package_files(package_root: Path, script: Path, extra_modules: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Sorted paths of the package files `script` imports, transitively, plus `extra_modules` and theirs."""
    seen: set[Path] = set()
    visited: set[str] = set()
    pending = [m for module in (*_direct_imports(script), *extra_modules) for m in _with_parents(module)]
    while pending:
        module = pending.pop()
        if module in visited:
            continue
        visited.add(module)
        path = _module_file(package_root, module)
        if path is None or path in seen:
            continue
        seen.add(path)
        pending.extend(m for imported in _direct_imports(path) for m in _with_parents(imported))
    return tuple(sorted(str(p) for p in seen))


@functools.cache
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def code_digests(base: Path, package_root: Path, script: Path, extra_modules: tuple[str, ...] = ()) -> dict[str, str]:
    """{path relative to `base`: digest of its content} for a script and the package files it runs."""
    files = [script, *(Path(p) for p in package_files(package_root, script, extra_modules))]
    return {str(path.relative_to(base)): _digest(path) for path in files}
