"""INT8: each quantizer on a trained model, and the accuracy gate that tells a correct 8-bit model from a wrong one."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from infbench.artifacts import read_json, write_json
from infbench.measuring.backends.base import CellRequest
from infbench.measuring.harness import WarmupPolicy
from infbench.measuring.quantization.run import quantize
from infbench.measuring.runner import run_cell
from infbench.model.data import write_digits
from infbench.model.export import export_onnx
from infbench.model.models import save_state_dict
from infbench.model.parity import Tolerance
from infbench.model.reference import build_eval_set
from infbench.model.training import AllSettings, HeadSettings, TrainSettings, train
from infbench.planning.catalog import BACKENDS, RECIPES
from infbench.planning.layout import QUANTIZATION_RECORD

SIZE = 32
INT8 = Tolerance(max_rel_diff=0.3, min_cosine=0.9, min_top1_agreement=1.0, min_accuracy_ratio=0.99)  # the defaults
SETTINGS = {"calibration_images": 64, "validation_images": 64, "max_drop": 0.01, "ranking_images": 16}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained resnet18 at 32x32 on the digits, its ONNX export, card and held-out references."""
    root = tmp_path_factory.mktemp("int8")
    manifest = write_digits(root / "digits", SIZE, 0.2, 0)
    settings = TrainSettings("resnet18", SIZE, "head", 32, 128, "cpu", 0, 2, HeadSettings(200, 20, 0.01, 0.1),
                             AllSettings(None, 1, 0.01))
    model, summary = train(manifest, settings)
    save_state_dict(model, root / "model_weights.pth")
    export_onnx(model, SIZE, root / "onnx_model.onnx", opset=18, exporter="dynamo", half=False)
    card = {"architecture": "resnet18", "num_classes": 10, "image_size": SIZE, "val_top1": summary["val_top1"],
            "train_images": summary["train_images"]}
    eval_set = build_eval_set(manifest, card, str(root / "model_weights.pth"), n_images=128, threads=2)
    return {"root": root, "manifest": manifest, "card": card, "eval_set": eval_set}


def _quantized(trained, recipe, folder_name=None, manifest=None):
    folder = trained["root"] / "int8" / (folder_name or recipe)
    folder.mkdir(parents=True, exist_ok=True)
    inputs = {"manifest": manifest or trained["manifest"], "card": trained["card"], "onnx": str(trained["root"] / "onnx_model.onnx"),
              "pth": str(trained["root"] / "model_weights.pth"), "onnx_info": {"status": "exported"}}
    write_json(folder / QUANTIZATION_RECORD, quantize(recipe, inputs, SETTINGS, folder, threads=2))
    return folder


def _cell(trained, backend, variant, folder):
    request = CellRequest(BACKENDS[backend], "int8", 1, {"int8_dir": str(folder)}, "resnet18", 10, SIZE, threads=2, variant=variant)
    return run_cell(request, trained["eval_set"], 3, WarmupPolicy(mode="fixed", iterations=1), INT8, 0.1)


def test_a_correct_qdq_model_passes_the_gate_and_says_how_it_was_made(trained):
    folder = _quantized(trained, "qdq_u8s8")
    record = read_json(folder / QUANTIZATION_RECORD)
    assert record["status"] == "quantized" and record["recipe"]["name"] == "qdq_u8s8"
    assert record["calibration_images"] == 64 and record["held_out_images_used"] == 0
    assert record["quantize_s"] > 0 and record["versions"]["onnxruntime"]
    cell = _cell(trained, "onnxruntime_cpu", "qdq_u8s8", folder)
    assert cell.status == "ok", cell.reason
    assert cell.parity.accuracy_ratio >= 0.99 and 0 < cell.parity.max_rel_diff < 0.3  # 8-bit arithmetic, not fp32's
    assert cell.settings["eight_bit_kernels"]  # ONNX Runtime really ran 8-bit kernels
    assert cell.cold_start.quantize_s == record["quantize_s"] and cell.cold_start.build_s >= cell.cold_start.quantize_s
    openvino = _cell(trained, "openvino", "int8_qdq", folder)  # OpenVINO's ONNX frontend reads the same QDQ model
    assert openvino.status == "ok", openvino.reason
    assert any(openvino.settings["runtime_precisions"].get(p) for p in ("i8", "u8"))


def test_nncf_quantizes_for_openvino_and_keeps_the_ends_in_fp32_when_asked(trained):
    folder = _quantized(trained, "nncf_ends_fp32")
    record = read_json(folder / QUANTIZATION_RECORD)
    assert len(record["kept_float"]) == 2 and record["fake_quantize_ops"] > 10
    cell = _cell(trained, "openvino", "int8_nncf_ends_fp32", folder)
    assert cell.status == "ok", cell.reason


def test_calibrating_on_blank_images_fails_the_gate_and_is_timed_all_the_same(trained, tmp_path):
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (SIZE, SIZE)).save(blank)
    manifest = dict(trained["manifest"], train=[[str(blank), "0"]] * 64)
    folder = _quantized(trained, "qdq_u8s8", "qdq_u8s8_blank", manifest)
    cell = _cell(trained, "onnxruntime_cpu", "qdq_u8s8", folder)
    assert cell.status == "mismatch" and "top-1 accuracy" in cell.reason and "timed all the same" in cell.reason
    assert cell.timing.end_to_end.host_ms.n == 3  # shown with its figures, never in the fastest table


def test_one_layer_with_a_scale_off_by_a_large_factor_fails_the_gate(trained):
    folder = _quantized(trained, "qdq_u8s8", "qdq_u8s8_broken")
    model = onnx.load(str(folder / "model.onnx"))
    scales = [init for init in model.graph.initializer if init.name.endswith("_scale") and numpy_helper.to_array(init).size > 1]
    broken = scales[len(scales) // 2]  # a per-channel weight scale in the middle of the network
    broken.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(broken) * 50, broken.name))
    onnx.save(model, str(folder / "model.onnx"))
    cell = _cell(trained, "onnxruntime_cpu", "qdq_u8s8", folder)
    assert cell.status == "mismatch", cell.parity


def test_the_accuracy_aware_recipe_keeps_layers_in_fp32_until_within_max_drop(trained):
    folder = _quantized(trained, "qdq_u8s8_accuracy")
    record = read_json(folder / QUANTIZATION_RECORD)
    assert record["validation_images"] == 64 and record["steps"] and not record["validation_seen_in_training"]
    assert record["within_max_drop"] or len(record["kept_float"]) == len(record["steps"]) - 1
    assert record["validation_int8_accuracy"] == record["steps"][-1]["validation_accuracy"]


def test_accuracy_aware_recipes_validate_on_training_images_the_model_was_not_fitted_on():
    from infbench.measuring.quantization.data import validation_items
    from infbench.model.subsets import representative_order

    order = representative_order([[f"image{i}", str(i % 10)] for i in range(1000)], seed=0)  # as training drew its own
    items, pool, seen = validation_items(order, n_calibration=128, trained_on=400, asked=200, seed=0)
    assert pool == order[400:] and len(items) == 200 and not seen
    assert not {p for p, _ in items} & {p for p, _ in order[:400]} and len({c for _, c in items}) == 10
    items, pool, seen = validation_items(order, n_calibration=128, trained_on=1000, asked=200, seed=0)  # every image trained on
    assert pool == order[128:] and len(items) == 200 and seen
    items, pool, seen = validation_items(order, n_calibration=128, trained_on=0, asked=200, seed=0)  # weights as given
    assert pool == order[128:] and not seen and not {p for p, _ in items} & {p for p, _ in order[:128]}


def test_a_recipe_whose_library_is_missing_or_whose_model_is_missing_says_so(trained, tmp_path):
    with pytest.raises(Exception, match="no ONNX model to quantize: the dynamo exporter failed"):
        quantize("qdq_u8s8", {"manifest": trained["manifest"], "card": trained["card"], "onnx": None,
                              "onnx_info": {"status": "failed", "reason": "the dynamo exporter failed: X"}}, SETTINGS, tmp_path, 2)


def test_every_recipe_is_declared_once_and_every_int8_variant_runs_one():
    int8 = [(b.name, v.name) for b in BACKENDS.values() for v in b.variants if v.options.quantization]
    assert len(int8) >= 10
    assert all(v.options.quantization is RECIPES[v.options.quantization.name] for b in BACKENDS.values() for v in b.variants
               if v.options.quantization)
    assert json.loads(json.dumps(vars(RECIPES["qdq_u8s8_ends_fp32"])))["keep_float"] == ["first_conv", "classifier"]
    assert np.all([b.variant(b.default_variant).runs("fp32") for b in BACKENDS.values()])
