"""Building classifiers (torchvision's, timm's, a user's own) and reading and writing their weights."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import torch

from infbench.artifacts import atomic_path
from infbench.errors import ArtifactError, BenchError, first_line
from infbench.planning.architectures import FACTORY, TIMM_PREFIX, kind

REPO = Path(__file__).resolve().parents[2]


def _torchvision(architecture: str, num_classes: int, image_size: int | None) -> torch.nn.Module:
    import torchvision

    options: dict = {}
    if architecture.startswith("vit_") and image_size:
        options["image_size"] = image_size  # its position embedding is made for one patch grid
    if architecture in ("inception_v3", "googlenet"):
        options["aux_logits"] = False  # one output, in training as at inference
        options["init_weights"] = True
    return torchvision.models.get_model(architecture, weights=None, num_classes=num_classes, **options)


def _timm(architecture: str, num_classes: int, image_size: int | None) -> torch.nn.Module:
    import timm

    name = architecture.removeprefix(TIMM_PREFIX)
    try:
        return timm.create_model(name, pretrained=False, num_classes=num_classes, img_size=image_size)
    except TypeError:  # models without a fixed input size take no img_size
        return timm.create_model(name, pretrained=False, num_classes=num_classes)


def _factory(architecture: str, num_classes: int) -> torch.nn.Module:
    """A user's own module: package.module:function, called with num_classes=, from the working or workflow folder."""
    match = FACTORY.match(architecture)
    for folder in (os.getcwd(), str(REPO)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        function = getattr(importlib.import_module(match["module"]), match["function"])
        model = function(num_classes=num_classes)
    except Exception as exc:
        raise BenchError(f"{architecture}: building the model failed ({type(exc).__name__}: {first_line(exc)})") from exc
    if not isinstance(model, torch.nn.Module):
        raise BenchError(f"{architecture}: returned {type(model).__name__}, not a torch.nn.Module")
    return model


def build_model(architecture: str, num_classes: int, image_size: int | None = None) -> torch.nn.Module:
    """A classifier with random weights: a torchvision name, timm/<name>, or package.module:function."""
    if kind(architecture) == "timm":
        return _timm(architecture, num_classes, image_size)
    if kind(architecture) == "factory":
        return _factory(architecture, num_classes)
    return _torchvision(architecture, num_classes, image_size)


def classifier_layer(model: torch.nn.Module) -> torch.nn.Linear:
    """The final Linear layer: the classifier head of torchvision's and timm's classifiers."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise BenchError(f"{type(model).__name__} has no Linear classifier layer, which training its head needs "
                         "(train.trainable: all trains every layer)")
    return linears[-1]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state_dict, turning a missing, corrupt or truncated file into a one-line ArtifactError."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError... for bad files
        raise ArtifactError(f"{path}: not a readable PyTorch checkpoint ({first_line(exc)})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"{path}: holds no state_dict of tensors")
    return state


def _classifier_names(model: torch.nn.Module) -> set[str]:
    """The state_dict names of the classifier layer, the one part a starting checkpoint may lack or differ in."""
    head = classifier_layer(model)
    prefix = next(name for name, module in model.named_modules() if module is head)
    return {f"{prefix}.{key}" for key in head.state_dict()}


def misfit(state: dict[str, torch.Tensor], model: torch.nn.Module, architecture: str, exempt: set[str]) -> str | None:
    """The first tensor of a checkpoint that does not fit `model` (outside `exempt`), said in words; None if all fit."""
    own = model.state_dict()
    for name, tensor in state.items():
        if name in exempt:
            continue
        if name not in own:
            return f"{name} is not a tensor of {architecture}"
        if own[name].shape != tensor.shape:
            return f"{name} has shape {tuple(tensor.shape)} in the file and {tuple(own[name].shape)} in {architecture}"
    if missing := sorted(set(own) - set(state) - exempt):
        return f"it holds no {missing[0]}, which {architecture} has ({len(missing)} such tensors)"
    return None


def load_starting_weights(model: torch.nn.Module, path: str | Path, architecture: str) -> list[str]:
    """Load a checkpoint of the same architecture; its classifier may differ (it is trained anew).

    Every other tensor must fit, name and shape: weights of another architecture are an error that
    names the first tensor that does not fit. Returns the names of the tensors not taken from the file.
    """
    state = read_state_dict(path)
    classifier = _classifier_names(model)
    if problem := misfit(state, model, architecture, classifier):
        raise ArtifactError(f"model.weights: {path} does not fit {architecture}: {problem}")
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


def load_trained(path: str | Path, architecture: str, num_classes: int, image_size: int | None = None) -> torch.nn.Module:
    """The trained model from model_weights.pth, in eval mode on the CPU."""
    model = build_model(architecture, num_classes, image_size)
    try:
        model.load_state_dict(read_state_dict(path))
    except RuntimeError as exc:
        raise ArtifactError(f"{path}: does not fit {architecture} with {num_classes} classes ({first_line(exc)})") from exc
    return model.eval()


def save_state_dict(model: torch.nn.Module, path: str | Path) -> None:
    # Through a Python file: a full disk's OSError is then what torch's RuntimeError arose from, and is named.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(model.state_dict(), f)
