"""What a run reads from outside its results, as params of the steps that read it (light: read at DAG build).

- The dataset (data.path): a listing of its images' names, sizes and modification times, made from the
  directory entries alone (no image is opened), so that deleting, adding or replacing an image, or a
  class folder, reruns the data's preparation and what is made from it. A copy of the dataset that
  does not keep its files' times (cp -r, rsync -r, git clone) counts as a change.
- A model's own architecture (package.module:function): the content of its module's file.

A starting weights file (model.weights) and a model given as an ONNX file are inputs of their steps:
Snakemake compares them by time, and by content where the time says they changed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}  # the files infbench.model.data reads


def _images(root: str) -> list[tuple[str, int, int]]:
    """(path relative to `root`, size, modification time in whole seconds) of every image under `root`, sorted.

    Folders are followed through links, each once (a link back up the tree is not a loop here). Times are kept to the
    second, as every copy that keeps times keeps them at least that finely. No file is opened.
    """
    found, seen, pending = [], {_key(os.stat(root))}, [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # unreadable: preparing the data says so; here it is one entry, which changes when it is fixed
            found.append((prefix, -1, 0))
            continue
        for entry in entries:
            name = prefix + entry.name
            try:
                if entry.is_dir():
                    key = _key(entry.stat())  # folders are few: a stat each
                    if key not in seen:
                        seen.add(key)
                        pending.append((entry.path, name + "/"))
                elif _suffix(entry.name) in IMAGE_SUFFIXES:
                    stat = entry.stat()
                    found.append((name, stat.st_size, int(stat.st_mtime)))
            except OSError:  # a broken link
                found.append((name, -1, 0))
    return sorted(found)


def _suffix(name: str) -> str:
    """The suffix by which infbench.model.data picks images (Path.suffix, lowered), without a Path for each of many names."""
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _key(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def dataset_listing(root: str | None) -> dict | None:
    """The prepare_data rule's param for data.path: how many images, how many bytes, and a digest of the listing."""
    if root is None:
        return None  # scikit-learn's digits: their version is a param
    images = _images(str(root))
    digest = hashlib.sha256("\n".join(f"{path}\0{size}\0{mtime}" for path, size, mtime in images).encode())
    return {"images": len(images), "bytes": sum(size for _, size, _ in images), "listing": digest.hexdigest()[:16]}


def file_digest(path: str | Path) -> str:
    """The first 16 hex digits of a small file's SHA-256."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
