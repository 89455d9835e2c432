"""One quantization step: a recipe applied to one model, its folder holding the model and quantization.json."""

from __future__ import annotations

import logging
from pathlib import Path

from infbench.errors import BackendUnavailable, BenchError
from infbench.measuring.quantization.data import quantization_data
from infbench.model.export import export_failure
from infbench.planning.catalog import LIBRARIES, QUANTIZER_LIBRARIES, RECIPES
from infbench.planning.versions import imported_versions, installed_version

log = logging.getLogger("infbench")
INSTALL = "pip install -r requirements.txt"


def missing_library(recipe_name: str) -> str | None:
    """Why a recipe's quantizer cannot run here: a library that is not installed, named with how to install it."""
    for library in QUANTIZER_LIBRARIES[RECIPES[recipe_name].quantizer]:
        if installed_version(library) is None:
            return f"{LIBRARIES[library].distributions[0]} is not installed ({INSTALL})"
    return None


def quantize(recipe_name: str, inputs: dict, settings: dict, out_dir: Path, threads: int) -> dict:
    """Make the recipe's model in `out_dir`; return the quantization record (what, how, from which images, how long)."""
    recipe = RECIPES[recipe_name]
    if reason := missing_library(recipe_name):
        raise BackendUnavailable(reason)
    if recipe.quantizer != "torchao" and (reason := export_failure(inputs["onnx_info"])):
        raise BackendUnavailable(f"no ONNX model to quantize: {reason}")
    if recipe.quantizer == "nncf" and (fixed := inputs["onnx_info"].get("fixed_batch")) not in (None, 1):
        raise BackendUnavailable(f"{inputs['onnx_info']['source']} fixes its batch size at {fixed}; NNCF calibrates one "
                                 "image at a time (batch 1)")
    data, described = quantization_data(inputs["manifest"], inputs["card"], settings["calibration_images"],
                                        settings["validation_images"], recipe.accuracy_aware)
    log.info("quantizing %s with %s (%s): %d calibration images%s", inputs["card"]["architecture"], recipe.name,
             recipe.quantizer, described["calibration_images"],
             f", {described['validation_images']} validation images" if recipe.accuracy_aware else "")
    info = _run(recipe, inputs, settings, data, out_dir, threads)
    log.info("quantized in %.1f s%s", info["quantize_s"],
             f"; kept in fp32: {', '.join(info['kept_float'])}" if info.get("kept_float") else "")
    libraries = QUANTIZER_LIBRARIES[recipe.quantizer]
    return {"status": "quantized", "recipe": vars(recipe), **described, **info, "versions": imported_versions(libraries)}


def _run(recipe, inputs: dict, settings: dict, data, out_dir: Path, threads: int) -> dict:
    if recipe.quantizer == "onnxruntime":
        from infbench.measuring.quantization import onnxruntime

        return onnxruntime.quantize(inputs["onnx"], out_dir, recipe, data, threads, settings["max_drop"], settings["ranking_images"])
    if recipe.quantizer == "nncf":
        from infbench.measuring.quantization import nncf

        return nncf.quantize(inputs["onnx"], out_dir, recipe, data, settings["max_drop"], settings["ranking_images"])
    if recipe.quantizer == "torchao":
        from infbench.measuring.quantization import torchao

        return torchao.quantize(inputs["pth"], inputs["card"], out_dir, recipe, data)
    raise BenchError(f"no quantizer {recipe.quantizer!r}")
