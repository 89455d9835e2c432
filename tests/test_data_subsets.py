"""Every subset the workflow takes of a split covers the data's classes, whatever the layout of the user's data."""

import collections
import logging
import shutil

import pytest

from infbench.measuring.quantization import data as quantization_data
from infbench.model.data import prepare, write_digits
from infbench.model.reference import held_out
from infbench.model.subsets import coverage, draw, representative_order, subset
from infbench.model.training import AllSettings, HeadSettings, TrainSettings, train

SIZE = 32
CLASSES = [str(d) for d in range(10)]


def _items(per_class: dict[str, int]) -> list:
    return [[f"{cls}/{i}.png", cls] for cls, n in per_class.items() for i in range(n)]


def test_a_subset_is_the_same_for_a_seed_whatever_the_order_of_the_items():
    items = _items({c: 30 for c in CLASSES})
    chosen = subset(items, 40, seed=3)
    assert chosen == subset(list(reversed(items)), 40, seed=3) == subset(sorted(items, key=lambda i: i[0]), 40, seed=3)
    assert chosen != subset(items, 40, seed=4)
    assert len({p for p, _ in chosen}) == 40  # no image twice
    assert all(item in items for item in chosen)


def test_a_subset_covers_every_class_as_evenly_as_the_data_allows():
    items = _items({c: 30 for c in CLASSES})
    for n in (10, 25, 99):
        counts = collections.Counter(c for _, c in subset(items, n, seed=0))
        assert set(counts) == set(CLASSES) and max(counts.values()) - min(counts.values()) <= 1, (n, counts)
    uneven = _items({"rare": 2, "a": 50, "b": 50})
    assert collections.Counter(c for _, c in subset(uneven, 22, seed=0)) == {"rare": 2, "a": 10, "b": 10}
    few = collections.Counter(c for _, c in subset(items, 4, seed=0))  # fewer images than classes: four classes, once each
    assert len(few) == 4 and set(few.values()) == {1}


def test_every_prefix_of_the_order_is_a_subset_and_the_whole_order_is_every_item_once():
    items = _items({"a": 7, "b": 3, "c": 12})
    order = representative_order(items, seed=1)
    assert sorted(map(tuple, order)) == sorted(map(tuple, items))
    assert all(subset(items, n, seed=1) == order[:n] for n in range(len(items) + 2))
    assert subset(items, None, seed=1) == order


def _copy_as_a_user_would(digits, dest, layout):
    """The digits as a user's ImageFolder: mydata/train/<class>/ and mydata/val/<class>/, or mydata/<class>/."""
    for split in ("train", "val"):
        for class_dir in sorted((digits / split).iterdir()):
            target = dest / split / class_dir.name if layout == "two folders" else dest / class_dir.name
            shutil.copytree(class_dir, target, dirs_exist_ok=True)


@pytest.fixture(scope="module", params=["two folders", "class folders"])
def user_data(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("user-data")
    write_digits(root / "digits", SIZE, 0.2, 0)
    _copy_as_a_user_would(root / "digits", root / "mydata", request.param)
    return prepare(root / "prepared", str(root / "mydata"), SIZE, 0.2, 0)


def _grouped_by_class(manifest: dict) -> dict:
    """The same manifest with each split in class order, as no manifest of the workflow is."""
    return dict(manifest, **{s: sorted(manifest[s], key=lambda item: (item[1], item[0])) for s in ("train", "val")})


def _classes(items) -> set:
    return {c for _, c in items}


def test_the_manifest_is_shuffled_whatever_the_layout(user_data):
    for split in ("train", "val"):
        labels = [c for _, c in user_data[split]]
        changes = sum(a != b for a, b in zip(labels, labels[1:]))
        assert changes > len(labels) / 2, split  # grouped by class, it would change class 9 times
        assert _classes(user_data[split][:60]) == set(CLASSES)


def _settings(max_images, max_val_images=128):
    return TrainSettings("resnet18", SIZE, "head", 32, max_val_images, "cpu", 0, 2, HeadSettings(max_images, 30, 0.01, 0.1),
                         AllSettings(None, 1, 0.02))


@pytest.mark.parametrize("ordered", [False, True], ids=["as prepared", "grouped by class"])
def test_training_and_its_held_out_accuracy_cover_every_class(user_data, ordered):
    manifest = _grouped_by_class(user_data) if ordered else user_data
    _, summary = train(manifest, _settings(200))
    assert summary["val_top1"] > 0.7  # trained on a few classes, or judged on one, it is far lower
    assert summary["class_coverage"] == {"training": {"images": 200, "classes_covered": 10, "classes": 10},
                                         "held_out": {"images": 128, "classes_covered": 10, "classes": 10}}


@pytest.mark.parametrize("ordered", [False, True], ids=["as prepared", "grouped by class"])
def test_the_parity_set_covers_every_class(user_data, ordered):
    manifest = _grouped_by_class(user_data) if ordered else user_data
    images, labels = held_out(manifest, SIZE, 64)
    assert len(images) == 64 and sorted(set(labels.tolist())) == list(range(10))
    assert max(collections.Counter(labels.tolist()).values()) <= 7  # 64 images of 10 classes: 6 or 7 each


@pytest.mark.parametrize("ordered", [False, True], ids=["as prepared", "grouped by class"])
def test_int8_calibration_and_validation_cover_every_class_apart_from_each_other_and_from_training(user_data, ordered,
                                                                                                  monkeypatch):
    manifest = _grouped_by_class(user_data) if ordered else user_data
    loaded = []
    real = quantization_data.load_images
    monkeypatch.setattr(quantization_data, "load_images", lambda paths, size: loaded.append(list(paths)) or real(paths, size))
    card = {"image_size": SIZE, "train_images": 200}
    data, described = quantization_data.quantization_data(manifest, card, 64, 64, needs_validation=True)
    calibration, validation = loaded
    label = dict(map(tuple, manifest["train"]))
    trained_on, _ = draw(manifest, "train", 200, "training images", "train.head.max_images")
    assert {label[p] for p in calibration} == set(CLASSES) == {label[p] for p in validation}
    assert sorted(set(data.validation_labels.tolist())) == list(range(10))
    assert not set(calibration) & set(validation) and not set(validation) & {p for p, _ in trained_on}
    assert len(calibration) == 64 == len(validation) and not described["validation_seen_in_training"]
    assert described["class_coverage"]["calibration"] == {"images": 64, "classes_covered": 10, "classes": 10}


def test_a_cap_below_the_number_of_classes_is_a_warning_in_the_log_and_the_card(user_data, caplog):
    logger = logging.getLogger("infbench")
    caplog.set_level(logging.INFO, logger="infbench")
    logger.addHandler(caplog.handler)  # where the scripts' logging has stopped it reaching the root logger
    try:
        _, summary = train(user_data, _settings(5, max_val_images=4))
    finally:
        logger.removeHandler(caplog.handler)
    training, judged = summary["class_coverage"]["training"], summary["class_coverage"]["held_out"]
    assert (training["images"], training["classes_covered"], judged["classes_covered"]) == (5, 5, 4)
    assert training["warning"].startswith("the 5 training images cover 5 of 10 classes, none of ")
    assert training["warning"].endswith("(train.head.max_images is 5, fewer than the data's 10 classes)")
    assert "(train.max_val_images is 4, fewer than the data's 10 classes)" in judged["warning"]
    assert "training the classifier layer of resnet18 on cpu: 5 training images covering 5 of 10 classes" in caplog.text
    assert "held-out top-1 accuracy" in caplog.text and "on 4 held-out images covering 4 of 10 classes" in caplog.text
    warnings = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert warnings == {f"warning: {training['warning']}", f"warning: {judged['warning']}"}


def test_a_subset_that_lacks_classes_says_why_each_is_missing():
    classes = ["a", "b", "c", "d"]
    pool = _items({"a": 5, "b": 5, "c": 5})  # no image of d
    covered = coverage(subset(pool, 2, 0), pool, classes, "calibration images", ("quantization.calibration_images", 2))
    assert covered.sentence == "2 calibration images covering 2 of 4 classes"
    assert covered.warning.endswith("(quantization.calibration_images is 2, fewer than the 3 classes of the images they are "
                                    "drawn from; the images they are drawn from hold none of d)")
    whole = coverage(subset(pool, None, 0), pool, classes, "validation images", ("quantization.validation_images", None))
    assert whole.warning == ("the 15 validation images cover 3 of 4 classes, none of d (the images they are drawn from hold "
                             "none of d)")
    full = _items({c: 2 for c in classes})
    assert coverage(subset(full, 4, 0), full, classes, "x", ("k", 4)).warning is None
