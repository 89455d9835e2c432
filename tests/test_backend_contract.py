"""The backend contract: every catalogued backend implements it, and a new one is added by an entry and a module."""

import numpy as np
import pytest
from conftest import make_artifacts

from infbench.measuring.backends import implementation
from infbench.measuring.backends.base import CellRequest, Runtime
from infbench.measuring.harness import WarmupPolicy
from infbench.measuring.runner import run_cell
from infbench.model.parity import Tolerance
from infbench.model.reference import load_eval_set, save_eval_set
from infbench.planning.catalog import BACKENDS, Backend
from infbench.planning.variants import OnnxRuntimeOptions, OpenVINOOptions, Options, PyTorchOptions, TensorRTOptions, Variant
from infbench.results.records import Record

OPTIONS = {"infbench.measuring.backends.pytorch": PyTorchOptions, "infbench.measuring.backends.onnxruntime": OnnxRuntimeOptions,
           "infbench.measuring.backends.tensorrt": TensorRTOptions, "infbench.measuring.backends.openvino": OpenVINOOptions,
           "infbench.measuring.backends.torch2trt": Options}


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_backend_implements_the_interface_and_declares_its_variants_as_data(name):
    backend = BACKENDS[name]
    assert isinstance(implementation(name), Runtime)  # importable here, without a GPU or TensorRT
    for variant in backend.variants:
        assert type(variant.options) is OPTIONS[backend.module], (name, variant.name)


def test_variant_options_are_checked_when_declared():
    with pytest.raises(ValueError, match="compile_mode 'fast' is not one of"):
        PyTorchOptions(compile_mode="fast")
    with pytest.raises(ValueError, match="CUDA graphs come from torch.compile"):
        PyTorchOptions(cuda_graph=True)
    with pytest.raises(ValueError, match="builder_level 7 is not between 0 and 5"):
        TensorRTOptions(builder_level=7)
    with pytest.raises(ValueError, match="two variants share a name"):
        Backend(name="x", title="X", row="CPU", device="cpu", artifact="onnx", libraries=(), module="m",
                variants=(Variant(name="a", label="a", description="a"), Variant(name="a", label="b", description="b")))


TOY = Backend(
    name="onnx_reference", title="ONNX reference evaluator", row="CPU", device="cpu", artifact="onnx",
    libraries=("onnx", "numpy"), module="toy_backend",
    variants=(Variant(name="default", label="reference evaluator", description="onnx.reference.ReferenceEvaluator"),),
    unsupported={"fp16": "fp16 not supported by this toy (it runs the fp32 export)"},
)


@pytest.fixture
def toy(monkeypatch, tmp_path):
    monkeypatch.setitem(BACKENDS, TOY.name, TOY)
    save_eval_set(tmp_path / "eval_set.npz", make_artifacts(tmp_path, 32, 10, n_images=4))
    return tmp_path


def _request(root, precision="fp32"):
    return CellRequest(TOY, precision, 2, {"onnx": str(root / "onnx_model.onnx")}, "resnet18", 10, 32, threads=2)


def test_a_backend_added_by_a_catalogue_entry_and_a_module_is_measured_like_every_other(toy):
    record = run_cell(_request(toy), load_eval_set(toy / "eval_set.npz"), 2, WarmupPolicy(mode="fixed", iterations=1),
                      Tolerance(1e-4, 0.99999, 1.0), 0.1)
    assert isinstance(record, Record) and record.status == "ok", record.reason
    assert record.runtime == "ONNX reference evaluator" and record.variant == "default"
    assert record.parity.passed and record.parity.max_rel_diff < 1e-4  # it computes what PyTorch computes
    assert record.timing.end_to_end.host_ms.n == 2 and record.timing.device_resident is None
    assert record.settings["evaluator"] == "onnx.reference.ReferenceEvaluator"
    assert np.isfinite(record.timing.end_to_end.throughput_ips)


def test_a_precision_a_backend_never_runs_is_skipped_with_the_catalogues_reason(toy):
    record = run_cell(_request(toy, "fp16"), load_eval_set(toy / "eval_set.npz"), 2, WarmupPolicy(mode="fixed", iterations=1),
                      Tolerance(1e-2, 0.999, 1.0), 0.1)
    assert record.status == "skipped" and record.reason == "fp16 not supported by this toy (it runs the fp32 export)"


def test_the_tf32_override_is_set_only_where_a_library_has_no_switch_of_its_own():
    # NVIDIA_TF32_OVERRIDE=0 also takes cuDNN's frontend plans away (ONNX Runtime's fp32 batch-256 convolutions
    # failed with it on the H200): backends with their own switch use it instead.
    assert {name for name, backend in BACKENDS.items() if backend.tf32_override} == {"torch2trt", "onnxruntime_tensorrt"}


class _HostStream:
    """Where CUDA is missing, torch.cuda.stream(...) does nothing: a stream needs only `synchronize` here."""

    def __init__(self):
        self.synchronized = 0

    def synchronize(self):
        self.synchronized += 1


def test_fixed_buffer_runs_copy_into_the_bound_buffers_in_place_and_read_the_output_buffer():
    # ONNX Runtime's IO binding and TensorRT's tensor addresses share these runs: a captured graph replays
    # fixed addresses, so an input must be copied into the buffer, never bound as a new tensor.
    import torch

    from infbench.measuring.backends.cuda import buffer_resident

    x_buffer, y_buffer = torch.zeros(2, 3, dtype=torch.float16), torch.zeros(2, 1, dtype=torch.float16)
    addresses = (x_buffer.data_ptr(), y_buffer.data_ptr())
    stream = _HostStream()
    infer, resident = buffer_resident(x_buffer, y_buffer, stream, lambda: y_buffer.copy_(x_buffer.sum(1, keepdim=True)))

    x = np.arange(6, dtype=np.float16).reshape(2, 3)
    out = infer(x)
    assert out.dtype == np.float32 and out.tolist() == [[3.0], [12.0]]
    assert (x_buffer.data_ptr(), y_buffer.data_ptr()) == addresses

    resident.bind(x * 2)
    assert resident.output().tolist() == [[3.0], [12.0]]  # bound, not yet run
    resident.step()
    resident.sync()
    assert resident.output().tolist() == [[6.0], [24.0]] and stream.synchronized == 1
