"""Training: the classifier on a frozen backbone (the CPU default) and every layer (the GPU default)."""

import pytest
import torch
import torchvision

from infbench.errors import ArtifactError
from infbench.model.data import write_digits
from infbench.model.models import build_model, load_starting_weights, save_state_dict
from infbench.model.training import AllSettings, HeadSettings, TrainSettings, scale_residual_branches, train

SIZE = 32


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits"), SIZE, 0.2, 0)


def _settings(trainable, **all_settings):
    return TrainSettings("resnet18", SIZE, trainable, 32, 128, "cpu", 0, 2, HeadSettings(200, 30, 0.01, 0.1),
                         AllSettings(**{"max_images": 400, "epochs": 5, "learning_rate": 0.02, "batch_size": 64, **all_settings}))


@pytest.mark.parametrize("architecture, blocks", [("resnet18", 8), ("resnet50", 16)])
def test_every_residual_branch_is_scaled(architecture, blocks):
    model = torchvision.models.get_model(architecture, num_classes=10)
    last = [m.bn3 if hasattr(m, "bn3") else m.bn2 for m in model.modules() if hasattr(m, "downsample")]
    before = [bn.weight.clone() for bn in last]
    assert scale_residual_branches(model, 0.3) == blocks
    assert all(torch.allclose(bn.weight, 0.3 * w) for bn, w in zip(last, before))


def test_the_classifier_alone_learns_on_the_frozen_backbone(digits):
    model, summary = train(digits, _settings("head"))
    assert summary["trainable"] == "head" and summary["train_images"] == 200 and summary["val_images"] == 128
    losses = [e["loss"] for e in summary["history"]["head_epochs"]]
    assert len(losses) == 30 and losses[-1] < losses[0] / 4
    assert summary["val_top1"] > 0.7  # ten classes: chance is 0.1
    assert summary["history"]["scaled_residual_branches"] == 8 and summary["history"]["batchnorm_calibration_images"] == 128
    assert not model.training and next(model.parameters()).device.type == "cpu"


def test_every_layer_learns_from_a_fresh_classifier(digits):
    model, summary = train(digits, _settings("all"))
    assert summary["trainable"] == "all" and "head_epochs" not in summary["history"]
    losses = [e["loss"] for e in summary["history"]["all_epochs"]]
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert summary["val_top1"] > 0.7
    # Started from PyTorch's initialisation, the classifier's weights stay small (fp16 keeps its answers).
    assert float(model.fc.weight.detach().abs().max()) < 1.0
    assert summary["history"]["mixed_precision"] == "none (fp32)"  # the CPU trains in fp32 as ever; a GPU in autocast


def test_a_gpu_trains_in_mixed_precision_and_the_cpu_in_fp32():
    from infbench.model.training import mixed_precision

    cpu = mixed_precision(torch.device("cpu"))
    assert cpu.name == "none (fp32)" and cpu.scaler is None
    with cpu.autocast():
        assert torch.get_autocast_dtype("cpu") and not torch.is_autocast_enabled("cpu")
    if torch.cuda.is_available():  # the H200: bf16 (tests/test_gpu.py trains there)
        assert mixed_precision(torch.device("cuda")).name == "bf16 autocast"


def test_starting_weights_of_the_same_architecture_load_and_their_classifier_is_replaced(tmp_path):
    source = build_model("resnet18", 1000)
    save_state_dict(source, tmp_path / "imagenet_like.pth")
    model = build_model("resnet18", 10)
    left = load_starting_weights(model, tmp_path / "imagenet_like.pth", "resnet18")
    assert left == ["fc.bias", "fc.weight"]
    assert torch.equal(model.conv1.weight, source.conv1.weight)


def test_starting_weights_of_another_architecture_name_the_first_tensor_that_does_not_fit(tmp_path):
    save_state_dict(build_model("resnet50", 10), tmp_path / "resnet50.pth")
    with pytest.raises(ArtifactError, match=r"model.weights: .*resnet50.pth does not fit resnet18: layer1.0.conv1.weight has "
                                            r"shape \(64, 64, 1, 1\) in the file and \(64, 64, 3, 3\) in resnet18"):
        load_starting_weights(build_model("resnet18", 10), tmp_path / "resnet50.pth", "resnet18")
    save_state_dict(build_model("mobilenet_v2", 10), tmp_path / "mobilenet.pth")
    with pytest.raises(ArtifactError, match=r"does not fit resnet18: features.0.0.weight is not a tensor of resnet18"):
        load_starting_weights(build_model("resnet18", 10), tmp_path / "mobilenet.pth", "resnet18")
