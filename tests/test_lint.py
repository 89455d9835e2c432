"""The workflow and the code stay as their linters and formatters want them."""

import os
import subprocess
import sys

import pytest
from conftest import REPO, blocking_imports, modules_outside, requirements_closure

SNAKEFILES = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "workflow" / "rules").glob("*.smk"))]


def _run(*cmd, env=None):
    return subprocess.run([sys.executable, "-m", *cmd], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def snakemake_alone(tmp_path_factory) -> dict:
    """An environment that sees only snakemake, what it installs and the workflow's own package: the DAG build must need no more."""
    folder = tmp_path_factory.mktemp("snakemake-alone")
    pinned = next(line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("snakemake=="))
    (folder / "requirements.txt").write_text(f"{pinned}\n-e {REPO}\n")  # and the workflow's own package
    outside = modules_outside(requirements_closure(folder / "requirements.txt")) - {"pip"}
    assert {"numpy", "torch", "onnxruntime", "pandas"} <= outside
    return blocking_imports(folder / "site", outside, "not a dependency of snakemake")


def test_snakemake_lint_is_clean_with_only_snakemake_installed(snakemake_alone):
    result = _run("snakemake", "--lint", env=snakemake_alone)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_a_dry_run_needs_only_snakemake(snakemake_alone, tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    result = _run("snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n", "--cores", "1",
                  "results/table.md", env=snakemake_alone)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_snakefiles_are_formatted_with_snakefmt():
    result = _run("snakefmt", "--check", *SNAKEFILES)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_python_passes_ruff():
    result = _run("ruff", "check", "src", "scripts", "tests", "benchmarks", "tools")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
