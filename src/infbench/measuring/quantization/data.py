"""Which training images a quantizer calibrates and validates on."""

from __future__ import annotations

import logging

import numpy as np

from infbench.measuring.quantization import QuantData
from infbench.model.data import load_images
from infbench.model.subsets import Coverage, coverage, representative_order, subset

log = logging.getLogger("infbench")


def validation_items(order: list, n_calibration: int, trained_on: int, asked: int, seed: int) -> tuple[list, list, bool]:
    """The validation images, drawn from the training images in `order` (the order training drew its images from),
    never the calibration ones: images the model was not fitted on where there are enough, as an accuracy measured on
    images it learnt says little (a classifier fitted to 100% on them keeps them right in 8 bits, and loses the
    held-out ones); else any of those after the calibration ones.

    Returns the items, the images they were drawn from, and whether the model was trained on some of them.
    """
    first_unseen = max(trained_on, n_calibration)
    if len(order) - first_unseen >= asked:
        pool = order[first_unseen:]
        return subset(pool, asked, seed), pool, False
    pool = order[n_calibration:]
    n = min(asked, len(pool))
    if n < asked:
        log.warning("note: %d validation images asked for, %d training images are left after calibration: using those",
                    asked, len(pool))
    return subset(pool, n, seed), pool, n_calibration < trained_on


def quantization_data(manifest: dict, card: dict, calibration_images: int, validation_images: int,
                      needs_validation: bool) -> tuple[QuantData, dict]:
    """Calibration images drawn from the training images as training drew its own (`infbench.model.data.subset`), and
    validation images apart from them, ones the model was not trained on where there are enough (`validation_items`).

    Fewer training images than asked: as many as there are, said in the log and the record.
    """
    train, size, classes, seed = manifest["train"], card["image_size"], manifest["classes"], manifest["seed"]
    order = representative_order(train, seed)  # training took its first card["train_images"]
    n_calibration = min(calibration_images, len(train))
    if n_calibration < calibration_images:
        log.warning("note: %d calibration images asked for, the training set holds %d: using those", calibration_images,
                    len(train))
    chosen = order[:n_calibration]
    calibrated_on = coverage(chosen, train, classes, "calibration images", ("quantization.calibration_images", calibration_images))
    calibrated_on.log(log)
    calibration = load_images([p for p, _ in chosen], size)
    described = {"calibration_images": n_calibration, "calibration_from": _from("training images", calibrated_on),
                 "validation_images": 0, "validation_from": None, "held_out_images_used": 0,
                 "class_coverage": {"calibration": calibrated_on.card()}}
    if not needs_validation:
        return QuantData(calibration, calibration[:0], np.zeros(0, dtype=np.int64)), described
    items, pool, seen = validation_items(order, n_calibration, int(card.get("train_images", 0)), validation_images, seed)
    validated_on = coverage(items, pool, classes, "validation images", ("quantization.validation_images", validation_images))
    validated_on.log(log)
    if seen:
        log.warning("note: the model was trained on some of the validation images: the accuracy-aware recipes judge it on "
                    "images it learnt, and may keep too few layers in fp32")
    validation = load_images([p for p, _ in items], size) if items else calibration[:0]
    labels = np.array([classes.index(c) for _, c in items], dtype=np.int64)
    where = "training images apart from the calibration ones" + ("" if seen else " and those the model was trained on")
    described |= {"validation_images": len(items), "validation_seen_in_training": seen,
                  "validation_from": _from(where, validated_on) if items else None}
    described["class_coverage"]["validation"] = validated_on.card()
    return QuantData(calibration, validation, labels), described


def _from(where: str, covered: Coverage) -> str:
    """Where a quantizer's images come from, with the classes they cover (and the warning where they lack some)."""
    return f"{where}, drawn with data.seed: {covered.warning or covered.sentence}"
