"""fp16 and bf16 are judged on their decisions and accuracy, fp32 on its logits; a reduced precision that fails is timed all the same.

The outputs are synthetic: the reference's logits moved by a chosen amount, as rounding would move
them (every answer kept) or as a fault would (answers changed, a wrong scale).
"""

import numpy as np
import pytest
from conftest import REPO

from infbench.measuring.backends.base import CellRequest
from infbench.measuring.harness import WarmupPolicy
from infbench.model.parity import Tolerance, compare
from infbench.planning.catalog import BACKENDS, REDUCED, Backend
from infbench.planning.config import validate_config
from infbench.planning.variants import Variant

DEFAULTS = validate_config({}, REPO / "workflow" / "schemas" / "config.schema.yaml")["parity"]["tolerances"]
CLASSES, IMAGES = 10, 256


def default(precision: str) -> Tolerance:
    return Tolerance(**DEFAULTS[precision])


def reference_logits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(IMAGES, CLASSES)) * 3
    labels = logits.argmax(1)
    labels[:5] = (labels[:5] + 1) % CLASSES  # a reference that is not always right
    return logits.astype(np.float32), labels


def rounded(reference: np.ndarray, share: float) -> np.ndarray:
    """Every image's top-1 logit lowered by `share` of the logit range, where that keeps its answer; others untouched.

    The largest change is exactly `share` of the range: rounding's worst case, with every decision kept."""
    out = reference.astype(np.float64).copy()
    step = share * np.abs(reference).max()
    ranked = np.sort(reference, axis=1)
    keeps = ranked[:, -1] - ranked[:, -2] > 2 * step
    rows = np.flatnonzero(keeps)
    out[rows, reference[rows].argmax(1)] -= step
    return out


def flipped(reference: np.ndarray, images: int) -> np.ndarray:
    """The answers of the `images` most decisive images changed (their two best logits swapped)."""
    out = reference.astype(np.float64).copy()
    ranked = np.sort(reference, axis=1)
    for row in np.argsort(ranked[:, -2] - ranked[:, -1])[:images]:
        first, second = np.argsort(reference[row])[-1], np.argsort(reference[row])[-2]
        out[row, [first, second]] = out[row, [second, first]]
    return out


def test_rounding_of_a_hundredth_of_the_logit_range_that_keeps_every_answer_passes_fp16_not_fp32():
    # mobilenet_v3_large's fp16 cell moved its logits by 1.05% of their range with every answer kept.
    reference, labels = reference_logits()
    outputs = rounded(reference, 0.0105)
    fp16 = compare(outputs, reference, labels, default("fp16"))
    assert fp16["passed"], fp16["failures"]
    assert fp16["max_rel_diff"] == pytest.approx(0.0105, rel=1e-6)  # reported beside, not a gate
    assert fp16["top1_agreement"] == 1.0 and fp16["accuracy_ratio"] == 1.0
    assert fp16["tolerance"]["decisive_margin"] == DEFAULTS["fp16"]["decisive_margin"]
    bf16 = compare(outputs, reference, labels, default("bf16"))
    assert bf16["passed"], bf16["failures"]
    fp32 = compare(outputs, reference, labels, default("fp32"))
    assert not fp32["passed"]  # fp32 keeps its strict bound on the logits
    assert fp32["failures"][0].startswith("max relative diff 0.0105 > 0.0001")


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_changed_answers_on_decisive_images_fail_a_reduced_precision(precision):
    reference, labels = reference_logits()
    result = compare(flipped(reference, 3), reference, labels, default(precision))
    assert not result["passed"]
    assert any(f.startswith("top-1 class changed on 3 of ") for f in result["failures"]), result["failures"]


def test_lost_accuracy_fails_fp16_even_where_the_logits_moved_little():
    reference, labels = reference_logits()
    outputs = reference.astype(np.float64).copy()
    ranked = np.sort(reference, axis=1)
    ties = np.flatnonzero((ranked[:, -1] - ranked[:, -2]) < 0.02 * np.abs(reference).max())  # not decisive
    right = ties[reference[ties].argmax(1) == labels[ties]][:4]
    for row in right:  # four near-ties that the reference gets right, tipped the wrong way
        first, second = np.argsort(reference[row])[-1], np.argsort(reference[row])[-2]
        outputs[row, [first, second]] = outputs[row, [second, first]]
    assert len(right) == 4
    result = compare(outputs, reference, labels, default("fp16"))
    assert result["decisive_top1_agreement"] == 1.0
    assert not result["passed"] and result["failures"][-1].startswith("top-1 accuracy")


def test_a_wrong_logit_scale_that_keeps_every_answer_fails_the_sanity_bound():
    # Cosine and top-1 do not see a scale: only the loose bound on the logits does.
    reference, labels = reference_logits()
    result = compare(reference * 1.5, reference, labels, default("fp16"))
    assert result["min_cosine"] == pytest.approx(1.0) and result["top1_agreement"] == 1.0
    assert not result["passed"] and result["failures"] == [result["failures"][0]]
    assert result["failures"][0].startswith("max relative diff 0.5 > 0.1")


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16", "int8"])
def test_non_finite_outputs_fail_every_precision(precision):
    reference, labels = reference_logits()
    outputs = reference.copy()
    outputs[7, 2] = np.inf
    result = compare(outputs, reference, labels, default(precision))
    assert not result["passed"] and not result["finite"]


def test_the_decisive_margin_defaults_to_twice_the_bound_where_it_is_not_given():
    assert Tolerance(1e-4, 0.99999, 1.0).margin == 2e-4
    assert Tolerance(0.1, 0.9995, 1.0, 0.99, 0.05).margin == 0.05
    assert Tolerance(0.1, 0.9995, 1.0, 0.99, 0.05).rounding_bound == 0.025
    assert default("fp32").margin == 2 * DEFAULTS["fp32"]["max_rel_diff"]  # fp32's gate is unchanged
    assert default("fp32").described()["decisive_margin"] == 2e-4  # records hold the margin as applied


FIXED = Backend(
    name="fixed_outputs", title="Given outputs", row="CPU", device="cpu", artifact="onnx", libraries=("numpy",),
    module="fixed_outputs_backend",
    variants=(Variant(name="default", label="given outputs", description="the logits a test hands it"),),
)


@pytest.fixture
def fixed(monkeypatch, tmp_path):
    monkeypatch.setitem(BACKENDS, FIXED.name, FIXED)
    reference, labels = reference_logits()
    images = np.random.default_rng(1).normal(size=(IMAGES, 3, 4, 4)).astype(np.float32)
    eval_set = {"images": images, "labels": labels, "reference": reference}

    def cell(precision: str, outputs: np.ndarray):
        from infbench.measuring.runner import run_cell

        path = tmp_path / f"{precision}.npz"
        np.savez(path, images=images, logits=outputs.astype(np.float32))
        request = CellRequest(FIXED, precision, 4, {"outputs": str(path)}, "synthetic", CLASSES, 4, threads=1)
        return run_cell(request, eval_set, 3, WarmupPolicy(mode="fixed", iterations=1), default(precision), 0.1)

    return reference, cell


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_a_reduced_precision_below_the_gate_is_timed_all_the_same_with_its_figures(fixed, precision):
    reference, cell = fixed
    record = cell(precision, flipped(reference, 3))
    assert record.status == "mismatch" and "top-1 class changed on 3 of" in record.reason
    assert record.reason.endswith(f"(timed all the same: {precision} trades accuracy for speed)")
    assert record.timing.end_to_end.host_ms.n == 3 and record.parity.decisive_top1_agreement < 1


def test_fp16_that_keeps_every_answer_is_ok_and_fp32_off_by_as_much_is_a_mismatch_without_a_time(fixed):
    reference, cell = fixed
    outputs = rounded(reference, 0.0105)
    fp16 = cell("fp16", outputs)
    assert fp16.status == "ok", fp16.reason
    assert fp16.parity.max_rel_diff == pytest.approx(0.0105, rel=1e-4)
    fp32 = cell("fp32", outputs)
    assert fp32.status == "mismatch" and fp32.timing is None and "timed all the same" not in fp32.reason
    assert fp32.reason.startswith("outputs differ from the PyTorch fp32 CPU reference: max relative diff")


def test_non_finite_outputs_of_a_reduced_precision_are_never_timed(fixed):
    reference, cell = fixed
    outputs = reference.copy()
    outputs[0, 0] = np.nan
    record = cell("fp16", outputs)
    assert record.status == "mismatch" and record.timing is None


def test_every_reduced_precision_is_one_the_catalogue_knows():
    from infbench.planning.catalog import PRECISIONS

    assert set(REDUCED) == set(PRECISIONS) - {"fp32"}


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_an_image_with_small_logits_whose_cosine_rounding_lowers_passes_the_reduced_precisions_not_fp32(precision):
    # mobilenet_v3_large after 4 epochs on the H200: one image's fp16 cosine 0.947, every decisive image agreeing.
    reference, labels = reference_logits()
    small = np.argsort(np.abs(reference).max(1))[0]
    reference[small] *= 0.01  # an image the model barely answers: logits near zero, no decisive margin
    outputs = reference.astype(np.float64).copy()
    outputs[small] += 0.2 * np.abs(reference[small]).max() * np.sign(np.arange(CLASSES) - 4.5)  # far below the logit bound
    result = compare(outputs, reference, labels, default(precision))
    assert 0.9 < result["min_cosine"] < 0.99 and result["max_rel_diff"] < 0.01, result
    assert result["passed"], result["failures"]
    assert not compare(outputs, reference, labels, default("fp32"))["passed"]
