"""The package is installed (`-e .` in requirements.txt), not reached through a link or an edited import path."""

import os
import re
import subprocess
import sys

from conftest import REPO, copy_code, installed_from

# Code that edits Python's import path; written in pieces so that this file does not match it.
PATH_EDIT = re.compile(r"\bsys\.path\s*(?:\.\s*(?:insert|append|extend)\b|\[[^\]]*\]\s*=|\+?=(?!=))|\bsite\.addsitedir\b")
# A user's own model (`package.module:function`) is looked for in the working and workflow folders, as
# README says: that is the user's code on the import path, not the package's.
USER_MODULE_FOLDERS = REPO / "src" / "infbench" / "model" / "models.py"


def _project_sources():
    yield REPO / "Snakefile"
    yield from (REPO / "workflow" / "rules").glob("*.smk")
    for folder in ("src", "scripts", "tests", "tools", "benchmarks"):
        yield from (REPO / folder).rglob("*.py")


def test_the_package_is_imported_from_its_editable_installation(tmp_path):
    assert installed_from(REPO) == "infbench"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    where = "import infbench; print(*infbench.__path__)"
    result = subprocess.run([sys.executable, "-c", where], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(REPO / "src" / "infbench")


def test_a_copy_of_the_workflow_that_would_run_the_installed_package_stops_with_one_line(tmp_path):
    (tmp_path / "code").mkdir()
    code = copy_code(tmp_path / "code")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(code / "Snakefile"), "--directory", str(tmp_path), "-n", "--cores", "1"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1] == (f"error: infbench is imported from {REPO / 'src' / 'infbench'}, not from "
                                              f"{code / 'src'} (pip install -e {code})")


def test_no_link_leads_to_the_package():
    links = [path for folder in ("scripts", "workflow", "tests", "tools", "benchmarks") for path in (REPO / folder).rglob("*")
             if path.is_symlink()]
    assert not links, links


def test_no_file_of_the_project_edits_the_import_path():
    editing = [f"{path.relative_to(REPO)}:{number}" for path in _project_sources() if path != USER_MODULE_FOLDERS
               for number, line in enumerate(path.read_text().splitlines(), 1) if PATH_EDIT.search(line)]
    assert not editing, editing
    assert PATH_EDIT.search(USER_MODULE_FOLDERS.read_text())  # the one exception is still there to be excused
