import os
import stat

import numpy as np
import PIL
import pytest
from PIL import Image

from infbench.artifacts import atomic_path, read_json, write_json
from infbench.errors import BenchError
from infbench.model.data import MEAN, STD, copy_imagefolder, load_images, prepare, write_digits
from infbench.planning.versions import imported_versions, installed_version, installed_versions


def test_installed_version_reads_package_metadata():
    assert installed_version("numpy") == np.__version__
    assert installed_version("pillow") == PIL.__version__
    assert installed_version("torch2trt") is None
    assert installed_versions(["numpy", "torch2trt"]) == {"numpy": np.__version__, "torch2trt": "not installed"}


def test_onnxruntime_distribution_is_named():
    version = installed_version("onnxruntime")
    assert version.split()[0] in ("onnxruntime", "onnxruntime-gpu")


def test_imported_versions_lists_only_imported_modules():
    found = imported_versions(["numpy", "torch2trt"])
    assert found == {"numpy": np.__version__}


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"a": 1})
    assert read_json(target) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_digits_are_written_as_a_stratified_imagefolder(tmp_path):
    manifest = write_digits(tmp_path / "images", image_size=24, val_fraction=0.2, seed=0)
    assert manifest["classes"] == [str(d) for d in range(10)]
    assert len(manifest["train"]) + len(manifest["val"]) == 1797
    assert 340 <= len(manifest["val"]) <= 380
    assert {c for _, c in manifest["val"]} == set(manifest["classes"])
    path, cls = manifest["train"][0]
    assert f"/train/{cls}/" in path and Image.open(path).size == (24, 24)
    again = write_digits(tmp_path / "again", image_size=24, val_fraction=0.2, seed=0)
    assert [p.split("/")[-1] for p, _ in again["val"]] == [p.split("/")[-1] for p, _ in manifest["val"]]


def test_load_images_normalises_like_torchvision(tmp_path):
    Image.new("RGB", (40, 20), (255, 0, 128)).save(tmp_path / "a.png")
    batch = load_images([str(tmp_path / "a.png")], 16)
    assert batch.shape == (1, 3, 16, 16) and batch.dtype == np.float32
    expected = (np.array([1.0, 0.0, 128 / 255]).reshape(3, 1, 1) - MEAN) / STD
    np.testing.assert_allclose(batch[0, :, 8, 8], expected[:, 0, 0], atol=1e-5)


def _imagefolder(root, classes=("cat", "dog"), per_class=5):
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (30 + i, 20), (i * 40, 10, 10)).save(root / cls / f"{i}.jpg")


def test_user_imagefolder_is_split_and_resized(tmp_path):
    _imagefolder(tmp_path / "src")
    manifest = prepare(tmp_path / "out", str(tmp_path / "src"), image_size=16, val_fraction=0.4, seed=1)
    assert manifest["classes"] == ["cat", "dog"]
    assert len(manifest["train"]) == 6 and len(manifest["val"]) == 4
    assert all(Image.open(p).size == (16, 16) for p, _ in manifest["train"] + manifest["val"])


def test_user_train_and_val_folders_are_kept(tmp_path):
    _imagefolder(tmp_path / "src" / "train", per_class=3)
    _imagefolder(tmp_path / "src" / "val", per_class=2)
    manifest = copy_imagefolder(tmp_path / "src", tmp_path / "out", 16, 0.5, 0)
    assert len(manifest["train"]) == 6 and len(manifest["val"]) == 4


@pytest.mark.parametrize("held_out", ["val", "valid", "validation", "test"])
def test_a_held_out_split_under_any_of_its_usual_names_is_the_held_out_set(tmp_path, held_out):
    _imagefolder(tmp_path / "src" / "train", per_class=3)
    _imagefolder(tmp_path / "src" / held_out, per_class=2)
    manifest = copy_imagefolder(tmp_path / "src", tmp_path / "out", 16, 0.5, 0)
    assert manifest["classes"] == ["cat", "dog"]  # never 'train' and 'test' as two classes
    assert len(manifest["train"]) == 6 and len(manifest["val"]) == 4


def test_train_without_a_held_out_split_names_the_layouts_accepted(tmp_path):
    _imagefolder(tmp_path / "src" / "train", per_class=3)
    _imagefolder(tmp_path / "src" / "holdout", per_class=2)
    with pytest.raises(BenchError, match=r"has train/ but no held-out split \(expected class folders holding images, or train/ "
                                         r"beside one of val/, valid/, validation/, test/"):
        copy_imagefolder(tmp_path / "src", tmp_path / "out", 16, 0.5, 0)


def test_imagefolder_without_images_is_a_clear_error(tmp_path):
    (tmp_path / "src" / "only").mkdir(parents=True)
    (tmp_path / "src" / "only" / "notes.txt").write_text("x")
    with pytest.raises(BenchError, match=r"src holds no class folders with images: it holds no images \(.bmp, .jpeg"):
        copy_imagefolder(tmp_path / "src", tmp_path / "out", 16, 0.5, 0)


def test_images_without_class_folders_say_so(tmp_path):
    (tmp_path / "src").mkdir()
    for i in range(4):
        Image.new("RGB", (8, 8)).save(tmp_path / "src" / f"{i}.png")
    with pytest.raises(BenchError, match="holds no class folders with images: its images lie in it directly, not in a folder per class"):
        copy_imagefolder(tmp_path / "src", tmp_path / "out", 16, 0.5, 0)


def test_one_class_is_not_enough(tmp_path):
    _imagefolder(tmp_path / "src", classes=("cat",))
    with pytest.raises(BenchError, match=r"holds images of one class only \(class 'cat'\); a classifier needs at least two"):
        copy_imagefolder(tmp_path / "src", tmp_path / "out", 16, 0.5, 0)


def test_classes_of_one_image_name_the_real_cause_and_what_is_allowed(tmp_path):
    _imagefolder(tmp_path / "src", classes=("a", "b", "c"), per_class=1)
    with pytest.raises(BenchError) as caught:
        copy_imagefolder(tmp_path / "src", tmp_path / "out", 16, 0.2, 0)
    assert str(caught.value) == (f"data.path: {tmp_path}/src: classes 'a', 'b', 'c' hold one image each, which cannot be both "
                                 "trained on and held out (give every class at least 2 images, or train/ beside val/ each "
                                 "holding class folders)")
    _imagefolder(tmp_path / "mixed", classes=("a", "b"), per_class=4)
    _imagefolder(tmp_path / "mixed", classes=("lonely",), per_class=1)
    with pytest.raises(BenchError, match=r"mixed: class 'lonely' holds one image, which cannot be both"):
        copy_imagefolder(tmp_path / "mixed", tmp_path / "out", 16, 0.2, 0)


@pytest.mark.parametrize("val_fraction", [0.01, 0.5, 0.99])
def test_every_class_of_two_images_or_more_is_in_both_splits_whatever_the_fraction(tmp_path, val_fraction):
    _imagefolder(tmp_path / "src", classes=("a", "b"), per_class=2)
    _imagefolder(tmp_path / "src", classes=("many",), per_class=9)
    manifest = copy_imagefolder(tmp_path / "src", tmp_path / "out", 16, val_fraction, 0)
    assert {c for _, c in manifest["train"]} == {c for _, c in manifest["val"]} == {"a", "b", "many"}


@pytest.mark.parametrize("train_classes, val_classes, message", [
    (("cat", "dog", "eel"), ("cat", "dog"), r"val holds no images of class 'eel', which .*train has: every class needs "
                                            r"held-out images to be judged on"),
    (("cat", "dog"), ("cat", "dog", "eel", "fox"), r"train holds no images of classes 'eel', 'fox', which .*val has: the "
                                                   r"model cannot learn a class it has no training images of"),
    (("cat", "dog"), (), r"val holds no class folders with images: it holds no images"),
])
def test_train_and_val_folders_that_lack_a_class_say_which_and_why(tmp_path, train_classes, val_classes, message):
    _imagefolder(tmp_path / "src" / "train", classes=train_classes, per_class=2)
    if val_classes:
        _imagefolder(tmp_path / "src" / "val", classes=val_classes, per_class=2)
    else:
        (tmp_path / "src" / "val" / "cat").mkdir(parents=True)  # a class folder without images
    with pytest.raises(BenchError, match=message):
        copy_imagefolder(tmp_path / "src", tmp_path / "out", 16, 0.5, 0)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_get_the_permissions_of_any_new_file(tmp_path, umask):
    old = os.umask(umask)
    try:
        (tmp_path / "plain.txt").write_text("x")
        write_json(tmp_path / "record.json", {"a": 1})
    finally:
        os.umask(old)
    plain = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert plain == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "record.json").stat().st_mode) == plain
