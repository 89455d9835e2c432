"""NNCF's post-training quantization of the OpenVINO model read from the fp32 ONNX export.

nncf.quantize with a fixed preset and calibration subset; the accuracy-aware recipe is
nncf.quantize_with_accuracy_control with top-1 on validation images as its metric. The result is
saved as OpenVINO IR (model.xml and model.bin) with fp32 weights where NNCF kept layers in fp32.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from infbench.quantization import QuantData
from infbench.variants import QuantRecipe

PRESET = "PERFORMANCE"  # symmetric activations: what OpenVINO's CPU plugin runs fastest


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


def quantize(onnx_path: str, out_dir: Path, recipe: QuantRecipe, data: QuantData, max_drop: float) -> dict:
    import nncf
    import openvino as ov

    start = time.perf_counter()
    model = ov.Core().read_model(onnx_path)
    ignored = float_scope(model, recipe.keep_float)
    common = {"preset": getattr(nncf.QuantizationPreset, PRESET), "subset_size": len(data.calibration),
              "ignored_scope": nncf.IgnoredScope(names=ignored) if ignored else None}
    if recipe.accuracy_aware:
        validation = [data.validation[i : i + 1] for i in range(len(data.validation))]
        quantized = nncf.quantize_with_accuracy_control(
            model, calibration_dataset=_dataset(data.calibration), validation_dataset=nncf.Dataset(validation),
            validation_fn=_top1(validation, data.validation_labels), max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE,
            **common,
        )
    else:
        quantized = nncf.quantize(model, _dataset(data.calibration), fast_bias_correction=True, **common)
    out = out_dir / "model.xml"
    ov.save_model(quantized, str(out), compress_to_fp16=False)  # the default would store fp32 weights as fp16
    fake_quantize = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ordered_ops())
    return {"model_file": out.name, "kept_float": ignored, "preset": PRESET, "fake_quantize_ops": fake_quantize,
            "quantize_s": round(time.perf_counter() - start, 3)}
