"""NNCF's post-training quantization of the OpenVINO model read from the fp32 ONNX export.

nncf.quantize with a fixed preset and calibration subset; the accuracy-aware recipe is
nncf.quantize_with_accuracy_control with top-1 on validation images as its metric. The result is
saved as OpenVINO IR (model.xml and model.bin) with fp32 weights where NNCF kept layers in fp32.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from infbench.measuring.quantization import QuantData
from infbench.planning.variants import QuantRecipe

PRESET = "PERFORMANCE"  # symmetric activations: what OpenVINO's CPU plugin runs fastest
WEIGHTED_OPS = ("Convolution", "GroupConvolution", "MatMul")


def _dataset(images: np.ndarray):
    """One calibration item per image (1, 3, H, W): NNCF's subset_size then counts images."""
    import nncf

    return nncf.Dataset([images[i : i + 1] for i in range(len(images))])


def float_scope(model, names: tuple[str, ...]) -> list[str]:
    """OpenVINO names of the layers a recipe keeps in fp32: the first Convolution, the classifier's MatMul."""
    ops = list(model.get_ordered_ops())
    found = {
        "first_conv": next(op for op in ops if op.get_type_name() == "Convolution").get_friendly_name(),
        "classifier": [op for op in ops if op.get_type_name() == "MatMul"][-1].get_friendly_name(),
    }
    return [found[name] for name in names]


def _top1(validation: list, labels: np.ndarray):
    """NNCF's validation function: top-1 on the validation images, and each item's own (NNCF ranks layers by them;
    ranked by logits instead, it picked the wrong layers on the digits model)."""
    def validate(compiled, data) -> tuple[float, list]:
        output = compiled.output(0)
        correct = [float(compiled(x)[output].argmax(1)[0] == label) for x, label in zip(data, labels)]
        return float(np.mean(correct)), correct

    return validate


def _weights_quantized(op) -> bool:
    """Whether a layer's weights reach it through a FakeQuantize or from 8-bit constants (NNCF's compressed weights)."""
    node = op.input_value(1).get_node()
    for _ in range(4):  # Constant(i8) -> Convert -> [Subtract] -> Multiply, or FakeQuantize
        if node.get_type_name() == "FakeQuantize":
            return True
        if node.get_type_name() == "Constant":
            return node.get_element_type().is_integral()
        if node.get_input_size() == 0:
            return False
        node = node.input_value(0).get_node()
    return False


def float_layers(model) -> list[str]:
    """The convolutions and matrix products of a quantized OpenVINO model whose weights stay fp32: they run in fp32.

    What NNCF's accuracy control reverted, and what a recipe's ignored scope kept, read from the model itself.
    """
    return [op.get_friendly_name().removesuffix("/WithoutBiases") for op in model.get_ordered_ops()
            if op.get_type_name() in WEIGHTED_OPS and not _weights_quantized(op)]


@contextlib.contextmanager
def nncf_log_in_ours() -> Iterator[None]:
    """NNCF's own progress (validation, ranking, each layer reverted) in the step's log, not only on the terminal."""
    ours, theirs = logging.getLogger("infbench"), logging.getLogger("nncf")
    added = [h for h in ours.handlers if isinstance(h, logging.FileHandler)]
    for handler in added:
        theirs.addHandler(handler)
    try:
        yield
    finally:
        for handler in added:
            theirs.removeHandler(handler)


def quantize(onnx_path: str, out_dir: Path, recipe: QuantRecipe, data: QuantData, max_drop: float,
             ranking_images: int) -> dict:
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    start = time.perf_counter()
    model = ov.Core().read_model(onnx_path)
    ignored = float_scope(model, recipe.keep_float)
    common = {"preset": getattr(nncf.QuantizationPreset, PRESET), "subset_size": len(data.calibration),
              "ignored_scope": nncf.IgnoredScope(names=ignored) if ignored else None}
    with nncf_log_in_ours():
        if recipe.accuracy_aware:
            validation = [data.validation[i : i + 1] for i in range(len(data.validation))]
            # Each ranking round runs every quantized layer group over the ranking subset: its size is the cost.
            restorer = AdvancedAccuracyRestorerParameters(ranking_subset_size=ranking_images)
            quantized = nncf.quantize_with_accuracy_control(
                model, calibration_dataset=_dataset(data.calibration), validation_dataset=nncf.Dataset(validation),
                validation_fn=_top1(validation, data.validation_labels), max_drop=max_drop,
                drop_type=nncf.DropType.ABSOLUTE, advanced_accuracy_restorer_parameters=restorer, **common,
            )
        else:
            quantized = nncf.quantize(model, _dataset(data.calibration), fast_bias_correction=True, **common)
    out = out_dir / "model.xml"
    ov.save_model(quantized, str(out), compress_to_fp16=False)  # the default would store fp32 weights as fp16
    fake_quantize = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ordered_ops())
    return {"model_file": out.name, "kept_float": float_layers(quantized), "preset": PRESET,
            "fake_quantize_ops": fake_quantize, "quantize_s": round(time.perf_counter() - start, 3)}
