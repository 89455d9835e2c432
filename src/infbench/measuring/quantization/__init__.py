"""Quantizing a model to 8 bits: a step of its own per model and recipe (rule `quantize`).

Each recipe (infbench.planning.variants.QuantRecipe, declared in the catalogue) names its quantizer: ONNX
Runtime's quantize_static (QDQ ONNX, which ONNX Runtime, OpenVINO and TensorRT read), NNCF (an
OpenVINO model) or torchao's PT2E (an exported PyTorch program). Calibration uses training images
only, never the held-out images the parity gate judges; accuracy-aware recipes validate on further
training images, neither the calibration ones nor the held-out ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QuantData:
    """The images a quantizer sees: calibration, and for accuracy-aware recipes, validation with labels."""

    calibration: np.ndarray
    validation: np.ndarray
    validation_labels: np.ndarray
    validation_fp32_accuracy: float | None = None
