"""The models a run measures, as the configuration names them (light: the DAG build reads it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the model's folder and its key in every cell
    architecture: str
    image_size: int
    weights: str | None = None


def models_of(config: dict) -> dict[str, ModelSpec]:
    """The configured models by name (the study's configuration names one, `model`)."""
    model = config["model"]
    spec = ModelSpec(model["architecture"], model["architecture"], model["image_size"], model["weights"])
    return {spec.name: spec}
