"""ONNX Runtime's transformer optimizer: a step per model and precision, and variants that run its model, on a real ViT export."""

import numpy as np
import onnx
import pytest
from conftest import make_artifacts, snakemake, write_config

from infbench.artifacts import read_json, write_json
from infbench.measuring.backends.base import CellRequest
from infbench.measuring.harness import WarmupPolicy
from infbench.measuring.runner import run_cell
from infbench.model.ort_transformer import RECORD, model_type, optimize
from infbench.model.parity import Tolerance
from infbench.model.reference import load_eval_set, save_eval_set
from infbench.planning.catalog import BACKENDS

SIZE, CLASSES = 32, 10
VIT = "timm/vit_tiny_patch16_224"
FP32 = Tolerance(1e-4, 0.99999, 1.0)


@pytest.mark.parametrize("architecture, kind", [("vit_b_16", "vit"), ("vit_l_32", "vit"), ("timm/vit_tiny_patch16_224", "vit"),
                                                ("timm/deit_small_patch16_224", "vit"), ("resnet50", None),
                                                ("convnext_tiny", None), ("timm/resnet50", None), ("onnx", None)])
def test_the_optimizer_applies_to_vision_transformers_by_name(architecture, kind):
    assert model_type(architecture) == kind


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    pytest.importorskip("timm")
    root = tmp_path_factory.mktemp("vit")
    save_eval_set(root / "eval_set.npz", make_artifacts(root, SIZE, CLASSES, n_images=16, architecture=VIT))
    folders = {}
    for precision in ("fp32", "fp16"):
        folders[precision] = root / "ort_transformer" / precision
        folders[precision].mkdir(parents=True)
        write_json(folders[precision] / RECORD, optimize(str(root / "onnx_model.onnx"), folders[precision], VIT, precision))
    return root, folders


def _cell(root, folder, architecture=VIT, precision="fp32", batch=2):
    request = CellRequest(BACKENDS["onnxruntime_cpu"], precision, batch, {"onnx": str(root / "onnx_model.onnx"),
                          "ort_transformer_dir": str(folder)}, architecture, CLASSES, SIZE, threads=2, variant="transformer")
    return run_cell(request, load_eval_set(root / "eval_set.npz"), 3, WarmupPolicy(mode="fixed", iterations=1), FP32, 0.1)


def test_the_optimizer_fuses_layernorm_and_gelu_of_a_real_vit_export(vit):
    _, folders = vit
    record = read_json(folders["fp32"] / RECORD)
    assert record["status"] == "optimized" and record["model_type"] == "vit"
    fused = record["fused_operators"]
    assert fused["SkipLayerNormalization"] >= 12 and fused.get("BiasGelu", 0) + fused.get("Gelu", 0) >= 12  # 12 blocks
    ops = {node.op_type for node in onnx.load(str(folders["fp32"] / record["model_file"])).graph.node}
    assert {"SkipLayerNormalization"} <= ops and "Erf" not in ops  # really rewritten, not only counted


def test_the_optimized_model_runs_in_a_cell_and_passes_fp32_parity(vit):
    root, folders = vit
    record = _cell(root, folders["fp32"])
    assert record.status == "ok", record.reason
    assert record.parity.passed and record.parity.max_rel_diff < 1e-4
    assert record.settings["transformer_optimizer"]["fused_operators"]["SkipLayerNormalization"] >= 12
    assert record.settings["node_placement"]["CPUExecutionProvider"] > 0


def test_the_fp16_model_is_converted_by_the_optimizer_inputs_and_outputs_included(vit):
    _, folders = vit
    record = read_json(folders["fp16"] / RECORD)
    graph = onnx.load(str(folders["fp16"] / record["model_file"])).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert record["fp16_method"].startswith("the optimizer's convert_float_to_float16")
    import onnxruntime as ort

    session = ort.InferenceSession(str(folders["fp16"] / record["model_file"]), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": np.zeros((2, 3, SIZE, SIZE), np.float16)})[0]
    assert out.shape == (2, CLASSES) and np.isfinite(out.astype(np.float32)).all()


def test_a_cnn_cell_of_the_optimizer_is_skipped_with_the_reason(vit):
    root, folders = vit
    record = _cell(root, folders["fp32"], architecture="resnet50")
    assert record.status == "skipped"
    assert record.reason.startswith("ONNX Runtime's transformer optimizer applies to vision transformers") and "resnet50 is not one" in record.reason


def test_a_step_that_fused_nothing_skips_its_cells_with_its_reason(vit, tmp_path):
    root, _ = vit
    write_json(tmp_path / RECORD, {"status": "skipped", "reason": "ONNX Runtime's transformer optimizer fused no operator of x"})
    record = _cell(root, tmp_path)
    assert record.status == "skipped" and record.reason == "ONNX Runtime's transformer optimizer fused no operator of x"


def test_the_plan_optimizes_transformers_only_and_once_per_precision(tmp_path):
    config = {"models": [{"architecture": "vit_b_16"}, {"architecture": "resnet50"}],
              "benchmark": {"backends": ["onnxruntime_cuda", "onnxruntime_cpu"], "precisions": ["fp32", "fp16"],
                            "batch_sizes": {"cpu": [1], "cuda": [1, 256]},
                            "variants": {"onnxruntime_cuda": ["transformer", "transformer_cuda_graph", "nhwc_cuda_graph"],
                                         "onnxruntime_cpu": ["default", "transformer"]}}}
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "--cores", "1", "results/table.md")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines()
              if line.startswith(("optimize_transformer ", "time_onnxruntime_cuda "))}
    assert counts == {"optimize_transformer": 2,  # fp32 and fp16 of vit_b_16 alone
                       "time_onnxruntime_cuda": 2 * 3 * 2 * 2}  # models x variants x precisions x batches
    assert "results/model/vit_b_16/ort_transformer/fp16" in result.stdout
    assert "results/model/resnet50/ort_transformer" not in result.stdout
