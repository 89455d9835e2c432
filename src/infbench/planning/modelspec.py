"""The models a run measures, as the configuration names them (light: the DAG build reads it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

from infbench.planning.architectures import FACTORY, TIMM_PREFIX
from infbench.planning.catalog import Backend
from infbench.planning.cells import MODEL_NAME_PATTERN

ONNX_FILE = "onnx"  # the architecture of a model given as an ONNX file


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the model's folder and its key in every cell
    architecture: str  # a torchvision name, timm/<name>, package.module:function, or ONNX_FILE
    image_size: int
    weights: str | None = None
    trainable: str | None = None  # None: train.trainable; "none": the weights are used as they are
    onnx: str | None = None  # a trained model as an ONNX file, measured as it is (no PyTorch module)

    def trainable_in(self, train: dict) -> str:
        return self.trainable or train["trainable"]

    @property
    def is_onnx_file(self) -> bool:
        return self.onnx is not None

    def missing_for(self, backend: Backend, precision: str, fp16_onnx_for_engines: bool) -> str | None:
        """Why a cell of this model cannot run on `backend` at `precision` because the model is an ONNX file, or None.

        `fp16_onnx_for_engines`: the installed TensorRT builds fp16 engines from an fp16 ONNX model.
        """
        if not self.is_onnx_file:
            return None
        given = f"{self.name} is given as an ONNX file ({self.onnx})"
        if backend.runs_torch_module:
            return f"{given}: {backend.name} runs the PyTorch module, which the file does not hold"
        if precision == "fp16" and (backend.fp16_onnx or (backend.artifact == "trt" and fp16_onnx_for_engines)):
            return f"{given}: {backend.name} runs fp16 from an fp16 ONNX export of the PyTorch module, which the file does not hold"
        return None


NAME_RULE = "a letter or digit, then letters, digits, '_', '.' or '-'"  # MODEL_NAME_PATTERN in words


def default_name(architecture: str | None, onnx: str | None = None) -> str:
    """A path-safe name for a model: resnet50, timm-convnext_tiny, my_factory, or an ONNX file's name without .onnx.

    Characters a name cannot hold become '-', and what a name cannot start with is dropped; "" where
    nothing is left (the configuration then needs a name of its own).
    """
    if onnx is not None:
        raw = PurePath(onnx).stem
    elif match := FACTORY.match(architecture):
        raw = match["function"]
    else:
        raw = architecture.replace(TIMM_PREFIX, "timm-")
    return re.sub(r"[^A-Za-z0-9_.-]", "-", raw).lstrip("_.-")


def is_model_name(name: str) -> bool:
    return re.fullmatch(MODEL_NAME_PATTERN, name) is not None


def _spec_of(entry: dict, default_size: int) -> ModelSpec:
    name = entry["name"] or default_name(entry["architecture"], entry["onnx"])
    size = entry["image_size"] or default_size
    if entry["onnx"] is not None:
        return ModelSpec(name, ONNX_FILE, size, trainable="none", onnx=entry["onnx"])
    return ModelSpec(name, entry["architecture"], size, entry["weights"], entry["trainable"])


def models_of(config: dict) -> dict[str, ModelSpec]:
    """The configured models by name: `models` where given, else the one `model` (the study's configuration)."""
    if not config["models"]:
        model = config["model"]
        spec = ModelSpec(default_name(model["architecture"]), model["architecture"], model["image_size"], model["weights"])
        return {spec.name: spec}
    specs = [_spec_of(entry, config["model"]["image_size"]) for entry in config["models"]]
    return {spec.name: spec for spec in specs}
