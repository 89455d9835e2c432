"""Output parity: does a backend compute what the PyTorch fp32 CPU reference computes?"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """What a backend at one precision may differ from the PyTorch fp32 CPU reference.

    fp32 is judged on its logits: `max_rel_diff`, max |output - reference| / max |reference| over all
    logits, is its rounding error bound. fp16, bf16 and int8 are judged as the field judges reduced
    precisions, on their decisions: the top-1 class of every decisive image (reference margin, top-1
    logit minus the runner-up, above `decisive_margin` of the logit range) must be the reference's,
    each image's logits must point the reference's way (`min_cosine`), and the top-1 accuracy on the
    labels must stay within `min_accuracy_ratio` of the reference's, as MLPerf asks of its 99%
    targets. Their logit error is reported beside, and `max_rel_diff` is only a loose bound against
    garbage that keeps every decision: cosine and top-1 do not see a logit scale gone wrong.
    Non-finite outputs fail at every precision.
    """

    max_rel_diff: float
    min_cosine: float  # lowest cosine similarity of one image's logits with the reference's
    min_top1_agreement: float  # share of decisive images whose top-1 class is the reference's
    min_accuracy_ratio: float = 0.99  # top-1 accuracy / the reference's
    # Margin, as a share of the logit range, above which an image's top-1 class must not change
    # (None: twice max_rel_diff, where rounding within the bound cannot change the answer).
    decisive_margin: float | None = None

    @property
    def margin(self) -> float:
        return 2 * self.max_rel_diff if self.decisive_margin is None else self.decisive_margin

    @property
    def rounding_bound(self) -> float:
        """The largest logit error, relative to the range, that the precision's rounding is expected to cause."""
        return self.margin / 2

    def described(self) -> dict[str, float]:
        """The tolerance as a record holds it: every bound a number, the margin as applied."""
        return {**{k: v for k, v in asdict(self).items() if v is not None}, "decisive_margin": self.margin}


def relative_diff(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Largest absolute difference, relative to the reference's largest magnitude (logits have no fixed scale)."""
    ref = np.asarray(reference, dtype=np.float64)
    scale = float(np.abs(ref).max()) or 1.0
    return float(np.abs(np.asarray(outputs, dtype=np.float64) - ref).max()) / scale


def outputs_over(infer: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int) -> np.ndarray:
    """Run `infer` over all images in batches of exactly `batch_size` (the last batch wraps around)."""
    n = len(images)
    order = np.arange(math.ceil(n / batch_size) * batch_size) % n
    outputs = [np.asarray(infer(images[order[i : i + batch_size]])) for i in range(0, len(order), batch_size)]
    return np.concatenate(outputs)[:n]


def compare(outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray, tolerance: Tolerance) -> dict:
    """Agreement of `outputs` (logits) with the reference logits, and whether it is within tolerance."""
    out = np.asarray(outputs, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if out.shape != ref.shape:
        return {"passed": False, "finite": False, "failures": [f"output shape {out.shape} differs from the reference's {ref.shape}"]}
    result: dict = {"images": int(len(ref)), "tolerance": tolerance.described()}
    if not np.isfinite(out).all():
        result.update(passed=False, finite=False, failures=["outputs contain NaN or infinity"])
        return result
    diff = np.abs(out - ref)
    norms = np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1)
    cosine = np.where(norms > 0, (out * ref).sum(axis=1) / np.where(norms > 0, norms, 1), 1.0)
    top1, ref_top1 = out.argmax(axis=1), ref.argmax(axis=1)
    ranked = np.sort(ref, axis=1)
    margin = ranked[:, -1] - ranked[:, -2] if ref.shape[1] > 1 else np.full(len(ref), np.inf)
    scale = float(np.abs(ref).max()) or 1.0
    decisive = margin > tolerance.margin * scale
    agree = top1 == ref_top1
    accuracy, ref_accuracy = float((top1 == labels).mean()), float((ref_top1 == labels).mean())
    result.update(
        max_abs_diff=float(diff.max()),
        max_rel_diff=relative_diff(out, ref),
        mean_abs_diff=float(diff.mean()),
        min_cosine=float(cosine.min()),
        mean_cosine=float(cosine.mean()),
        top1_agreement=float(agree.mean()),
        decisive_images=int(decisive.sum()),
        decisive_top1_agreement=float(agree[decisive].mean()) if decisive.any() else 1.0,
        top1_accuracy=accuracy,
        reference_top1_accuracy=ref_accuracy,
        accuracy_ratio=accuracy / ref_accuracy if ref_accuracy > 0 else 1.0,
    )
    failures = []
    if result["max_rel_diff"] > tolerance.max_rel_diff:
        failures.append(
            f"max relative diff {result['max_rel_diff']:.3g} > {tolerance.max_rel_diff:g} (max |diff| {result['max_abs_diff']:.3g})"
        )
    if result["min_cosine"] < tolerance.min_cosine:
        failures.append(f"min cosine {result['min_cosine']:.6f} < {tolerance.min_cosine:g}")
    if result["decisive_top1_agreement"] < tolerance.min_top1_agreement:
        changed = int((~agree & decisive).sum())
        failures.append(
            f"top-1 class changed on {changed} of {result['decisive_images']} decisive images "
            f"(agreement {result['decisive_top1_agreement']:.3f} < {tolerance.min_top1_agreement:g})"
        )
    if result["accuracy_ratio"] < tolerance.min_accuracy_ratio:
        failures.append(
            f"top-1 accuracy {accuracy:.3f} is {result['accuracy_ratio']:.3f} of the reference's {ref_accuracy:.3f} "
            f"(< {tolerance.min_accuracy_ratio:g})"
        )
    result.update(passed=not failures, failures=failures)
    return result
