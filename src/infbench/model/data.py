"""The image data: writing the default digits set, reading ImageFolder trees, preprocessing.

numpy and Pillow only, so that processes which never touch torch (ONNX Runtime on the CPU)
preprocess exactly as the others do.
"""

from __future__ import annotations

import logging
import random
import shutil
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from infbench.errors import BenchError, first_line
from infbench.planning.sources import IMAGE_SUFFIXES

# torchvision's classifiers expect ImageNet's normalisation.
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)
log = logging.getLogger("infbench")


def _stratified_split(labels: list[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a train/val split that holds out `val_fraction` of every class, and trains on at least one of each.

    A class of one image cannot be both: it goes to training (copy_imagefolder refuses such data).
    """
    rng = random.Random(seed)
    train, val = [], []
    for cls in sorted(set(labels)):
        members = [i for i, label in enumerate(labels) if label == cls]
        rng.shuffle(members)
        n_val = min(len(members) - 1, max(1, round(len(members) * val_fraction)))
        val += members[:n_val]
        train += members[n_val:]
    rng.shuffle(train)
    rng.shuffle(val)
    return train, val


# Pillow's formats of the suffixes above: a file is decoded only as one of them, never by another of
# Pillow's plugins (its EPS plugin, for one, runs Ghostscript on the file). Pillow's JPEG plugin also
# reads the MPO files of many cameras.
FORMATS = ("PNG", "JPEG", "BMP", "PPM", "TIFF", "WEBP")
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
SIXTEEN_BIT_MAX = 65535


def _sixteen_bit_grey(image: Image.Image) -> Image.Image:
    """A 16-bit greyscale image (or a 32-bit one with 16-bit values) scaled to 8 bits: 0 stays 0, 65535 becomes 255.

    Pillow's own convert("RGB") clips such values at 255, which leaves a 16-bit image black and white.
    """
    values = np.asarray(image).astype(np.float64)
    low, high = (values.min(), values.max()) if values.size else (0, 0)
    if low < 0 or high > SIXTEEN_BIT_MAX:
        raise ValueError(f"its 32-bit integer pixels run from {low:.0f} to {high:.0f}, beyond 16 bits (0 to {SIXTEEN_BIT_MAX}); "
                         "save it with 8 or 16 bits per channel")
    return Image.fromarray(np.rint(values * (255 / SIXTEEN_BIT_MAX)).astype(np.uint8)).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """The image as 8-bit RGB, the value range of its mode scaled to 0-255; ValueError where no conversion is faithful.

    Transparency is dropped as torchvision's loader drops it (the colour under a transparent pixel is
    what the model sees); CMYK takes Pillow's conversion, as torchvision's does.
    """
    if image.mode == "RGB":
        return image
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "I":
        return _sixteen_bit_grey(image)
    if image.mode == "F":
        raise ValueError("its pixels are 32-bit floating-point numbers (mode F), whose range no format defines; "
                         "save it with 8 or 16 bits per channel")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # a palette's transparency, as Pillow asks it to be converted
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise ValueError(f"Pillow cannot convert its mode {image.mode} to RGB ({first_line(exc)})") from exc


def read_image(path: str | Path) -> Image.Image:
    """The image file as 8-bit RGB, fully decoded; a BenchError naming the file, the cause and what to do where it cannot be.

    Pillow's limit on pixels (its guard against decompression bombs) stays as it is: an image beyond
    it is refused with that cause, one above its warning threshold is read with a note in the log.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(path, formats=FORMATS) as image:
                image.load()
                rgb = to_rgb(image)
    except Image.DecompressionBombError as exc:
        raise BenchError(f"{path}: Pillow refuses to decode it ({first_line(exc)}); resize it (every image is scaled to "
                         "the model's image_size anyway)") from None
    except UnidentifiedImageError:
        raise BenchError(f"{path}: not an image Pillow reads as {', '.join(FORMATS)} (replace or remove it)") from None
    except OSError as exc:
        if exc.errno is not None:
            raise  # the file system's error (permission, I/O): infbench.scripting.step names it
        raise BenchError(f"{path}: not a readable image ({first_line(exc)}; replace or remove it)") from None
    except (ValueError, SyntaxError, EOFError) as exc:
        raise BenchError(f"{path}: not a readable image ({first_line(exc)})") from None
    for warning in caught:  # what Pillow says of this file (its size, corrupt metadata), not of its own API
        if not issubclass(warning.category, DeprecationWarning):
            log.warning("note: %s: %s (read all the same)", path, first_line(warning.message))
    return rgb


def square_resize(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size` and crop the centre square, as torchvision's eval transforms do."""
    image = to_rgb(image)
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
    return {"source": "scikit-learn digits (8x8, upscaled)", "classes": classes, "seed": seed, "train": train, "val": val}


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


def _classes_named(names: list[str], limit: int = 10) -> str:
    """"class 'a'", or "classes 'a', 'b' and 3 more"."""
    shown = ", ".join(f"'{n}'" for n in names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return f"class {shown}" if len(names) == 1 else f"classes {shown}"


def _check_classes(folder: Path, per_class: dict[str, list[Path]]) -> None:
    """A folder of class folders holds images of at least two classes; else why not, in words."""
    suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
    if not per_class:
        loose = any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())
        why = "its images lie in it directly, not in a folder per class" if loose else f"it holds no images ({suffixes})"
        raise BenchError(f"data.path: {folder} holds no class folders with images: {why} (expected {LAYOUTS})")
    if len(per_class) == 1:
        raise BenchError(f"data.path: {folder} holds images of one class only ({_classes_named(list(per_class))}); a classifier "
                         "needs at least two class folders holding images")


def _check_splittable(src: Path, per_class: dict[str, list[Path]]) -> None:
    """Every class of a tree of class folders can be split: one image cannot be both trained on and held out."""
    single = [c for c, files in per_class.items() if len(files) == 1]
    if single:
        holds = "holds one image" if len(single) == 1 else "hold one image each"
        raise BenchError(f"data.path: {src}: {_classes_named(single)} {holds}, which cannot be both trained on and held out "
                         "(give every class at least 2 images, or train/ beside val/ each holding class folders)")


def _check_same_classes(splits: dict[str, Path], files: dict[str, dict[str, list[Path]]]) -> None:
    """The training and held-out folders hold images of the same classes; else which lack which, and why that matters."""
    if missing := sorted(set(files["train"]) - set(files["val"])):
        raise BenchError(f"data.path: {splits['val']} holds no images of {_classes_named(missing)}, which {splits['train']} has: "
                         "every class needs held-out images to be judged on (add some, or remove the class from both)")
    if missing := sorted(set(files["val"]) - set(files["train"])):
        raise BenchError(f"data.path: {splits['train']} holds no images of {_classes_named(missing)}, which {splits['val']} "
                         "has: the model cannot learn a class it has no training images of (add some, or remove the class "
                         "from both)")


def _chosen_files(src: Path, val_fraction: float, seed: int) -> tuple[list[str], dict[str, list]]:
    """The classes and each split's (file, class) pairs, shuffled with `seed`; a BenchError saying why where a split
    would lack a class or come out empty."""
    splits = _splits(src)
    if splits is not None:
        files = {split: _class_files(folder) for split, folder in splits.items()}
        for split, folder in splits.items():
            _check_classes(folder, files[split])
        _check_same_classes(splits, files)
        classes = sorted(files["train"])
        chosen = {s: [(f, c) for c in classes for f in files[s][c]] for s in files}
        rng = random.Random(seed)
        for items in chosen.values():
            rng.shuffle(items)  # as the split of class folders is: no consumer sees the classes in order
        return classes, chosen
    per_class = _class_files(src)
    _check_classes(src, per_class)
    _check_splittable(src, per_class)
    classes = sorted(per_class)
    files = [(f, c) for c in classes for f in per_class[c]]
    train_idx, val_idx = _stratified_split([classes.index(c) for _, c in files], val_fraction, seed)
    return classes, {"train": [files[i] for i in train_idx], "val": [files[i] for i in val_idx]}


def copy_imagefolder(src: Path, out_root: Path, image_size: int, val_fraction: float, seed: int) -> dict:
    """Resize a user's ImageFolder tree into `out_root`, keeping its train and held-out split if it has one."""
    classes, chosen = _chosen_files(src, val_fraction, seed)
    manifest = {"source": f"ImageFolder {src}", "classes": classes, "seed": seed}
    for split, items in chosen.items():
        loaded = []
        for path, cls in items:
            try:
                loaded.append((square_resize(read_image(path), image_size), cls))
            except BenchError as exc:
                raise BenchError(f"data.path: {exc}") from None
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
    return manifest


def load_images(paths: list[str], image_size: int) -> np.ndarray:
    """Preprocess image files into one float32 NCHW batch, normalised as torchvision models expect."""
    batch = np.empty((len(paths), 3, image_size, image_size), dtype=np.float32)
    for i, path in enumerate(paths):
        pixels = np.asarray(square_resize(read_image(path), image_size), dtype=np.float32) / 255.0
        batch[i] = (pixels.transpose(2, 0, 1) - MEAN) / STD
    return batch
