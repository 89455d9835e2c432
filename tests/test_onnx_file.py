"""A trained model given as an ONNX file (models[].onnx): measured as it is, with no PyTorch module."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import REPO, TINY_CONFIG, snakemake, write_config
from tiny_net import TinyNet

from infbench.errors import ArtifactError, ConfigError
from infbench.model.export import INPUT_NAME, OUTPUT_NAME
from infbench.model.onnx_file import check_interface, import_onnx
from infbench.planning.catalog import BACKENDS
from infbench.planning.config import validate_config
from infbench.planning.modelspec import ModelSpec, models_of
from infbench.results.records import read_record

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _export(model: torch.nn.Module, path: Path, size: int, batch_axis: bool = True) -> Path:
    """The model as a user's exporter writes it: its own input and output names."""
    axes = {"pixels": {0: "n"}, "scores": {0: "n"}} if batch_axis else None
    torch.onnx.export(model.eval(), (torch.randn(1, 3, size, size),), path, dynamo=False, opset_version=17,
                      input_names=["pixels"], output_names=["scores"], dynamic_axes=axes)
    return path


def test_a_file_is_written_with_the_workflows_names_and_computes_what_it_computed(tmp_path):
    torch.manual_seed(0)
    given = _export(TinyNet(10), tmp_path / "given.onnx", 16)
    info = import_onnx(given, tmp_path / "onnx_model.onnx", 16, 10)
    assert info["status"] == "provided" and info["given_names"] == {"input": "pixels", "output": "scores"}
    assert info["fixed_batch"] is None and info["input_shape"] == ["n", 3, 16, 16]
    images = np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32)
    before = ort.InferenceSession(str(given)).run(["scores"], {"pixels": images})[0]
    after = ort.InferenceSession(str(tmp_path / "onnx_model.onnx")).run([OUTPUT_NAME], {INPUT_NAME: images})[0]
    np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("size, classes, message", [
    (32, 10, r"its input 'pixels' has shape \[1, 3, 16, 16\]; the workflow feeds \[batch, 3, 32, 32\]"),
    (16, 7, r"its output 'scores' has shape \[1, 10\]; \[batch, 7\] is needed, one score per class of the data \(7 classes\)"),
])
def test_a_file_that_does_not_take_the_workflows_images_or_classes_says_what_does_not_fit(tmp_path, size, classes, message):
    given = _export(TinyNet(10), tmp_path / "given.onnx", 16, batch_axis=False)
    with pytest.raises(ArtifactError, match=message):
        import_onnx(given, tmp_path / "onnx_model.onnx", size, classes)
    assert not (tmp_path / "onnx_model.onnx").exists()  # nothing half-written


def test_a_file_that_is_not_onnx_says_so(tmp_path):
    (tmp_path / "given.onnx").write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match=r"given.onnx: not a valid ONNX model \("):
        import_onnx(tmp_path / "given.onnx", tmp_path / "onnx_model.onnx", 16, 10)


def test_a_file_with_two_inputs_is_refused(tmp_path):
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in ("a", "b")]
    output = helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "g", inputs, [output])
    with pytest.raises(ArtifactError, match="has 2 inputs and 1 outputs; one image input and one output of class scores"):
        check_interface(helper.make_model(graph), 8, 3, "two.onnx")


def test_which_cells_an_onnx_file_cannot_run_and_why():
    spec = ModelSpec("mine", "onnx", 224, trainable="none", onnx="mine.onnx")
    for backend in ("pytorch_cpu", "pytorch_cuda", "torch2trt"):
        assert "runs the PyTorch module, which the file does not hold" in spec.missing_for(BACKENDS[backend], "fp32", False)
    assert spec.missing_for(BACKENDS["onnxruntime_cpu"], "int8", False) is None
    assert spec.missing_for(BACKENDS["openvino"], "fp16", True) is None  # OpenVINO makes fp16 from the fp32 file
    assert "fp16 ONNX export" in spec.missing_for(BACKENDS["onnxruntime_cuda"], "fp16", False)
    assert spec.missing_for(BACKENDS["tensorrt"], "fp16", False) is None  # TensorRT 10 and older: a builder flag
    assert "fp16 ONNX export" in spec.missing_for(BACKENDS["tensorrt"], "fp16", True)  # TensorRT 11: strongly typed
    assert ModelSpec("r", "resnet18", 32).missing_for(BACKENDS["pytorch_cpu"], "fp32", False) is None


def _config(tmp_path: Path, models: list) -> dict:
    return validate_config({"models": models}, SCHEMA, workdir=tmp_path, basedir=REPO)


def test_the_config_names_an_onnx_file_instead_of_an_architecture(tmp_path):
    (tmp_path / "mine.onnx").write_bytes(b"")
    config = _config(tmp_path, [{"onnx": "mine.onnx", "image_size": 64}, {"architecture": "resnet18"}])
    models = models_of(config)
    assert list(models) == ["mine", "resnet18"]
    assert models["mine"].is_onnx_file and models["mine"].image_size == 64 and not models["resnet18"].is_onnx_file


@pytest.mark.parametrize("entry, message", [
    ({"onnx": "absent.onnx"}, "models[0].onnx: 'absent.onnx' does not exist (give an existing .onnx file)"),
    ({"onnx": "mine.onnx", "architecture": "resnet18"}, "models[0]: names both an architecture and an onnx file (give one of them)"),
    ({"onnx": "mine.onnx", "trainable": "all"}, "models[0].trainable: an ONNX file is measured as it is, with no trainable"),
    ({"onnx": "mine.onnx", "weights": "w.pth"}, "models[0].weights: an ONNX file is measured as it is, with no weights"),
    ({"name": "x"}, "models[0]: names neither an architecture nor an onnx file (give one of them)"),
])
def test_a_model_entry_that_is_not_one_model_is_a_config_error(tmp_path, entry, message):
    (tmp_path / "mine.onnx").write_bytes(b"")
    with pytest.raises(ConfigError) as error:
        _config(tmp_path, [entry])
    assert str(error.value).startswith(message)


def test_an_onnx_file_whose_name_makes_no_model_name_stops_the_run_with_one_line(tmp_path):
    _export(TinyNet(10), tmp_path / "...onnx", 32)
    write_config(tmp_path, {**TINY_CONFIG, "models": [{"onnx": "...onnx"}]})
    result = snakemake(tmp_path, "--cores", "1", "results/table.md")
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert result.returncode == 1 and errors == ["config error: models[0].onnx: no model name can be made of '...onnx' "
                                                 "(give models[0].name: a letter or digit, then letters, digits, '_', '.' or '-')"]
    assert "MissingInputException" not in result.stderr and not (tmp_path / "results").exists()


ONNX_FILE_CONFIG = {
    **TINY_CONFIG,
    "models": [{"onnx": "given/mine.onnx", "image_size": 32}],
    "benchmark": {**TINY_CONFIG["benchmark"], "backends": ["pytorch_cpu", "onnxruntime_cpu", "openvino"],
                  "precisions": ["fp32", "int8"],
                  "variants": {"pytorch_cpu": ["eager", "int8_pt2e"], "onnxruntime_cpu": ["default", "qdq_u8s8"],
                               "openvino": ["latency"]}},
}


@pytest.fixture(scope="module")
def onnx_file_run(tmp_path_factory, finished_workflow) -> tuple[Path, dict]:
    """The tiny workflow's trained resnet18, exported by the user with names of their own, measured as an ONNX file."""
    from infbench.model.models import load_trained

    trained = json.loads((finished_workflow / "results/model/resnet18/model_card.json").read_text())
    model = load_trained(str(finished_workflow / "results/model/resnet18/model_weights.pth"), "resnet18", 10, 32)
    workdir = tmp_path_factory.mktemp("onnx-file")
    (workdir / "given").mkdir()
    _export(model, workdir / "given" / "mine.onnx", 32)
    write_config(workdir, ONNX_FILE_CONFIG)  # the same data settings: the same held-out images
    result = snakemake(workdir, "--cores", "2", "results/table.md")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, trained


def _record(workdir: Path, backend: str, variant: str, precision: str):
    return read_record(workdir / f"results/records/local/mine/{backend}/{variant}/{precision}_bs1.json")


def test_an_onnx_file_is_measured_as_it_is_and_its_pytorch_cells_say_why_they_are_empty(onnx_file_run):
    workdir, trained = onnx_file_run
    assert not (workdir / "results/model/mine/model_weights.pth").exists()  # nothing trained
    card = json.loads((workdir / "results/model/mine/model_card.json").read_text())
    # The same network on the same held-out images: ONNX Runtime's answers are PyTorch's.
    assert card["val_images"] == trained["val_images"] == TINY_CONFIG["train"]["max_val_images"]
    assert abs(card["val_top1"] - trained["val_top1"]) <= 1 / card["val_images"]
    for variant, precision in (("eager", "fp32"), ("int8_pt2e", "int8")):
        record = _record(workdir, "pytorch_cpu", variant, precision)
        assert record.status == "skipped"
        assert record.reason == "mine is given as an ONNX file (given/mine.onnx): pytorch_cpu runs the PyTorch module, which the file does not hold"
    for backend, variant, precision in (("onnxruntime_cpu", "default", "fp32"), ("openvino", "latency", "fp32"),
                                        ("onnxruntime_cpu", "qdq_u8s8", "int8")):
        record = _record(workdir, backend, variant, precision)
        assert record.status in ("ok", "mismatch") and record.timing.end_to_end.host_ms.n >= 5, (backend, record.reason)
        assert record.parity.images == TINY_CONFIG["parity"]["images"]
    assert _record(workdir, "onnxruntime_cpu", "default", "fp32").parity.max_rel_diff == 0.0  # it is the reference
    assert _record(workdir, "openvino", "latency", "fp32").status == "ok"
    table = (workdir / "results" / "table.md").read_text()
    assert "ONNX model: the file as given (given/mine.onnx" in table
    assert "mine (ONNX file), 10 classes, 32x32" in table
    assert not list((workdir / "results" / "model" / "mine" / "int8").glob("pt2e*"))  # no PyTorch quantization planned


def test_an_onnx_file_plans_no_training_and_nothing_again(onnx_file_run):
    workdir, _ = onnx_file_run
    result = snakemake(workdir, "-n", "--cores", "1", "results/table.md")
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout[-2000:]
    log = (workdir / "results" / "logs" / "mine" / "import_onnx.log").read_text()
    assert "given/mine.onnx: input ['n', 3, 32, 32], output ['n', 10]" in log


# A file that fixes its batch size (exported without a dynamic batch axis): checked and run at that size.


def test_the_onnx_check_runs_a_fixed_batch_file_at_its_size_and_names_the_sizes_it_rules_out(tmp_path):
    from infbench.model.export import check_with_onnxruntime
    from infbench.model.parity import Tolerance

    torch.manual_seed(0)
    net = TinyNet(10).eval()
    given = _export(net, tmp_path / "batch1.onnx", 16, batch_axis=False)
    info = import_onnx(given, tmp_path / "onnx_model.onnx", 16, 10)
    assert info["fixed_batch"] == 1
    images = np.random.default_rng(0).standard_normal((7, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        reference = net(torch.from_numpy(images)).numpy()
    eval_set = {"images": images, "labels": reference.argmax(1), "reference": reference}
    tolerance = Tolerance(max_rel_diff=1e-4, min_cosine=0.9999, min_top1_agreement=0.99, min_accuracy_ratio=0.99)
    result = check_with_onnxruntime(str(tmp_path / "onnx_model.onnx"), eval_set, tolerance, 1, (1, 4), info["fixed_batch"])
    assert result["passed"] and result["images"] == 7
    assert result["batch_sizes"]["1"] == "passed"
    assert result["batch_sizes"]["4"] == (f"not checked: {tmp_path / 'onnx_model.onnx'} fixes its batch size at 1; batch 4 "
                                          "needs a file with a dynamic batch axis (or set benchmark.batch_sizes to the file's)")


FIXED_BATCH_CONFIG = {
    **TINY_CONFIG,
    "models": [{"onnx": "given/batch1.onnx", "image_size": 32}],
    "benchmark": {**TINY_CONFIG["benchmark"], "backends": ["onnxruntime_cpu", "openvino"], "batch_sizes": [1, 2],
                  "precisions": ["fp32", "int8"],
                  "variants": {"onnxruntime_cpu": ["default", "qdq_u8s8"], "openvino": ["latency", "int8_nncf"]}},
}


def test_a_file_with_a_fixed_batch_of_one_is_measured_at_one_and_its_other_cells_say_why_not(tmp_path):
    torch.manual_seed(0)
    (tmp_path / "given").mkdir()
    _export(TinyNet(10), tmp_path / "given" / "batch1.onnx", 32, batch_axis=False)
    write_config(tmp_path, FIXED_BATCH_CONFIG)
    result = snakemake(tmp_path, "--cores", "2", "results/table.md")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    check = json.loads((tmp_path / "results/model/batch1/onnx_check.json").read_text())
    assert check["passed"] and check["batch_sizes"]["1"] == "passed"
    assert check["batch_sizes"]["2"].startswith("not checked: results/model/batch1/onnx_model.onnx fixes its batch size at 1")
    for backend, variant in (("onnxruntime_cpu", "default"), ("openvino", "latency")):
        one = read_record(tmp_path / f"results/records/local/batch1/{backend}/{variant}/fp32_bs1.json")
        assert one.status == "ok" and one.parity.passed, (backend, one.reason)
        two = read_record(tmp_path / f"results/records/local/batch1/{backend}/{variant}/fp32_bs2.json")
        assert two.status == "skipped" and two.reason == ("given/batch1.onnx fixes its batch size at 1; batch 2 needs a file "
                                                          "with a dynamic batch axis (or set benchmark.batch_sizes to the file's)")
    for backend, variant in (("onnxruntime_cpu", "qdq_u8s8"), ("openvino", "int8_nncf")):  # quantized in batches of 1
        int8 = read_record(tmp_path / f"results/records/local/batch1/{backend}/{variant}/int8_bs1.json")
        assert int8.status in ("ok", "mismatch") and int8.timing.end_to_end.host_ms.n >= 5, (backend, int8.reason)
        assert read_record(tmp_path / f"results/records/local/batch1/{backend}/{variant}/int8_bs2.json").status == "skipped"
    table = (tmp_path / "results/table.md").read_text()
    assert "given/batch1.onnx fixes its batch size at 1; batch 2 needs a file with a dynamic batch axis" in table
