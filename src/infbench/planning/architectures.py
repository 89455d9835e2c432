"""Which classifiers a model may be, and the input sizes each takes: checked at DAG build, without importing torch.

A model's architecture is one of three kinds:

- a torchvision classification model by name (`resnet50`, `vit_b_16`): the names torchvision registers
  in `torchvision.models` itself (not its detection or segmentation models), read from its source;
- a timm model as `timm/<name>` (timm is optional: requirements-timm.txt), read from timm's source;
- a user's own module as `package.module:factory`, a function that returns an `nn.Module` (called
  with `num_classes=`), found on the workflow's path without importing it.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from infbench.errors import ConfigError

TIMM_PREFIX = "timm/"
FACTORY = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<function>[A-Za-z_]\w*)$")
MIN_IMAGE_SIZE = 32  # five stride-2 stages bring 32 px down to 1 px
MAX_IMAGE_SIZE = 1024


@dataclass(frozen=True)
class SizeRule:
    """The input sizes an architecture family takes."""

    minimum: int
    multiple: int = 1
    why: str = ""


# Families whose input size is constrained beyond the minimum (seen by building each torchvision
# classifier at 32 to 224 px): vision transformers cut the image into fixed patches, MaxViT into
# 7x7 partitions of its stride-32 grid; AlexNet's and Inception v3's stems need room.
SIZE_RULES = (
    (re.compile(r"^vit_[a-z]+_(\d+)$"), lambda m: SizeRule(int(m.group(1)), int(m.group(1)), f"a grid of {m.group(1)}-pixel patches")),
    (re.compile(r"^maxvit_"), lambda m: SizeRule(224, 224, "7x7 partitions of its stride-32 grid")),
    (re.compile(r"^alexnet$"), lambda m: SizeRule(63, 1, "its stem's large strides")),
    (re.compile(r"^inception_v3$"), lambda m: SizeRule(75, 1, "its stem's valid convolutions")),
)


def _module_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


# A function under @register_model (torchvision's and timm's registries), other decorators allowed between.
_REGISTERED = re.compile(r"^@register_model\b[^\n]*\n(?:@[^\n]*\n)*def (\w+)\(", re.MULTILINE)


def _registered(source: Path) -> list[str]:
    """Names of the functions decorated with @register_model in one file."""
    return _REGISTERED.findall(source.read_text())


def _registered_models(package: str) -> tuple[str, ...]:
    """The models registered in the files of `package`/models/ itself (not its subpackages), () where it is not installed."""
    folder = _module_dir(package)
    if folder is None:
        return ()
    return tuple(sorted(name for path in (folder / "models").glob("*.py") for name in _registered(path)))


@functools.cache
def torchvision_classifiers() -> tuple[str, ...]:
    """What torchvision.models.list_models(module=torchvision.models) returns, read from the sources."""
    return _registered_models("torchvision")


@functools.cache
def timm_models() -> tuple[str, ...]:
    return _registered_models("timm")


def kind(architecture: str) -> str:
    if architecture.startswith(TIMM_PREFIX):
        return "timm"
    if FACTORY.match(architecture):
        return "factory"
    return "torchvision"


def _nearest(name: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"nearest: {', '.join(close)}" if close else f"{len(known)} known"


def _find_factory_module(module: str, search: list[Path]) -> Path | None:
    parts = module.split(".")
    for root in search:
        base = root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def factory_file(architecture: str, search: list[Path]) -> Path | None:
    """The file of a package.module:function architecture's module, where check_architecture finds it; None for the other kinds."""
    match = FACTORY.match(architecture)
    return _find_factory_module(match["module"], search) if match else None


def size_rule(architecture: str) -> SizeRule:
    name = architecture.removeprefix(TIMM_PREFIX)
    for pattern, rule in SIZE_RULES:
        if match := pattern.match(name):
            return rule(match)
    return SizeRule(MIN_IMAGE_SIZE)


def check_architecture(key: str, architecture: str, search: list[Path]) -> None:
    """Raise ConfigError naming `key` where the architecture is not one this machine can build."""
    if kind(architecture) == "timm":
        name = architecture.removeprefix(TIMM_PREFIX)
        if _module_dir("timm") is None:
            raise ConfigError(f"{key}: '{architecture}' needs timm, which is not installed (pip install -r requirements-timm.txt)")
        if name not in timm_models():
            raise ConfigError(f"{key}: '{name}' is not a timm model ({_nearest(name, timm_models())})")
    elif kind(architecture) == "factory":
        module = FACTORY.match(architecture)["module"]
        if _find_factory_module(module, search) is None:
            where = ", ".join(str(p) for p in search)
            raise ConfigError(f"{key}: module '{module}' of '{architecture}' is not found (looked in {where})")
    elif _module_dir("torchvision") is None:
        return  # a dry run or lint needs only snakemake; the job that builds the model names what is missing
    elif architecture not in torchvision_classifiers():
        raise ConfigError(
            f"{key}: '{architecture}' is not a torchvision classification model ({_nearest(architecture, torchvision_classifiers())};"
            " timm models as timm/<name>, your own as package.module:function)"
        )


def check_image_size(key: str, architecture: str, size: int) -> None:
    """Raise ConfigError where `architecture` cannot take square images of `size` pixels."""
    rule = size_rule(architecture)
    if not rule.minimum <= size <= MAX_IMAGE_SIZE or size % rule.multiple:
        allowed = f"{rule.minimum} to {MAX_IMAGE_SIZE} pixels" + (f", a multiple of {rule.multiple}" if rule.multiple > 1 else "")
        why = f": {rule.why}" if rule.why else ""
        raise ConfigError(f"{key}: {architecture} cannot take {size}x{size} images (allowed: {allowed}{why})")


def factory_search_path(workdir: Path, basedir: Path) -> list[Path]:
    """Where a user's own module is looked for: the working directory, the workflow's folder, then Python's path."""
    return [workdir, basedir, *(Path(p) for p in sys.path if p)]
