"""Training the classifier that every backend then runs."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from dataclasses import dataclass

import numpy as np
import torch

from infbench.errors import ArtifactError
from infbench.model.data import load_images
from infbench.model.models import build_model, classifier_layer, load_starting_weights, misfit, read_state_dict
from infbench.model.subsets import Coverage, draw, subset

log = logging.getLogger("infbench")


@dataclass(frozen=True)
class HeadSettings:
    """Training the classifier layer on the features of a frozen backbone (cheap: fits a CPU)."""

    max_images: int | None
    epochs: int  # passes over the cached features
    learning_rate: float
    weight_decay: float


@dataclass(frozen=True)
class AllSettings:
    """Training every layer from the prepared backbone and a fresh classifier (for a GPU)."""

    max_images: int | None
    epochs: int  # passes over the training images
    learning_rate: float
    batch_size: int = 64


@dataclass(frozen=True)
class TrainSettings:
    architecture: str
    image_size: int
    trainable: str  # "auto" (all on a GPU, head on the CPU), "head" or "all"
    batch_size: int
    max_val_images: int | None
    device: str  # "auto", "cpu" or "cuda"
    seed: int
    threads: int  # CPU threads for torch (Snakemake's --cores 1 would otherwise leave it one)
    head: HeadSettings
    all: AllSettings
    weights: str | None = None
    residual_scale: float = 0.3  # ResNets with random weights: residual branches scaled down after calibration

    @classmethod
    def from_params(cls, params: dict) -> TrainSettings:
        params = dict(params)
        return cls(head=HeadSettings(**params.pop("head")), all=AllSettings(**params.pop("all")), **params)


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
def scale_residual_branches(model, scale: float) -> int:
    """Scale the last BatchNorm of every ResNet residual branch; return how many were scaled.

    A deep ResNet with random weights is close to chaotic: its pooled features barely tell digits
    apart (about 60% top-1 for a trained classifier on them). Shrinking each residual branch, as
    SkipInit and Fixup initialise them, keeps the signal of the identity path, and the same
    classifier reaches about 95%.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    count = 0
    for block in model.modules():
        last = block.bn3 if isinstance(block, Bottleneck) else block.bn2 if isinstance(block, BasicBlock) else None
        if last is not None:
            last.weight.mul_(scale)
            last.bias.mul_(scale)
            count += 1
    return count


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


def _prepare_backbone(model, train_set, seed, settings, device, history) -> None:
    """A backbone with random weights, made useful: BatchNorm statistics calibrated, residual branches scaled."""
    if settings.weights is None:
        # Random BatchNorm statistics would make a frozen backbone's features meaningless.
        calibration = [p for p, _ in subset(train_set, 4 * settings.batch_size, seed)]
        history["batchnorm_calibration_images"] = _calibrate_batchnorm(model, calibration, settings, device)
        if settings.residual_scale != 1.0:
            history["scaled_residual_branches"] = scale_residual_branches(model, settings.residual_scale)
    model.eval()


@dataclass(frozen=True)
class Stage:
    """One way of training, as the shared epoch loop runs it."""

    name: str  # "head" or "all", the key of its epochs in the history
    epochs: int
    batch_size: int
    examples: int
    log_every: int  # epochs between log lines
    step: object  # (indices) -> (loss tensor, logits): one optimisation step on those examples
    before_epoch: object = None  # () -> None, e.g. model.train()


def _run_epochs(stage: Stage, labels: torch.Tensor, generator: torch.Generator, history: dict) -> None:
    """The epoch loop both ways of training share: shuffled batches, a step each, the loss and accuracy per epoch."""
    for epoch in range(1, stage.epochs + 1):
        if stage.before_epoch is not None:
            stage.before_epoch()
        order = torch.randperm(stage.examples, generator=generator).to(labels.device)
        progress = Progress(f"{stage.name} epoch {epoch}/{stage.epochs}, examples", stage.examples)
        total_loss, correct, done = 0.0, 0, 0
        for idx in _batches(order, stage.batch_size):
            loss, logits = stage.step(idx)
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == labels[idx]).sum())
            done += len(idx)
            progress.update(done, f", loss {total_loss / done:.4f}")
        _log_epoch(history, epoch, stage.epochs, total_loss / stage.examples, correct / stage.examples, stage.name,
                   stage.log_every)


def _sgd_step(optimizer, loss, schedule=None, scaler=None) -> None:
    optimizer.zero_grad()
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:  # fp16 autocast: the loss scaled against underflow, the step skipped where gradients overflowed
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    if schedule is not None:
        schedule.step()


@dataclass(frozen=True)
class MixedPrecision:
    """How a GPU trains: autocast in bf16 where the GPU computes it, else fp16 with a gradient scaler."""

    autocast: object  # a context manager factory
    scaler: object  # torch.amp.GradScaler or None
    name: str


def mixed_precision(device: torch.device) -> MixedPrecision:
    """Mixed precision on a GPU (tensor cores, about twice the fp32 step rate), fp32 on the CPU as ever.

    The weights stay fp32 and BatchNorm's statistics are kept in fp32 under autocast: the trained
    model, saved in fp32, is what every backend then runs at every precision.
    """
    if device.type != "cuda":
        return MixedPrecision(contextlib.nullcontext, None, "none (fp32)")
    if torch.cuda.is_bf16_supported():
        return MixedPrecision(lambda: torch.autocast("cuda", dtype=torch.bfloat16), None, "bf16 autocast")
    return MixedPrecision(lambda: torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda"),
                          "fp16 autocast with a gradient scaler")


@torch.enable_grad()  # whatever the caller's mode: the classifier is trained by gradient descent
def _train_head(model, train, labels, settings, device, history) -> None:
    """Train the classifier layer on a frozen backbone's cached features.

    The layer is trained on standardised features (each dimension to mean 0 and standard deviation 1,
    which the optimiser needs) and the standardisation is then folded into its weights and bias, so
    the model stays an unmodified torchvision classifier. Deviations are floored at half their median:
    a nearly constant feature would otherwise get a huge weight, and the model's logits with it,
    which magnifies every rounding error of fp16 and bf16 backends.
    """
    head = classifier_layer(model)
    features = _head_inputs(model, head, [p for p, _ in train], settings, device, "backbone features, training images")
    mean, std = features.mean(0), features.std(0)
    std = std.clamp(min=max(0.5 * float(std.median()), 1e-6))
    standardised = (features - mean) / std
    linear = torch.nn.Linear(features.shape[1], head.out_features).to(device)
    optimizer = torch.optim.AdamW(linear.parameters(), lr=settings.head.learning_rate, weight_decay=settings.head.weight_decay)

    def step(idx):
        logits = linear(standardised[idx])
        loss = torch.nn.functional.cross_entropy(logits, labels[idx])
        _sgd_step(optimizer, loss)
        return loss, logits

    stage = Stage("head", settings.head.epochs, settings.batch_size, len(features), log_every=10, step=step)
    _run_epochs(stage, labels, torch.Generator(device="cpu").manual_seed(settings.seed), history)
    with torch.no_grad():
        head.weight.copy_(linear.weight / std)
        head.bias.copy_(linear.bias - (linear.weight / std) @ mean)


def _shifted(x: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
    """The batch moved by up to max_shift pixels in each direction (zero padding): a digit stays a digit."""
    if max_shift == 0:
        return x
    dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=generator))
    padded = torch.nn.functional.pad(x, (max_shift, max_shift, max_shift, max_shift))
    h, w = x.shape[-2:]
    return padded[..., max_shift + dy : max_shift + dy + h, max_shift + dx : max_shift + dx + w]


@torch.enable_grad()
def _train_all(model, train, labels, settings, device, history) -> None:
    """Train every layer (SGD with momentum, one-cycle schedule, small random shifts) from the prepared backbone.

    The classifier starts from PyTorch's own initialisation, not from a classifier fitted on the
    frozen features: that one's large logits drive large first gradients, and the first
    BatchNorm's running variance ends beyond fp16's range, which `model.half()` turns into
    infinity. Started afresh, the logits stay small and fp16 passes
    (benchmarks/fp16_starting_classifier.py).
    """
    classifier_layer(model).reset_parameters()
    images = _to_model(load_images([p for p, _ in train], settings.image_size), device)
    batch_size = settings.all.batch_size
    steps = settings.all.epochs * -(-len(images) // batch_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.all.learning_rate, momentum=0.9, weight_decay=5e-4, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.all.learning_rate, total_steps=steps, pct_start=0.15)
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    max_shift = settings.image_size // 16
    for p in model.parameters():
        p.requires_grad_(True)
    precision = mixed_precision(device)
    history["mixed_precision"] = precision.name

    def step(idx):
        x = _shifted(images[idx], generator, max_shift).contiguous(memory_format=torch.channels_last)
        with precision.autocast():
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, labels[idx])
        _sgd_step(optimizer, loss, schedule, precision.scaler)
        return loss, logits

    stage = Stage("all", settings.all.epochs, batch_size, len(images), log_every=1, step=step, before_epoch=model.train)
    _run_epochs(stage, labels, generator, history)
    model.eval()


def _log_epoch(history, epoch, epochs, loss, accuracy, stage, every) -> None:
    history.setdefault(f"{stage}_epochs", []).append({"epoch": epoch, "loss": round(loss, 6), "train_top1": round(accuracy, 6)})
    if epoch % every == 0 or epoch == epochs:
        log.info("%s epoch %d/%d: loss %.4f, training top-1 %.3f", stage, epoch, epochs, loss, accuracy)


@torch.no_grad()
def _predict(model, paths, settings, device) -> torch.Tensor:
    predictions = []
    progress = Progress("held-out accuracy, images", len(paths))
    for chunk in _batches(paths, settings.batch_size):
        predictions.append(model(_to_model(load_images(chunk, settings.image_size), device)).argmax(1))
        progress.update(sum(len(p) for p in predictions))
    return torch.cat(predictions)


def resolve_trainable(requested: str, device: torch.device) -> str:
    """auto: every layer where a GPU trains, the head on the CPU; head, all and none as asked."""
    if requested == "auto":
        return "all" if device.type == "cuda" else "head"
    return requested


def _accuracy(model, val_set, classes, settings, device) -> float:
    predictions = _predict(model, [p for p, _ in val_set], settings, device)
    labels = torch.tensor(_labels(val_set, classes), device=predictions.device)
    return float((predictions == labels).float().mean())


TRAINERS = {"head": _train_head, "all": _train_all}


def _training_images(manifest: dict, settings: TrainSettings, trainable: str) -> tuple[list, Coverage]:
    """The training images (a subset covering the classes where a cap asks for fewer), and their class coverage."""
    cap = settings.head.max_images if trainable == "head" else settings.all.max_images
    return draw(manifest, "train", cap, "training images", f"train.{trainable}.max_images")


def _start(settings: TrainSettings) -> torch.device:
    torch.set_num_threads(settings.threads)
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    if device.type == "cuda":
        # cuDNN's heuristics, not its search: searching every convolution's algorithms forward and
        # backward took ResNet50's first training step 21 s on the H200, more than a few hundred
        # steps of a faster algorithm give back (the timing cells set their own flags).
        torch.backends.cudnn.benchmark = False
    return device


def _as_given(model, settings: TrainSettings, classes: list[str]) -> dict:
    """trainable none: the weights are the trained model, classifier included; nothing is trained."""
    state = read_state_dict(settings.weights)
    if problem := misfit(state, model, settings.architecture, exempt=set()):
        raise ArtifactError(f"model.weights: {settings.weights} is not {settings.architecture} for the data's {len(classes)} "
                            f"classes as it is: {problem}")
    model.load_state_dict(state)
    log.info("using %s as it is (no training)", settings.weights)
    return {"weights_as_given": settings.weights}


def train(manifest: dict, settings: TrainSettings) -> tuple[torch.nn.Module, dict]:
    """Train the configured classifier on the manifest's images; return the CPU model and its training summary.

    Both ways of training share their shape: the backbone is prepared on the training images (from
    random weights: BatchNorm calibrated, residual branches scaled), then the head alone or every
    layer is trained by the same epoch loop.
    """
    device = _start(settings)
    trainable = resolve_trainable(settings.trainable, device)
    classes = manifest["classes"]
    held_out = draw(manifest, "val", settings.max_val_images, "held-out images", "train.max_val_images")
    model = build_model(settings.architecture, len(classes), settings.image_size)
    history: dict = {}
    if trainable == "none":
        history = _as_given(model, settings, classes)
        return _finish(model, manifest, settings, device, trainable, None, held_out, 0.0, history)
    if settings.weights:
        history["not_from_weights_file"] = load_starting_weights(model, settings.weights, settings.architecture)
        log.info("started from %s (%d tensors left initialised)", settings.weights, len(history["not_from_weights_file"]))
    model.to(device, memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    training = _training_images(manifest, settings, trainable)
    train_set, trained_on = training
    log.info("training %s of %s on %s: %s", "the classifier layer" if trainable == "head" else "every layer",
             settings.architecture, device, trained_on.sentence)
    trained_on.log(log)
    start = time.perf_counter()
    _prepare_backbone(model, train_set, manifest["seed"], settings, device, history)
    labels = torch.tensor(_labels(train_set, classes), device=device)
    TRAINERS[trainable](model, train_set, labels, settings, device, history)
    return _finish(model, manifest, settings, device, trainable, training, held_out, time.perf_counter() - start, history)


def _finish(model, manifest, settings, device, trainable, training, held_out, train_seconds, history) -> tuple:
    """The model on the CPU in eval mode, and its summary with the held-out accuracy and each subset's class coverage.

    `training` and `held_out` are (images, Coverage); `training` is None where nothing was trained.
    """
    model.to(device).eval()
    val_set, judged_on = held_out
    accuracy = _accuracy(model, val_set, manifest["classes"], settings, device)
    log.info("held-out top-1 accuracy %.4f on %s (training took %.1f s)", accuracy, judged_on.sentence, train_seconds)
    judged_on.log(log)
    covered = {"training": training[1].card()} if training else {}
    summary = {
        "device": str(device), "trainable": trainable, "threads": torch.get_num_threads(),
        "train_images": len(training[0]) if training else 0, "val_images": len(val_set), "val_top1": round(accuracy, 6),
        "train_seconds": round(train_seconds, 3), "class_coverage": covered | {"held_out": judged_on.card()},
        "history": history,
    }
    for p in model.parameters():
        p.requires_grad_(True)
    return model.to("cpu", memory_format=torch.contiguous_format).eval(), summary
