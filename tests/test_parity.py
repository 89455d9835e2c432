import numpy as np
import pytest

from infbench.model.parity import Tolerance, compare, outputs_over

TIGHT = Tolerance(max_rel_diff=1e-4, min_cosine=0.9999, min_top1_agreement=1.0)


def _logits(n=6, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, classes)).astype(np.float32) * 5


def test_identical_outputs_pass_with_zero_difference():
    ref = _logits()
    labels = ref.argmax(1)
    result = compare(ref.copy(), ref, labels, TIGHT)
    assert result["passed"] and result["failures"] == []
    assert result["max_abs_diff"] == 0.0
    assert result["min_cosine"] == pytest.approx(1.0)
    assert result["top1_agreement"] == 1.0 == result["top1_accuracy"]


def test_difference_beyond_tolerance_fails_and_names_both_numbers():
    ref = _logits()
    out = ref.copy()
    out[2, 1] += 0.5
    result = compare(out, ref, ref.argmax(1), TIGHT)
    assert not result["passed"]
    assert result["max_abs_diff"] == pytest.approx(0.5, rel=1e-5)
    assert result["max_rel_diff"] == pytest.approx(0.5 / np.abs(ref).max(), rel=1e-5)
    failure = result["failures"][0]
    assert failure.startswith(f"max relative diff {result['max_rel_diff']:.3g} > 0.0001") and "(max |diff| 0.5)" in failure


def test_relative_difference_does_not_depend_on_the_scale_of_the_logits():
    ref = _logits()
    out = ref * (1 + 1e-6)
    small = compare(out, ref, ref.argmax(1), TIGHT)
    large = compare(out * 1000, ref * 1000, ref.argmax(1), TIGHT)
    assert small["passed"] and large["passed"]
    assert small["max_rel_diff"] == pytest.approx(large["max_rel_diff"], rel=0.1)


def test_a_flip_on_a_decisive_image_fails_the_agreement():
    ref = np.array([[2.0, 1.0], [0.0, 3.0]], dtype=np.float32)
    out = np.array([[1.0, 2.0], [0.0, 3.0]], dtype=np.float32)
    result = compare(out, ref, np.array([0, 1]), Tolerance(0.1, -1, 1.0, 0.0))  # bound 0.3: both margins are decisive
    assert result["decisive_images"] == 2 and result["top1_agreement"] == 0.5
    assert result["top1_accuracy"] == 0.5 and result["reference_top1_accuracy"] == 1.0
    assert not result["passed"]
    assert "top-1 class changed on 1 of 2 decisive images (agreement 0.500 < 1)" in result["failures"][1]


def test_a_near_tie_that_flips_within_the_error_bound_passes():
    # Image 0's two best classes differ by 0.01, less than twice the bound (2 x 0.01 x 10): rounding may flip it.
    ref = np.array([[5.0, 4.99, 0.0], [0.0, 10.0, 1.0]])
    out = ref + np.array([[-0.006, 0.006, 0.0], [0.0, 0.0, 0.0]])
    result = compare(out, ref, np.array([0, 1]), Tolerance(0.01, 0.99, 1.0, 0.0))
    assert result["top1_agreement"] == 0.5 and result["decisive_images"] == 1
    assert result["decisive_top1_agreement"] == 1.0 and result["passed"], result["failures"]


def test_accuracy_below_the_references_share_fails():
    ref = np.eye(4)[[0, 1, 2, 3] * 25] * 4.0  # 100 images, all decisive, all right
    labels = ref.argmax(1)
    out = ref.copy()
    out[:2] = np.eye(4)[[1, 0]] * 4.0  # two answers wrong: accuracy 0.98
    loose = Tolerance(10.0, -1, 0.0, 0.99)  # only the accuracy gate can fail
    result = compare(out, ref, labels, loose)
    assert result["accuracy_ratio"] == pytest.approx(0.98)
    assert result["failures"] == ["top-1 accuracy 0.980 is 0.980 of the reference's 1.000 (< 0.99)"]
    out[1] = ref[1]
    assert compare(out, ref, labels, loose)["passed"]  # 0.99 of the reference's is allowed


def test_nan_outputs_and_wrong_shapes_fail():
    ref = _logits()
    out = ref.copy()
    out[0, 0] = np.nan
    assert compare(out, ref, ref.argmax(1), TIGHT)["failures"] == ["outputs contain NaN or infinity"]
    assert not compare(ref[:, :3], ref, ref.argmax(1), TIGHT)["passed"]


def test_fp16_outputs_are_compared_in_float64():
    ref = _logits()
    result = compare(ref.astype(np.float16), ref, ref.argmax(1), Tolerance(0.01, 0.999, 1.0))
    assert result["passed"]
    assert 0 < result["max_rel_diff"] < 0.001


@pytest.mark.parametrize("batch", [1, 3, 4, 10])
def test_outputs_over_runs_fixed_size_batches_and_keeps_image_order(batch):
    images = np.arange(7, dtype=np.float32).reshape(7, 1)
    seen = []

    def infer(x):
        seen.append(len(x))
        return x * 2

    out = outputs_over(infer, images, batch)
    assert set(seen) == {batch}
    np.testing.assert_array_equal(out, images * 2)
