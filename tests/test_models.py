"""Any classifier: torchvision's by name, timm's, a user's own; exports that work for transformers and depthwise models."""

import numpy as np
import pytest
import timm
import torch
import torchvision
from conftest import REPO

from infbench.errors import ConfigError
from infbench.model.export import check_with_onnxruntime, export_onnx
from infbench.model.models import build_model, save_state_dict
from infbench.model.parity import Tolerance
from infbench.planning.architectures import (
    check_architecture,
    check_image_size,
    factory_search_path,
    timm_models,
    torchvision_classifiers,
)

FP32 = Tolerance(1e-4, 0.99999, 1.0, 0.0)


def test_the_classifiers_read_from_torchvisions_source_are_those_it_lists():
    assert list(torchvision_classifiers()) == sorted(torchvision.models.list_models(module=torchvision.models))
    assert {"vit_b_16", "swin_t", "efficientnet_v2_s", "convnext_tiny", "regnet_y_400mf"} <= set(torchvision_classifiers())
    assert "fasterrcnn_resnet50_fpn" not in torchvision_classifiers()  # a detection model, not a classifier


def test_the_models_read_from_timms_source_are_those_it_lists():
    assert set(timm_models()) == set(timm.list_models())


@pytest.mark.parametrize("architecture, size", [("resnet18", 32), ("swin_t", 32), ("vit_b_16", 32), ("timm/resnet18", 32),
                                                ("timm/vit_tiny_patch16_224", 32), ("tiny_net:build", 32)])
def test_every_kind_of_architecture_builds_a_classifier_at_its_size(architecture, size, tmp_path):
    check_architecture("model.architecture", architecture, factory_search_path(tmp_path, REPO))  # tests/ is on the path
    check_image_size("model.image_size", architecture, size)
    model = build_model(architecture, 7, size).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, size, size)).shape == (2, 7)


def test_an_unknown_name_says_the_nearest_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"^m.architecture: 'convnext_tiniest' is not a torchvision classification model "
                                          r"\(nearest: convnext_tiny"):
        check_architecture("m.architecture", "convnext_tiniest", [tmp_path])
    with pytest.raises(ConfigError, match=r"^m.architecture: 'resnet5O' is not a timm model \(nearest: "):
        check_architecture("m.architecture", "timm/resnet5O", [tmp_path])


def _reference(model, images):
    with torch.no_grad():
        return model(torch.from_numpy(images)).numpy()


@pytest.mark.parametrize("architecture", ["swin_t", "mobilenet_v3_small"])  # attention; depthwise convolutions
@pytest.mark.parametrize("exporter, opset", [("dynamo", 18), ("torchscript", 17)])
def test_both_exporters_take_a_transformer_and_a_depthwise_model_at_every_batch_size(architecture, exporter, opset, tmp_path):
    torch.manual_seed(0)
    model = build_model(architecture, 10, 32).eval()
    images = np.random.default_rng(0).standard_normal((6, 3, 32, 32)).astype(np.float32)
    info = export_onnx(model, 32, tmp_path / "m.onnx", opset=opset, exporter=exporter, half=False)
    assert info["status"] == "exported" and info["opset"] == opset
    eval_set = {"images": images, "reference": _reference(model, images), "labels": np.zeros(6, dtype=np.int64)}
    result = check_with_onnxruntime(str(tmp_path / "m.onnx"), eval_set, FP32, 2, batch_sizes=(1, 4))
    assert result["passed"] and result["batch_sizes"] == {"1": "passed", "4": "passed"}
    assert result["batch_size_images"] == {"1": 6, "4": 6}  # two batches or 16 images at each size, at most all 6


def test_the_export_check_runs_a_few_batches_of_each_size_after_all_images_at_once(tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet18", 10, 32).eval()
    images = np.random.default_rng(0).standard_normal((64, 3, 32, 32)).astype(np.float32)
    export_onnx(model, 32, tmp_path / "m.onnx", opset=18, exporter="dynamo", half=False)
    eval_set = {"images": images, "reference": _reference(model, images), "labels": np.zeros(64, dtype=np.int64)}
    result = check_with_onnxruntime(str(tmp_path / "m.onnx"), eval_set, FP32, 2, batch_sizes=(1, 16, 256))
    assert result["images"] == 64 and result["passed"]  # every image, in one batch
    assert result["batch_size_images"] == {"1": 16, "16": 32, "256": 64}  # each ONNX cell runs all of them at its batch
    assert result["batch_sizes"] == {"1": "passed", "16": "passed", "256": "passed"}


def test_weights_as_given_keep_their_classifier(tmp_path):
    from infbench.model.data import write_digits
    from infbench.model.training import AllSettings, HeadSettings, TrainSettings, train

    manifest = write_digits(tmp_path / "digits", 32, 0.2, 0)
    trained = build_model("resnet18", 10, 32)
    torch.nn.init.normal_(trained.fc.weight)
    save_state_dict(trained, tmp_path / "mine.pth")
    settings = TrainSettings("resnet18", 32, "none", 32, 64, "cpu", 0, 2, HeadSettings(10, 1, 0.01, 0.1),
                             AllSettings(10, 1, 0.01), weights=str(tmp_path / "mine.pth"))
    model, summary = train(manifest, settings)
    assert summary["trainable"] == "none" and summary["train_images"] == 0 and summary["history"] == {
        "weights_as_given": str(tmp_path / "mine.pth")}
    assert torch.equal(model.fc.weight, trained.fc.weight)
    save_state_dict(build_model("resnet18", 1000, 32), tmp_path / "imagenet.pth")
    with pytest.raises(Exception, match=r"is not resnet18 for the data's 10 classes as it is: fc.weight has shape \(1000, 512\)"):
        train(manifest, TrainSettings(**{**vars(settings), "weights": str(tmp_path / "imagenet.pth")}))


class _RunsCode:
    """A pickled object that, unpickled by torch.load without weights_only, writes a file: code from a weights file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_weights_file_that_would_run_code_is_refused_without_running_it(tmp_path):
    from infbench.errors import ArtifactError
    from infbench.model.models import load_starting_weights, read_state_dict

    marker = tmp_path / "ran"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _RunsCode(marker)}, tmp_path / "weights.pth")
    with pytest.raises(ArtifactError, match=r"weights.pth: not a readable PyTorch checkpoint \(.*Weights only load failed"):
        read_state_dict(tmp_path / "weights.pth")
    with pytest.raises(ArtifactError, match="not a readable PyTorch checkpoint"):
        load_starting_weights(build_model("resnet18", 10), tmp_path / "weights.pth", "resnet18")
    assert not marker.exists()


def test_a_torch2trt_module_is_read_as_plain_values_and_one_that_would_run_code_is_not_run(tmp_path):
    import collections

    from infbench.measuring.backends.torch2trt import read_module_state

    state = collections.OrderedDict(engine=bytearray(b"\x00\x01" * 64), input_names=["input_0"], output_names=["output_0"],
                                    input_flattener={"schema": ((0, 1),), "size": 1}, output_flattener={"schema": (0, 1), "size": 1})
    torch.save(state, tmp_path / "module.pth")  # what torch2trt's TRTModule.state_dict() holds
    assert read_module_state(torch, tmp_path / "module.pth") == state
    marker = tmp_path / "ran"
    torch.save({**state, "engine": _RunsCode(marker)}, tmp_path / "bad.pth")
    with pytest.raises(Exception, match="Weights only load failed"):
        read_module_state(torch, tmp_path / "bad.pth")
    assert not marker.exists()
