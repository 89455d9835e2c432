"""Which training images a quantizer calibrates and validates on."""

from __future__ import annotations

import logging

import numpy as np

from infbench.data import load_images
from infbench.quantization import QuantData

log = logging.getLogger("infbench")


def validation_items(train: list, n_calibration: int, trained_on: int, asked: int) -> tuple[list, int, bool]:
    """The validation images: training images the model was not fitted on where there are enough, as an
    accuracy measured on images it learnt says little (a classifier fitted to 100% on them keeps them
    right in 8 bits, and loses the held-out ones); else the images after the calibration ones.

    Returns the items, the index of the first one, and whether the model was trained on them.
    """
    first_unseen = max(trained_on, n_calibration)
    if len(train) - first_unseen >= asked:
        return train[first_unseen : first_unseen + asked], first_unseen, False
    rest = train[n_calibration:]
    n = min(asked, len(rest))
    if n < asked:
        log.warning("note: %d validation images asked for, %d training images are left after calibration: using those",
                    asked, len(rest))
    return rest[:n], n_calibration, n_calibration < trained_on


def quantization_data(manifest: dict, card: dict, calibration_images: int, validation_images: int,
                      needs_validation: bool) -> tuple[QuantData, dict]:
    """The first training images for calibration (the split is already shuffled), and validation images
    after them, ones the model was not trained on where there are enough (`validation_items`).

    Fewer training images than asked: as many as there are, said in the log and the record.
    """
    train, size = manifest["train"], card["image_size"]
    n_calibration = min(calibration_images, len(train))
    if n_calibration < calibration_images:
        log.warning("note: %d calibration images asked for, the training set holds %d: using those", calibration_images,
                    len(train))
    calibration = load_images([p for p, _ in train[:n_calibration]], size)
    described = {"calibration_images": n_calibration,
                 "calibration_from": f"training images 0 to {n_calibration - 1} of the shuffled split",
                 "validation_images": 0, "validation_from": None, "held_out_images_used": 0}
    if not needs_validation:
        return QuantData(calibration, calibration[:0], np.zeros(0, dtype=np.int64)), described
    items, first, seen = validation_items(train, n_calibration, int(card.get("train_images", 0)), validation_images)
    if seen:
        log.warning("note: the model was trained on the validation images (training images %d to %d): the accuracy-aware "
                    "recipes judge it on images it learnt, and may keep too few layers in fp32", first, first + len(items) - 1)
    validation = load_images([p for p, _ in items], size) if items else calibration[:0]
    labels = np.array([manifest["classes"].index(c) for _, c in items], dtype=np.int64)
    described |= {"validation_images": len(items), "validation_seen_in_training": seen,
                  "validation_from": f"training images {first} to {first + len(items) - 1}" if items else None}
    return QuantData(calibration, validation, labels), described
