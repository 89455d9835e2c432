"""The CPU backends and the runner, against the real torch and ONNX Runtime."""

import numpy as np
import psutil
import pytest
import torch
from conftest import make_artifacts

from infbench.errors import ArtifactError
from infbench.measuring.backends.base import CellRequest
from infbench.measuring.harness import WarmupPolicy
from infbench.measuring.runner import run_cell as measure_cell
from infbench.model.export import check_with_onnxruntime, export_onnx
from infbench.model.models import load_trained
from infbench.model.parity import Tolerance
from infbench.model.reference import load_eval_set, save_eval_set
from infbench.planning.catalog import BACKENDS
from infbench.planning.hardware import no_cpu_bf16_reason


def run_cell(*args, **kwargs) -> dict:
    """A cell's record as the timing rule writes it to disk."""
    return measure_cell(*args, **kwargs).dump()


SIZE, CLASSES = 32, 10
FP32 = Tolerance(1e-4, 0.99999, 0.98)
WARMUP = WarmupPolicy(mode="fixed", iterations=1)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    save_eval_set(root / "eval_set.npz", make_artifacts(root, SIZE, CLASSES, n_images=6))
    return root


def _request(backend, artifacts, precision="fp32", batch=2, variant="", **paths):
    files = {"pth": str(artifacts / "model_weights.pth"), "onnx": str(artifacts / "onnx_model.onnx")}
    files.update(paths)
    return CellRequest(BACKENDS[backend], precision, batch, files, "resnet18", CLASSES, SIZE, threads=2, variant=variant,
                       cache_dir=str(artifacts / "cache"))


def test_eval_set_holds_real_images_labels_and_reference(artifacts):
    eval_set = load_eval_set(artifacts / "eval_set.npz")
    assert eval_set["images"].shape == (6, 3, SIZE, SIZE)
    assert eval_set["images"].std() > 0.1  # real digits, not zeros
    assert eval_set["reference"].shape == (6, CLASSES) and eval_set["labels"].shape == (6,)
    assert eval_set["largest_value"] >= np.abs(eval_set["reference"]).max() * 0.999  # the logits are a layer's output too
    model = load_trained(artifacts / "model_weights.pth", "resnet18", CLASSES)
    where = str(eval_set["largest_value_at"])
    assert where in model.state_dict() or where.removeprefix("output of ") in dict(model.named_modules())


@pytest.mark.parametrize(
    "backend, variant",
    [("pytorch_cpu", "eager"), ("pytorch_cpu", "channels_last"), ("onnxruntime_cpu", "default"), ("openvino", "latency")],
)
def test_cpu_cell_is_measured_after_parity(backend, variant, artifacts):
    record = run_cell(_request(backend, artifacts, batch=4, variant=variant), load_eval_set(artifacts / "eval_set.npz"), 3,
                      WARMUP, FP32, 0.1)
    assert record["status"] == "ok", record.get("reason")
    assert (record["machine"], record["backend"], record["variant"]) == ("local", backend, variant)
    block = record["timing"]["end_to_end"]
    assert block["host_ms"]["n"] == 3 and len(block["samples_ms"]) == 3 and block["host_ms"]["mean"] > 0
    assert "device_resident" not in record["timing"]
    assert block["throughput_ips"] == pytest.approx(4000 / block["host_ms"]["mean"])
    assert record["parity"]["passed"] and record["parity"]["max_rel_diff"] < 1e-4 and record["parity"]["images"] == 6
    assert record["cold_start"]["load_s"] > 0 and record["cold_start"]["first_inference_ms"] > 0
    assert record["memory"]["host_peak_rss_mb"] >= record["memory"]["host_rss_before_load_mb"] > 0
    assert record["settings"]["threads"] == 2
    assert record["host"]["python"] and record["versions"]


def test_torch_compile_compiles_before_timing_and_keeps_its_cache(artifacts):
    record = run_cell(_request("pytorch_cpu", artifacts, batch=2, variant="compile"), load_eval_set(artifacts / "eval_set.npz"),
                      3, WARMUP, FP32, 0.1)
    assert record["status"] == "ok", record.get("reason")
    assert record["settings"]["torch.compile"] == {"mode": "default", "backend": "inductor", "dynamic": False}
    assert record["settings"]["memory_format"] == "channels_last"
    # Compiling took far longer than a compiled call: it happened in prepare, before the first timed call.
    assert record["cold_start"]["build_s"] == record["cold_start"]["prepare_s"] > 0
    assert record["cold_start"]["prepare_s"] * 1000 > 10 * record["timing"]["end_to_end"]["host_ms"]["p50"]
    assert any((artifacts / "cache" / "inductor").rglob("*"))
    # Inductor's compile workers (a CPU compilation needs none) are stopped before anything is timed.
    assert record["settings"]["compile_workers"]["running_after_shutdown"] == 0
    assert psutil.Process().children(recursive=True) == []


def test_inductors_compile_workers_are_stopped_and_waited_for():
    from torch._inductor.async_compile import AsyncCompile

    from infbench.measuring.backends.pytorch import stop_compile_workers

    # The pool torch.compile starts for Triton kernels on a GPU: a sidecar process and its workers, here really running.
    assert AsyncCompile.process_pool().submit(AsyncCompile._get_ready).result(timeout=300) == "ready"
    started = psutil.Process().children(recursive=True)
    assert len(started) >= 2
    assert stop_compile_workers() == {"processes": len(started), "running_after_shutdown": 0}
    assert psutil.Process().children(recursive=True) == [] and not any(p.is_running() for p in started)


def test_a_variant_that_fails_at_run_time_is_that_cells_error(artifacts, monkeypatch):
    import torch._inductor.config as inductor_config

    # A machine without a working C++ compiler: inductor cannot build its CPU kernels.
    monkeypatch.setattr(inductor_config.cpp, "cxx", ("/nonexistent/g++",))
    torch._dynamo.reset()
    record = run_cell(_request("pytorch_cpu", artifacts, batch=3, variant="compile"), load_eval_set(artifacts / "eval_set.npz"),
                      2, WARMUP, FP32, 0.1)
    torch._dynamo.reset()
    assert record["status"] == "error" and "timing" not in record
    assert record["reason"].startswith("InductorError: InvalidCxxCompiler: No working C++ compiler found"), record["reason"]


def test_openvino_pins_the_precision_it_claims_and_records_what_the_plugin_reports(artifacts):
    record = run_cell(_request("openvino", artifacts, batch=1, variant="latency"), load_eval_set(artifacts / "eval_set.npz"),
                      2, WARMUP, FP32, 0.1)
    assert record["settings"]["config"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert record["settings"]["inference_precision"] == "f32"
    assert record["settings"]["config"]["PERFORMANCE_HINT"] == "LATENCY" and record["settings"]["config"]["INFERENCE_NUM_THREADS"] == 2


def test_openvino_throughput_hint_keeps_several_requests_in_flight(artifacts):
    record = run_cell(_request("openvino", artifacts, batch=2, variant="throughput"), load_eval_set(artifacts / "eval_set.npz"),
                      3, WARMUP, FP32, 0.1)
    assert record["status"] == "ok", record.get("reason")
    requests = record["settings"]["optimal_number_of_infer_requests"]
    block = record["timing"]["end_to_end"]
    assert requests >= 1 and block["images_per_step"] == 2 * requests
    assert block["throughput_ips"] == pytest.approx(2 * requests * 1000 / block["host_ms"]["mean"])


@pytest.mark.parametrize("backend, variant", [("pytorch_cpu", "eager"), ("openvino", "latency")])
def test_bf16_runs_where_the_cpu_has_bf16_and_is_skipped_with_the_reason_elsewhere(backend, variant, artifacts):
    bf16 = Tolerance(0.1, 0.99, 1.0, 0.99)
    record = run_cell(_request(backend, artifacts, "bf16", batch=2, variant=variant), load_eval_set(artifacts / "eval_set.npz"),
                      2, WARMUP, bf16, 0.1)
    if no_cpu_bf16_reason() is None:
        assert record["status"] == "ok", record.get("reason")
        assert record["settings"].get("bf16_method") or record["settings"].get("inference_precision") == "bf16"
        assert 0 < record["parity"]["max_rel_diff"] < 0.1  # bf16 arithmetic really ran: not bit-identical to fp32
    else:
        assert record["status"] == "skipped" and "bf16" in record["reason"]


def test_onnxruntime_cpu_reports_where_its_nodes_ran(artifacts):
    record = run_cell(_request("onnxruntime_cpu", artifacts), load_eval_set(artifacts / "eval_set.npz"), 2, WARMUP, FP32, 0.1)
    assert record["settings"]["session_providers"] == ["CPUExecutionProvider"]
    assert set(record["settings"]["node_placement"]) == {"CPUExecutionProvider"}
    assert record["settings"]["node_placement"]["CPUExecutionProvider"] > 10
    assert "torch" not in record["versions"]  # the ONNX Runtime CPU cell never imports torch


def test_onnxruntime_sessions_never_fall_back_to_another_provider_at_run_time(artifacts):
    import onnxruntime as ort

    from infbench.measuring.backends.onnxruntime import _create_session, _session_options

    session, _ = _create_session(ort, str(artifacts / "onnx_model.onnx"), _session_options(ort, 1), ["CPUExecutionProvider"])
    # ONNX Runtime has a setter (disable_fallback) but no getter for this flag; an enabled fallback
    # would re-create the session on other providers after a provider error and keep timing.
    assert session._enable_fallback is False


def test_outputs_that_differ_from_the_reference_are_a_mismatch_without_a_time(artifacts):
    eval_set = load_eval_set(artifacts / "eval_set.npz")
    eval_set["reference"] = eval_set["reference"] * 1.01
    record = run_cell(_request("onnxruntime_cpu", artifacts), eval_set, 3, WARMUP, FP32, 0.1)
    assert record["status"] == "mismatch"
    assert "max relative diff" in record["reason"] and "> 0.0001" in record["reason"]
    assert "timing" not in record


@pytest.mark.parametrize(
    "backend, precision, reason",
    [
        ("pytorch_cpu", "fp16", "fp16 not supported on CPU by this backend"),
        ("onnxruntime_cpu", "fp16", "fp16 not supported on CPU by this backend"),
        ("pytorch_cuda", "fp32", "no CUDA device"),
        ("onnxruntime_cpu", "bf16", "bf16 not supported by this backend"),
        ("tensorrt", "bf16", "bf16 engines are not built by this workflow"),
        ("torch2trt", "bf16", "bf16 not supported by torch2trt"),
        ("onnxruntime_cuda", "fp32", "CUDAExecutionProvider is not in this ONNX Runtime build"),
        ("onnxruntime_tensorrt", "fp32", "TensorrtExecutionProvider is not in this ONNX Runtime build"),
        ("tensorrt", "fp32", "tensorrt is not installed"),
        ("torch2trt", "fp32", "torch2trt is not installed"),
    ],
)
def test_cells_that_cannot_run_here_are_skipped_with_the_reason(backend, precision, reason, artifacts):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the GPU cells run")
    record = run_cell(_request(backend, artifacts, precision), load_eval_set(artifacts / "eval_set.npz"), 2, WARMUP, FP32, 0.1)
    assert record["status"] == "skipped"
    assert reason in record["reason"]
    assert "timing" not in record


def test_truncated_weights_fail_with_the_file_name_and_reason(artifacts, tmp_path):
    bad = tmp_path / "model_weights.pth"
    bad.write_bytes((artifacts / "model_weights.pth").read_bytes()[:5000])
    with pytest.raises(ArtifactError, match=r"model_weights.pth: not a readable PyTorch checkpoint \(.+\)"):
        load_trained(bad, "resnet18", CLASSES)
    with pytest.raises(ArtifactError):
        run_cell(_request("pytorch_cpu", artifacts, pth=str(bad)), load_eval_set(artifacts / "eval_set.npz"), 2, WARMUP, FP32, 0.1)


def test_weights_of_another_model_fail_clearly(artifacts):
    with pytest.raises(ArtifactError, match="does not fit resnet34 with 10 classes"):
        load_trained(artifacts / "model_weights.pth", "resnet34", CLASSES)


def test_truncated_onnx_fails_with_the_file_name_and_reason(artifacts, tmp_path):
    bad = tmp_path / "onnx_model.onnx"
    bad.write_bytes((artifacts / "onnx_model.onnx").read_bytes()[:3000])
    eval_set = load_eval_set(artifacts / "eval_set.npz")
    with pytest.raises(ArtifactError, match=r"onnx_model.onnx: ONNX Runtime cannot load it"):
        run_cell(_request("onnxruntime_cpu", artifacts, onnx=str(bad)), eval_set, 2, WARMUP, FP32, 0.1)
    with pytest.raises(ArtifactError, match=r"onnx_model.onnx: ONNX Runtime cannot load it"):
        check_with_onnxruntime(str(bad), eval_set, FP32, 2)


def test_onnx_check_passes_for_the_real_export(artifacts):
    result = check_with_onnxruntime(str(artifacts / "onnx_model.onnx"), load_eval_set(artifacts / "eval_set.npz"), FP32, 2)
    assert result["passed"] and result["max_rel_diff"] < 1e-4


def test_fp16_export_is_an_fp16_graph(artifacts, tmp_path):
    import onnx

    model = load_trained(artifacts / "model_weights.pth", "resnet18", CLASSES)
    info = export_onnx(model, SIZE, tmp_path / "m16.onnx", opset=18, exporter="dynamo", half=True)
    graph = onnx.load(str(tmp_path / "m16.onnx")).graph
    assert info["dtype"] == "float16"
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16


def test_torchscript_exporter_writes_older_opsets(artifacts, tmp_path):
    model = load_trained(artifacts / "model_weights.pth", "resnet18", CLASSES)
    info = export_onnx(model, SIZE, tmp_path / "m17.onnx", opset=17, exporter="torchscript", half=False)
    assert info["opset"] == 17


def test_provider_load_errors_are_reduced_to_their_cause():
    from infbench.measuring.backends.onnxruntime import provider_load_error

    logged = [
        "*************** EP Error ***************",
        "\x1b[1;31m2026-11-29 01:14:50.75 [E:onnxruntime:Default, provider_bridge_ort.cc:2430 operator()] "
        "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::Provider& "
        "onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library "
        "/x/libonnxruntime_providers_tensorrt.so with error: libnvinfer.so.10: cannot open shared object file: "
        "No such file or directory\x1b[m",
    ]
    assert provider_load_error(logged) == "libnvinfer.so.10: cannot open shared object file: No such file or directory"
    assert provider_load_error(["all good"]) is None


def test_a_cell_that_fails_at_run_time_becomes_an_error_record(artifacts):
    # The exported model takes 32x32 images; 40x40 ones make ONNX Runtime fail inside the cell.
    eval_set = load_eval_set(artifacts / "eval_set.npz")
    eval_set["images"] = np.pad(eval_set["images"], ((0, 0), (0, 0), (4, 4), (4, 4)))
    record = run_cell(_request("onnxruntime_cpu", artifacts), eval_set, 2, WARMUP, FP32, 0.1)
    assert record["status"] == "error"
    assert record["reason"].startswith(("InvalidArgument:", "Fail:", "RuntimeException:"))
    assert "timing" not in record
    assert record["versions"]["onnxruntime"]


def test_what_onnx_runtime_says_about_fallback_modes_is_kept_for_the_record():
    from infbench.measuring.backends.onnxruntime import RUNTIME

    logged = [
        "\x1b[0;93m2026-11-30 10:02:11.1 [W:onnxruntime:, conv.cc:420 UpdateState] OP Conv(node_Conv_842) running in "
        "Fallback mode. May be extremely slow.\x1b[m",
        "2026-11-30 10:02:11.2 [W:onnxruntime:, conv.cc:420 UpdateState] OP Conv(node_Conv_850) running in Fallback mode. "
        "May be extremely slow.",
        "No execution plans support the graph",
        "an unrelated line",
    ]
    notes = RUNTIME.run_time_notes(logged)
    assert notes == [
        "a node ran in ONNX Runtime's fallback mode (slow path): 2 time(s), first: OP Conv(node_Conv_842) running in "
        "Fallback mode. May be extremely slow.",
        "cuDNN's frontend found no execution plan for a convolution and searched again: 1 time(s), first: "
        "No execution plans support the graph",
    ]
    assert RUNTIME.run_time_notes(["all good"]) == []
