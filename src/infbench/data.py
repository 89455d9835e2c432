"""The image data: writing the default digits set, reading ImageFolder trees, preprocessing.

numpy and Pillow only, so that processes which never touch torch (ONNX Runtime on the CPU)
preprocess exactly as the others do.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from infbench.errors import BenchError
from infbench.sources import IMAGE_SUFFIXES

# torchvision's classifiers expect ImageNet's normalisation.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def _stratified_split(labels: list[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a train/val split that holds out `val_fraction` of every class."""
    rng = random.Random(seed)
    train, val = [], []
    for cls in sorted(set(labels)):
        members = [i for i, label in enumerate(labels) if label == cls]
        rng.shuffle(members)
        n_val = max(1, round(len(members) * val_fraction)) if len(members) > 1 else 0
        val += members[:n_val]
        train += members[n_val:]
    rng.shuffle(train)
    rng.shuffle(val)
    return train, val


def square_resize(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size` and crop the centre square, as torchvision's eval transforms do."""
    image = image.convert("RGB")
    w, h = image.size
    scale = size / min(w, h)
    if (w, h) != (size, size):
        image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def _write_split(out_root: Path, split: str, items: list[tuple[Image.Image, str]], names: list[str]) -> list[list]:
    entries = []
    for (image, cls), name in zip(items, names):
        path = out_root / split / cls / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        entries.append([str(path), cls])
    return entries


def write_digits(out_root: Path, image_size: int, val_fraction: float, seed: int) -> dict:
    """Write scikit-learn's 8x8 handwritten digits (shipped with the package, no download) as an ImageFolder tree."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    labels = [int(t) for t in digits.target]
    train_idx, val_idx = _stratified_split(labels, val_fraction, seed)
    pixels = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)

    def item(i):
        image = Image.fromarray(pixels[i], mode="L").resize((image_size, image_size), Image.Resampling.BILINEAR)
        return image, str(labels[i])

    classes = [str(c) for c in sorted(set(labels))]
    train = _write_split(out_root, "train", [item(i) for i in train_idx], [f"{i:04d}.png" for i in train_idx])
    val = _write_split(out_root, "val", [item(i) for i in val_idx], [f"{i:04d}.png" for i in val_idx])
    return {"source": "scikit-learn digits (8x8, upscaled)", "classes": classes, "train": train, "val": val}


def _class_files(root: Path) -> dict[str, list[Path]]:
    classes = {}
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            classes[class_dir.name] = files
    return classes


HELD_OUT_FOLDERS = ("val", "valid", "validation", "test")  # names a held-out split goes by, in order of preference
LAYOUTS = (
    "class folders holding images, or train/ beside one of "
    + ", ".join(f"{name}/" for name in HELD_OUT_FOLDERS)
    + ", each holding class folders"
)


def _splits(src: Path) -> dict[str, Path] | None:
    """The train and held-out folders of a tree that has them; None for a tree of class folders."""
    if not (src / "train").is_dir():
        return None
    held_out = next((src / name for name in HELD_OUT_FOLDERS if (src / name).is_dir()), None)
    if held_out is None:
        raise BenchError(f"data.path: {src} has train/ but no held-out split (expected {LAYOUTS})")
    return {"train": src / "train", "val": held_out}


def _chosen_files(src: Path, val_fraction: float, seed: int) -> tuple[list[str], dict[str, list]]:
    splits = _splits(src)
    if splits is not None:
        files = {split: _class_files(folder) for split, folder in splits.items()}
        if set(files["train"]) != set(files["val"]):
            raise BenchError(f"data.path: {splits['train']} and {splits['val']} hold different class folders")
        classes = sorted(files["train"])
        return classes, {s: [(f, c) for c in classes for f in files[s].get(c, [])] for s in files}
    per_class = _class_files(src)
    classes = sorted(per_class)
    files = [(f, c) for c in classes for f in per_class[c]]
    train_idx, val_idx = _stratified_split([classes.index(c) for _, c in files], val_fraction, seed)
    return classes, {"train": [files[i] for i in train_idx], "val": [files[i] for i in val_idx]}


def copy_imagefolder(src: Path, out_root: Path, image_size: int, val_fraction: float, seed: int) -> dict:
    """Resize a user's ImageFolder tree into `out_root`, keeping its train and held-out split if it has one."""
    classes, chosen = _chosen_files(src, val_fraction, seed)
    if len(classes) < 2 or not chosen["train"] or not chosen["val"]:
        raise BenchError(
            f"data.path: {src} needs at least two class folders holding images ({', '.join(sorted(IMAGE_SUFFIXES))}): {LAYOUTS}"
        )
    manifest = {"source": f"ImageFolder {src}", "classes": classes}
    for split, items in chosen.items():
        loaded = []
        for path, cls in items:
            try:
                loaded.append((square_resize(Image.open(path), image_size), cls))
            except OSError as exc:
                raise BenchError(f"data.path: cannot read image {path} ({exc})") from exc
        manifest[split] = _write_split(out_root, split, loaded, [f"{i:05d}{p.suffix.lower()}" for i, (p, _) in enumerate(items)])
    return manifest


def prepare(out_root: Path, source: str | None, image_size: int, val_fraction: float, seed: int) -> dict:
    """Write the ImageFolder tree the workflow trains and evaluates on; return its manifest."""
    if out_root.exists():
        shutil.rmtree(out_root)
    if source is None:
        manifest = write_digits(out_root, image_size, val_fraction, seed)
    else:
        manifest = copy_imagefolder(Path(source), out_root, image_size, val_fraction, seed)
    manifest["image_size"] = image_size
    manifest["seed"] = seed
    return manifest


def load_images(paths: list[str], image_size: int) -> np.ndarray:
    """Preprocess image files into one float32 NCHW batch, normalised as torchvision models expect."""
    batch = np.empty((len(paths), 3, image_size, image_size), dtype=np.float32)
    for i, path in enumerate(paths):
        pixels = np.asarray(square_resize(Image.open(path), image_size), dtype=np.float32) / 255.0
        batch[i] = (pixels.transpose(2, 0, 1) - MEAN) / STD
    return batch
