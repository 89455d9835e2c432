"""The models a run measures, as the configuration names them (light: the DAG build reads it)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from infbench.architectures import FACTORY, TIMM_PREFIX


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the model's folder and its key in every cell
    architecture: str  # a torchvision name, timm/<name>, or package.module:function
    image_size: int
    weights: str | None = None
    trainable: str | None = None  # None: train.trainable; "none": the weights are used as they are

    def trainable_in(self, train: dict) -> str:
        return self.trainable or train["trainable"]


def default_name(architecture: str) -> str:
    """A path-safe name for a model: resnet50, timm-convnext_tiny, my_factory."""
    if match := FACTORY.match(architecture):
        return match["function"]
    return re.sub(r"[^A-Za-z0-9_.-]", "-", architecture.replace(TIMM_PREFIX, "timm-"))


def models_of(config: dict) -> dict[str, ModelSpec]:
    """The configured models by name: `models` where given, else the one `model` (the study's configuration)."""
    if not config["models"]:
        model = config["model"]
        spec = ModelSpec(default_name(model["architecture"]), model["architecture"], model["image_size"], model["weights"])
        return {spec.name: spec}
    specs = [
        ModelSpec(entry["name"] or default_name(entry["architecture"]), entry["architecture"],
                  entry["image_size"] or config["model"]["image_size"], entry["weights"], entry["trainable"])
        for entry in config["models"]
    ]
    return {spec.name: spec for spec in specs}
