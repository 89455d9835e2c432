"""Shared helpers: running the real workflow in a temporary directory on a tiny configuration."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Small enough to run the whole workflow in well under a minute on two cores.
TINY_CONFIG = {
    "model": {"architecture": "resnet18", "image_size": 32},
    "train": {"head": {"max_images": 96, "epochs": 5}, "max_val_images": 64, "batch_size": 32},
    "benchmark": {"iterations": 5, "min_time_s": 0, "warmup": {"mode": "fixed", "iterations": 2}},
    "parity": {"images": 64},
}


def make_artifacts(root: Path, image_size: int, classes: int, n_images: int, fp16: bool = False,
                   architecture: str = "resnet18"):
    """A randomly initialised model's weights (resnet18 unless named), its ONNX export(s), and an evaluation set of real digits."""
    import torch

    from infbench.model.data import write_digits
    from infbench.model.export import export_onnx
    from infbench.model.models import build_model, save_state_dict
    from infbench.model.reference import build_eval_set

    torch.manual_seed(0)
    model = build_model(architecture, classes, image_size).eval()
    save_state_dict(model, root / "model_weights.pth")
    export_onnx(model, image_size, root / "onnx_model.onnx", opset=18, exporter="dynamo", half=False)
    if fp16:
        export_onnx(model, image_size, root / "onnx_model_fp16.onnx", opset=18, exporter="dynamo", half=True)
    manifest = write_digits(root / "images", image_size, 0.2, 0)
    card = {"architecture": architecture, "num_classes": classes, "image_size": image_size}
    return build_eval_set(manifest, card, str(root / "model_weights.pth"), n_images=n_images, threads=2)


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def load_script(path: Path) -> ModuleType:
    """A script of tools/ or benchmarks/ (folders that are no package) as a module, loaded from its file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: int = 900, repo: Path = REPO) -> subprocess.CompletedProcess:
    """Run the real snakemake CLI on the repository's Snakefile (or a copy's) inside `workdir`."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(workdir), *args]
    env = {**os.environ, **(env or {})}
    if repo != REPO:  # the copy's own package ahead of the installed one, as if installed from the copy
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(repo / "src"), env.get("PYTHONPATH"))))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


CODE = ("Snakefile", "workflow", "scripts", "src", "profiles", "envs")


def copy_code(dest: Path) -> Path:
    """A private copy of the workflow's code (Snakefile, rules, scripts, package, profiles, environments), to edit in tests."""
    for name in CODE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="session")
def finished_workflow(tmp_path_factory) -> Path:
    """A working directory in which the whole workflow has run once on the tiny configuration."""
    workdir = tmp_path_factory.mktemp("workflow")
    write_config(workdir, TINY_CONFIG)
    result = snakemake(workdir, "--cores", "2", "results/table.md")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.fixture
def workflow_copy(finished_workflow, tmp_path) -> Path:
    """A private copy of the finished workflow (results and Snakemake's metadata, mtimes kept)."""
    target = tmp_path / "copy"
    shutil.copytree(finished_workflow, target, symlinks=True)
    return target


def blocking_imports(folder: Path, modules: set[str], why: str) -> dict:
    """An environment in which Python refuses to import `modules` (as if they were not installed): PYTHONPATH's sitecustomize."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import importlib.abc, importlib.util, sys\n"
        f"BLOCKED = {sorted(modules)!r}\n"
        "class Blocker(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        f"            raise ModuleNotFoundError(f'No module named {{name!r}} ({why})', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Blocker())\n"
        "_find_spec = importlib.util.find_spec\n"
        "def find_spec(name, package=None):  # as for a module that is not installed\n"
        "    return None if name.split('.')[0] in BLOCKED else _find_spec(name, package)\n"
        "importlib.util.find_spec = find_spec\n"
    )
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)}


def requirements_closure(requirements: Path) -> set[str]:
    """The distributions `pip install -r requirements` installs, read from this environment's metadata (canonical names)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    pending = [(Requirement(line), set()) for line in lines if line and not line.startswith("-")]
    pending += [(Requirement(installed_from(requirements.parent / line.removeprefix("-e").strip())), set())
                for line in lines if line.startswith("-e ")]
    seen: set[str] = set()
    while pending:
        requirement, _ = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(requirement.name).requires or []
        except PackageNotFoundError:
            continue
        for text in requires:
            dependency = Requirement(text)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras | {""}):
                pending.append((dependency, set()))
    return seen


def installed_from(folder: Path) -> str:
    """The name of the distribution this environment installed from `folder` (`pip install -e FOLDER`)."""
    from importlib.metadata import distributions

    for dist in distributions():
        if json.loads(dist.read_text("direct_url.json") or "{}").get("url") == folder.resolve().as_uri():
            return dist.metadata["Name"]
    raise AssertionError(f"nothing is installed from {folder} (pip install -e {folder})")


def modules_outside(closure: set[str]) -> set[str]:
    """Top-level modules of this environment that come only from distributions outside `closure`."""
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    return {module for module, dists in packages_distributions().items()
            if not any(canonicalize_name(d) in closure for d in dists) and not module.startswith("_")}
