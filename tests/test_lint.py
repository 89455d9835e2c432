"""The workflow and the code stay as their linters and formatters want them."""

import subprocess
import sys

from conftest import REPO

SNAKEFILES = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "workflow" / "rules").glob("*.smk"))]


def _run(*cmd):
    return subprocess.run([sys.executable, "-m", *cmd], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_snakemake_lint_is_clean():
    result = _run("snakemake", "--lint")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_snakefiles_are_formatted_with_snakefmt():
    result = _run("snakefmt", "--check", *SNAKEFILES)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_python_passes_ruff():
    result = _run("ruff", "check", "src", "scripts", "tests", "benchmarks", "tools")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
