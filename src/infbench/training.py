"""Training the classifier that every backend then runs."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

import numpy as np
import torch

from infbench.data import load_images
from infbench.models import build_model, classifier_layer, load_starting_weights

log = logging.getLogger("infbench")


@dataclass(frozen=True)
class TrainSettings:
    architecture: str
    image_size: int
    trainable: str  # "head" or "all"
    epochs: int
    batch_size: int
    learning_rate: float
    max_images: int | None
    max_val_images: int | None
    device: str  # "auto", "cpu" or "cuda"
    seed: int
    threads: int  # CPU threads for torch (Snakemake's --cores 1 would otherwise leave it one)
    weights: str | None = None


class Progress:
    """Logs how far a long loop has come, with throughput and an estimate of the time left."""

    def __init__(self, what: str, total: int, every_s: float = 5.0):
        self.what, self.total, self.every_s = what, total, every_s
        self.start = self.last = time.perf_counter()

    def update(self, done: int, extra: str = "") -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s and done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        log.info("%s: %d/%d (%.0f s, about %.0f s left)%s", self.what, done, self.total, elapsed, eta, extra)


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but torch.cuda.is_available() is False")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def _to_model(images, device) -> torch.Tensor:
    """A batch on the device in channels-last layout, which the CPU's convolutions run about twice as fast."""
    return torch.from_numpy(images).to(device).contiguous(memory_format=torch.channels_last)


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _labels(entries: list[list], classes: list[str]) -> list[int]:
    return [classes.index(cls) for _, cls in entries]


@torch.no_grad()
def _calibrate_batchnorm(model, paths, settings, device) -> int:
    """Recompute BatchNorm running statistics on training images (the backbone keeps its weights)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over all calibration batches
    model.train()
    progress = Progress("BatchNorm calibration, images", len(paths))
    done = 0
    for chunk in _batches(paths, settings.batch_size):
        model(_to_model(load_images(chunk, settings.image_size), device))
        done += len(chunk)
        progress.update(done)
    for norm in norms:
        norm.momentum = 0.1
    model.eval()
    return len(paths)


@torch.no_grad()
def _head_inputs(model, head, paths, settings, device, what) -> torch.Tensor:
    """What the classifier layer receives for each image, computed once in eval mode."""
    captured = []
    hook = head.register_forward_pre_hook(lambda _m, inputs: captured.append(inputs[0].detach()))
    progress = Progress(what, len(paths))
    done = 0
    try:
        for chunk in _batches(paths, settings.batch_size):
            model(_to_model(load_images(chunk, settings.image_size), device))
            done += len(chunk)
            progress.update(done)
    finally:
        hook.remove()
    return torch.cat(captured)


def _train_head(model, manifest, train, val_paths, settings, device, history) -> torch.Tensor:
    """Train the classifier layer on a frozen backbone; return the held-out predictions."""
    head = classifier_layer(model)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    paths = [p for p, _ in train]
    if settings.weights is None:
        # Random BatchNorm statistics would make a frozen backbone's features meaningless.
        calibration = paths[: min(len(paths), 4 * settings.batch_size)]
        history["batchnorm_calibration_images"] = _calibrate_batchnorm(model, calibration, settings, device)
    model.eval()
    features = _head_inputs(model, head, paths, settings, device, "backbone features, training images")
    labels = torch.tensor(_labels(train, manifest["classes"]), device=device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=settings.learning_rate)
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    for epoch in range(1, settings.epochs + 1):
        order = torch.randperm(len(features), generator=generator).to(device)
        total_loss, correct = 0.0, 0
        for idx in _batches(order, settings.batch_size):
            logits = head(features[idx])
            loss = torch.nn.functional.cross_entropy(logits, labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == labels[idx]).sum())
        _log_epoch(history, epoch, settings.epochs, total_loss / len(features), correct / len(features))
    for p in model.parameters():
        p.requires_grad_(True)
    val_features = _head_inputs(model, head, val_paths, settings, device, "backbone features, held-out images")
    with torch.no_grad():
        return head(val_features).argmax(1)


def _train_all(model, manifest, train, settings, device, history) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.learning_rate, momentum=0.9, weight_decay=1e-4)
    rng = random.Random(settings.seed)
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = train[:]
        rng.shuffle(order)
        progress = Progress(f"epoch {epoch}/{settings.epochs}, images", len(order))
        total_loss, correct, done = 0.0, 0, 0
        for chunk in _batches(order, settings.batch_size):
            x = _to_model(load_images([p for p, _ in chunk], settings.image_size), device)
            y = torch.tensor(_labels(chunk, manifest["classes"]), device=device)
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(chunk)
            correct += int((logits.argmax(1) == y).sum())
            done += len(chunk)
            progress.update(done, f", loss {total_loss / done:.4f}")
        _log_epoch(history, epoch, settings.epochs, total_loss / len(order), correct / len(order))
    model.eval()


def _log_epoch(history, epoch, epochs, loss, accuracy) -> None:
    history["epochs"].append({"epoch": epoch, "loss": round(loss, 6), "train_top1": round(accuracy, 6)})
    log.info("epoch %d/%d: loss %.4f, training top-1 %.3f", epoch, epochs, loss, accuracy)


@torch.no_grad()
def _predict(model, paths, settings, device) -> torch.Tensor:
    predictions = []
    progress = Progress("held-out accuracy, images", len(paths))
    for chunk in _batches(paths, settings.batch_size):
        predictions.append(model(_to_model(load_images(chunk, settings.image_size), device)).argmax(1))
        progress.update(sum(len(p) for p in predictions))
    return torch.cat(predictions)


def train(manifest: dict, settings: TrainSettings) -> tuple[torch.nn.Module, dict]:
    """Train the configured classifier on the manifest's images; return the CPU model and its training summary."""
    torch.set_num_threads(settings.threads)
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    classes = manifest["classes"]
    train_set = manifest["train"][: settings.max_images] if settings.max_images else manifest["train"]
    val_set = manifest["val"][: settings.max_val_images] if settings.max_val_images else manifest["val"]
    model = build_model(settings.architecture, len(classes))
    history: dict = {"epochs": []}
    if settings.weights:
        history["not_from_weights_file"] = load_starting_weights(model, settings.weights)
        log.info("started from %s (%d tensors left initialised)", settings.weights, len(history["not_from_weights_file"]))
    model.to(device, memory_format=torch.channels_last)
    log.info(
        "training %s (%s) on %s: %d training images, %d classes, %d epochs",
        settings.architecture, settings.trainable, device, len(train_set), len(classes), settings.epochs,
    )
    start = time.perf_counter()
    val_paths = [p for p, _ in val_set]
    if settings.trainable == "head":
        predictions = _train_head(model, manifest, train_set, val_paths, settings, device, history)
    else:
        _train_all(model, manifest, train_set, settings, device, history)
        predictions = _predict(model, val_paths, settings, device)
    train_seconds = time.perf_counter() - start
    val_labels = torch.tensor(_labels(val_set, classes), device=predictions.device)
    accuracy = float((predictions == val_labels).float().mean())
    log.info("held-out top-1 accuracy %.4f on %d images (training took %.1f s)", accuracy, len(val_set), train_seconds)
    summary = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "train_images": len(train_set),
        "val_images": len(val_set),
        "val_top1": round(accuracy, 6),
        "train_seconds": round(train_seconds, 3),
        "history": history,
    }
    return model.to("cpu", memory_format=torch.contiguous_format).eval(), summary
