"""Which training images a quantizer calibrates and validates on."""

from __future__ import annotations

import logging

import numpy as np

from infbench.data import load_images
from infbench.quantization import QuantData

log = logging.getLogger("infbench")


def quantization_data(manifest: dict, image_size: int, calibration_images: int, validation_images: int,
                      needs_validation: bool) -> tuple[QuantData, dict]:
    """The first training images for calibration, the next ones for validation (the split is already shuffled).

    Fewer training images than asked: as many as there are, said in the log and the record.
    """
    train = manifest["train"]
    n_calibration = min(calibration_images, len(train))
    if n_calibration < calibration_images:
        log.warning("note: %d calibration images asked for, the training set holds %d: using those", calibration_images,
                    len(train))
    rest = train[n_calibration:]
    n_validation = min(validation_images, len(rest)) if needs_validation else 0
    if needs_validation and n_validation < validation_images:
        log.warning("note: %d validation images asked for, %d training images are left after calibration: using those",
                    validation_images, len(rest))
    calibration = load_images([p for p, _ in train[:n_calibration]], image_size)
    validation_items = rest[:n_validation]
    validation = load_images([p for p, _ in validation_items], image_size) if validation_items else calibration[:0]
    labels = np.array([manifest["classes"].index(c) for _, c in validation_items], dtype=np.int64)
    described = {
        "calibration_images": n_calibration, "calibration_from": "training images 0 to "
        f"{n_calibration - 1} of the shuffled split", "validation_images": n_validation,
        "validation_from": f"training images {n_calibration} to {n_calibration + n_validation - 1}" if n_validation else None,
        "held_out_images_used": 0,
    }
    return QuantData(calibration, validation, labels), described
