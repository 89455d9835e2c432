"""PyTorch 2 Export quantization with torchao's X86InductorQuantizer (PyTorch no longer ships torch.ao's pt2e).

torch.export -> prepare_pt2e -> calibration -> convert_pt2e, saved as an exported program with a
dynamic batch axis; the timing job loads it and compiles it with inductor's freezing, which folds
the quantize and dequantize pairs into int8 kernels.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from infbench.measuring.quantization import QuantData
from infbench.planning.variants import QuantRecipe

BATCH = 16


def _float_modules(model, names: tuple[str, ...]) -> list[str]:
    """Module names of the layers a recipe keeps in fp32: the first convolution, the classifier."""
    import torch

    from infbench.model.models import classifier_layer

    head = classifier_layer(model)
    found = {
        "first_conv": next(name for name, module in model.named_modules() if isinstance(module, torch.nn.Conv2d)),
        "classifier": next(name for name, module in model.named_modules() if module is head),
    }
    return [found[name] for name in names]


def _quantizer(model, recipe: QuantRecipe):
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )

    quantizer = X86InductorQuantizer()
    quantizer.set_global(get_default_x86_inductor_quantization_config())  # per-channel weights, as every recipe here
    kept = _float_modules(model, recipe.keep_float)
    for name in kept:
        quantizer.set_module_name_qconfig(name, None)
    return quantizer, kept


def quantize(weights: str, card: dict, out_dir: Path, recipe: QuantRecipe, data: QuantData) -> dict:
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from infbench.model.models import load_trained

    start = time.perf_counter()
    model = load_trained(weights, card["architecture"], card["num_classes"], card["image_size"])
    example = (torch.from_numpy(np.ascontiguousarray(data.calibration[:2])),)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad():
        # strict: torchvision's blocks call one ReLU module several times, which the quantizer's fusion
        # annotation cannot take from a non-strict capture ("Input partition has more than one output node")
        captured = torch.export.export(model, example, dynamic_shapes=({0: batch},), strict=True).module()
        quantizer, kept = _quantizer(model, recipe)
        prepared = prepare_pt2e(captured, quantizer)
        for i in range(0, len(data.calibration), BATCH):
            prepared(torch.from_numpy(data.calibration[i : i + BATCH]))
        converted = convert_pt2e(prepared)
        program = torch.export.export(converted, example, dynamic_shapes=({0: batch},))
    out = out_dir / "model.pt2"
    torch.export.save(program, str(out))
    return {"model_file": out.name, "kept_float": kept, "quantizer": "X86InductorQuantizer",
            "quantize_s": round(time.perf_counter() - start, 3)}
