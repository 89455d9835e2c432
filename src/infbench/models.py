"""Building torchvision classifiers and reading and writing their weights."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from infbench.artifacts import atomic_path
from infbench.errors import ArtifactError, first_line


def build_model(architecture: str, num_classes: int) -> torch.nn.Module:
    return torchvision.models.get_model(architecture, weights=None, num_classes=num_classes)


def classifier_layer(model: torch.nn.Module) -> torch.nn.Linear:
    """The final Linear layer: the classifier head of every supported torchvision architecture."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear classifier layer")
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


def load_starting_weights(model: torch.nn.Module, path: str | Path) -> list[str]:
    """Load weights whose names and shapes match (a different classifier is left as initialised).

    Returns the names of the parameters that were not taken from the file.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ArtifactError(f"{path}: none of its tensors fit {type(model).__name__}")
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


def load_trained(path: str | Path, architecture: str, num_classes: int) -> torch.nn.Module:
    """The trained model from model_weights.pth, in eval mode on the CPU."""
    model = build_model(architecture, num_classes)
    try:
        model.load_state_dict(read_state_dict(path))
    except RuntimeError as exc:
        raise ArtifactError(f"{path}: does not fit {architecture} with {num_classes} classes ({first_line(exc)})") from exc
    return model.eval()


def save_state_dict(model: torch.nn.Module, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)
