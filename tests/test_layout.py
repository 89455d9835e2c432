"""The seam between planning and measuring: what Snakemake imports to build the DAG stays light."""

import os
import re
import subprocess
import sys

from conftest import NUMERICAL_LIBRARIES, REPO

WORKFLOW_FILES = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]


def planning_modules() -> list[str]:
    """Every module of the package that the Snakefile and the rules import, read from their text."""
    found = set()
    for path in WORKFLOW_FILES:
        found |= set(re.findall(r"^\s*(?:from|import)\s+(infbench(?:\.\w+)*)", path.read_text(), re.MULTILINE))
    return sorted(found)


def test_the_workflow_files_import_planning_modules():
    modules = planning_modules()
    assert {"infbench.config", "infbench.cells", "infbench.catalog"} <= set(modules), modules


def test_the_planning_modules_load_no_numerical_library_in_a_fresh_interpreter():
    code = "\n".join(["import sys", *(f"import {m}" for m in planning_modules()),
                      f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({NUMERICAL_LIBRARIES!r})))"])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", f"planning modules loaded {result.stdout.strip()}"

