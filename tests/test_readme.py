"""Every snakemake command the README and docs/ show works as written (as a dry run where a real run is long)."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, blocking_imports, modules_outside, requirements_closure

README = REPO / "README.md"
# The pages whose commands run in a folder of the default configuration (their paths name its model).
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "config" / "README.md"]
# The places a command appears: an indented or fenced code line (after an optional "$ " prompt, and
# as any part of an "a && b" line), or inline code in the text.
_CODE_LINE = re.compile(r"^(?: {4,}|\t)(?:\$ )?(.+)$", re.MULTILINE)
_INLINE = re.compile(r"`([^`\n]+)`")
_SNAKEMAKE = re.compile(r"^(?:\.venv/bin/)?snakemake(?: |$)")
_LONG_RUN_FLAGS = {"-n", "--dry-run", "--lint", "--report", "--version", "-h", "--help"}


def _fenced_lines(text: str) -> list[str]:
    lines = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        lines += [line.removeprefix("$ ") for line in block.splitlines()]
    return lines


def documented_commands(page: Path) -> list[tuple[str, str | None]]:
    """(command, the line shown right after it when that is an error message) for each snakemake command of a page."""
    text = page.read_text()
    found: dict[str, str | None] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _CODE_LINE.match(line)
        if not match:
            continue
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        expected = following if following.startswith(("config error:", "error:")) else None
        for part in match.group(1).split("&&"):
            if _SNAKEMAKE.match(part.strip()):
                found.setdefault(part.strip(), expected)
    for code in _fenced_lines(text) + _INLINE.findall(text):
        for part in code.split("&&"):
            if _SNAKEMAKE.match(part.strip()):
                found.setdefault(part.strip(), None)
    return sorted(found.items())


def test_the_readme_shows_the_commands_a_user_needs():
    commands = [c for c, _ in documented_commands(README)]
    assert any("--config benchmark=" in c for c in commands)
    assert any(c.endswith("results/table.md") for c in commands)


def test_the_docs_commands_are_found():
    commands = [c for page in DOCS for c, _ in documented_commands(page)]
    assert any("profiles/slurm" in c for c in commands) and any("results/changes.md" in c for c in commands)


@pytest.fixture(scope="module")
def readme_workdir(tmp_path_factory, finished_workflow):
    """A finished workflow, with the repository's docs, profiles and example configs where the README's paths expect them."""
    import shutil

    workdir = tmp_path_factory.mktemp("readme")
    shutil.copytree(finished_workflow, workdir, symlinks=True, dirs_exist_ok=True)
    for name in ("docs", "profiles"):
        (workdir / name).symlink_to(REPO / name)
    for example in (REPO / "config").glob("*.example.yaml"):
        shutil.copy(example, workdir / "config" / example.name)
    return workdir


@pytest.fixture(scope="module")
def docs_workdir(tmp_path_factory):
    """A fresh folder with the default configuration, the repository's docs, profiles and example configs."""
    import shutil

    workdir = tmp_path_factory.mktemp("docs")
    (workdir / "config").mkdir()
    for config in (REPO / "config").glob("*.yaml"):
        shutil.copy(config, workdir / "config" / config.name)
    for name in ("docs", "profiles"):
        (workdir / name).symlink_to(REPO / name)
    return workdir


@pytest.fixture(scope="module")
def slurm_executor(tmp_path_factory) -> Path:
    """The SLURM executor plugin as requirements-slurm.txt pins it, for the commands that use profiles/slurm."""
    target = tmp_path_factory.mktemp("slurm-plugin")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
           "-r", str(REPO / "requirements-slurm.txt")]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return target


@pytest.fixture(scope="module")
def installed_by_requirements(tmp_path_factory) -> dict:
    """An environment that sees only what `pip install -r requirements.txt` installs (the test tools are blocked)."""
    outside = modules_outside(requirements_closure(REPO / "requirements.txt")) - {"pip"}
    assert "pytest" in outside  # the tests' own tools are not the workflow's
    return blocking_imports(tmp_path_factory.mktemp("requirements-only"), outside, "not installed by requirements.txt")


def _runs_as_written(workdir, request, env_blocked, command, expected_error):
    argv = shlex.split(command)
    args = argv[1:]
    if not _LONG_RUN_FLAGS & set(args):
        args.append("-n")  # a real run is what the quick start and CI do; here the plan must build
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    env = dict(os.environ) | env_blocked
    if "profiles/slurm" in command:
        env["PYTHONPATH"] = os.pathsep.join([str(request.getfixturevalue("slurm_executor")), env["PYTHONPATH"]])
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300, env=env)
    output = result.stdout + result.stderr
    if expected_error:
        assert result.returncode != 0 and expected_error in output, output[-2000:]
    else:
        assert result.returncode == 0, output[-3000:]


@pytest.mark.parametrize("command, expected_error", documented_commands(README))
def test_readme_command_works_as_written(readme_workdir, request, installed_by_requirements, command, expected_error):
    _runs_as_written(readme_workdir, request, installed_by_requirements, command, expected_error)


@pytest.mark.parametrize(
    "page, command, expected_error",
    [(page.relative_to(REPO).as_posix(), c, e) for page in DOCS for c, e in documented_commands(page)],
)
def test_docs_command_works_as_written(docs_workdir, request, installed_by_requirements, page, command, expected_error):
    _runs_as_written(docs_workdir, request, installed_by_requirements, command, expected_error)
