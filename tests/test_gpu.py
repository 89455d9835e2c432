"""The GPU cells and their variants on a real GPU. Skipped where there is none (CI); run on the lent H200."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

from conftest import make_artifacts  # noqa: E402

from infbench.measuring.backends.base import CellRequest  # noqa: E402
from infbench.measuring.harness import WarmupPolicy  # noqa: E402
from infbench.measuring.runner import run_cell  # noqa: E402
from infbench.model.parity import Tolerance  # noqa: E402
from infbench.planning.catalog import BACKENDS  # noqa: E402

SIZE, CLASSES = 64, 10
TOLERANCES = {"fp32": Tolerance(1e-4, 0.99999, 0.98, 0.0), "fp16": Tolerance(0.02, 0.999, 0.9, 0.0),
              "bf16": Tolerance(0.1, 0.99, 0.9, 0.0)}
WARMUP = WarmupPolicy(mode="fixed", iterations=5)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu-artifacts")
    return root, make_artifacts(root, SIZE, CLASSES, n_images=16, fp16=True)


def _run(backend, artifacts, precision="fp32", batch=4, variant=""):
    root, eval_set = artifacts
    files = {"pth": str(root / "model_weights.pth"), "onnx": str(root / "onnx_model.onnx"),
             "onnx_fp16": str(root / "onnx_model_fp16.onnx")}
    request = CellRequest(BACKENDS[backend], precision, batch, files, "resnet18", CLASSES, SIZE, threads=4, variant=variant,
                          cache_dir=str(root / "cache"))
    return run_cell(request, eval_set, 20, WARMUP, TOLERANCES[precision], 0.5).dump()  # the record as written to disk


def _check_gpu_record(record):
    assert record["status"] == "ok", record["reason"]
    resident = record["timing"]["device_resident"]
    host, events = resident["host_ms"], resident["device_ms"]
    assert host["n"] == events["n"] == 20
    assert 0 < events["mean"] <= host["mean"] * 1.05  # events sit inside the host-timed, synchronised call
    assert record["timing"]["end_to_end"]["host_ms"]["mean"] > 0
    assert record["memory"]["device_peak_mb"] > 0
    assert record["gpu"]["name"] and record["gpu"]["compute_capability"]
    assert record["settings"]["allow_tf32"] is False
    assert record["parity"]["passed"]


@pytest.mark.parametrize("variant", ["eager", "channels_last"])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("batch", [1, 8])
def test_pytorch_cuda(artifacts, variant, precision, batch):
    record = _run("pytorch_cuda", artifacts, precision, batch, variant)
    _check_gpu_record(record)
    assert record["settings"]["tf32"]["cudnn.allow_tf32"] is False
    assert record["settings"]["cudnn.benchmark"] is (variant != "eager")


def test_torch_compile_with_cuda_graphs(artifacts):
    record = _run("pytorch_cuda", artifacts, "fp16", 8, "compile_cudagraphs")
    _check_gpu_record(record)
    assert record["settings"]["torch.compile"]["mode"] == "reduce-overhead"
    assert record["cold_start"]["prepare_s"] > 0


@pytest.mark.parametrize("variant, precision", [("default", "fp32"), ("default", "fp16"), ("nhwc", "fp16"),
                                                ("cuda_graph", "fp32"), ("nhwc_cuda_graph", "fp16")])
def test_onnxruntime_cuda_runs_on_the_cuda_provider(artifacts, variant, precision):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDA provider here")
    record = _run("onnxruntime_cuda", artifacts, precision, variant=variant)
    _check_gpu_record(record)
    assert record["settings"]["session_providers"][0] == "CUDAExecutionProvider"
    assert record["settings"]["node_placement"]["CUDAExecutionProvider"] > 10
    options = record["settings"]["provider_options"]["cuda"]
    assert options["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    assert options["prefer_nhwc"] == int("nhwc" in variant) and options["enable_cuda_graph"] == int("graph" in variant)
    assert record["settings"]["cuda_graph"] is ("graph" in variant)


def test_onnxruntime_tensorrt_never_reports_a_fallback_as_tensorrt(artifacts):
    ort = pytest.importorskip("onnxruntime")
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no TensorRT provider here")
    record = _run("onnxruntime_tensorrt", artifacts)
    if record["status"] == "skipped":  # TensorRT's libraries are missing: ONNX Runtime fell back
        assert "TensorrtExecutionProvider did not load" in record["reason"]
        assert "timing" not in record
    else:
        _check_gpu_record(record)
        assert record["settings"]["node_placement"]["TensorrtExecutionProvider"] >= 1


def test_running_out_of_gpu_memory_is_that_cells_error(artifacts):
    # A 64x64 resnet18 fits a batch of 2**17 in an H200's 141 GB, so the allocator is capped instead:
    # 1% of the GPU, against 4 GiB for the first convolution's output at a batch of 2**14.
    torch.cuda.set_per_process_memory_fraction(0.01)
    try:
        record = _run("pytorch_cuda", artifacts, "fp32", 2**14)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert record["status"] == "error" and "timing" not in record
    assert record["reason"].startswith("OutOfMemoryError: CUDA out of memory")


def test_event_timer_measures_device_work():
    from infbench.measuring.backends.cuda import EventTimer

    stream = torch.cuda.Stream()
    a = torch.randn(2048, 2048, device="cuda")
    stream.wait_stream(torch.cuda.current_stream())  # `a` is written on the default stream
    timer = EventTimer(stream)
    with torch.cuda.stream(stream):
        a @ a  # cuBLAS's first call on a stream sets up its handle and workspace (63 ms on the H200), not timed
        for i, n in enumerate((1, 4, 16)):
            timer.prepare(i)
            timer.start(i)
            for _ in range(n):
                a @ a
            timer.stop(i)
    elapsed = timer.elapsed_ms()
    assert elapsed[0] < elapsed[1] < elapsed[2]
    assert np.all(np.array(elapsed) > 0)


def test_compiled_cells_stop_inductors_compile_workers_before_timing(artifacts):
    import psutil

    record = _run("pytorch_cuda", artifacts, "fp16", 1, "compile_cudagraphs")
    _check_gpu_record(record)
    workers = record["settings"]["compile_workers"]
    assert workers["processes"] > 0 and workers["running_after_shutdown"] == 0  # Triton's compile pool, stopped
    assert psutil.Process().children(recursive=True) == []
    assert record["cold_start"]["device_init_s"] > 0 and record["gpu"]["nvidia_smi_at_start"]["clocks_sm"]


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu-vit")
    return root, make_artifacts(root, 32, CLASSES, n_images=16, fp16=True, architecture="vit_b_16")


def _vit_cell(vit, backend, variant, precision="fp16", batch=4, files=None):
    root, eval_set = vit
    files = files or {"onnx": str(root / "onnx_model.onnx"), "onnx_fp16": str(root / "onnx_model_fp16.onnx")}
    request = CellRequest(backend, precision, batch, files, "vit_b_16", CLASSES, 32, threads=4, variant=variant)
    # A random ViT's logits are close together: judged on direction and decisive answers, as the workflow judges fp16.
    return run_cell(request, eval_set, 20, WARMUP, Tolerance(0.2, 0.99, 0.9, 0.0, 0.2), 0.5).dump()


@pytest.mark.parametrize("batch", [1, 8])
def test_a_vit_export_is_captured_as_a_cuda_graph_with_its_batch_fixed(vit, batch):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDA provider here")
    record = _vit_cell(vit, BACKENDS["onnxruntime_cuda"], "nhwc_cuda_graph", batch=batch)
    _check_gpu_record(record)
    assert record["settings"]["fixed_shape"].startswith(f"free dimension override batch = {batch}")
    assert record["settings"]["cuda_graph"] is True


def test_a_dynamic_vit_graph_is_captured_or_skipped_naming_the_nodes_left_off_the_device(vit):
    import dataclasses

    from infbench.planning.variants import OnnxRuntimeOptions, Variant

    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDA provider here")
    dynamic = Variant(name="cuda_graph", label="dynamic", description="a graph without the batch fixed",
                      options=OnnxRuntimeOptions(cuda_graph=True))
    backend = dataclasses.replace(BACKENDS["onnxruntime_cuda"], variants=(dynamic,))
    record = _vit_cell(vit, backend, "cuda_graph")
    assert record["status"] in ("ok", "skipped"), record["reason"]  # never an error
    if record["status"] == "skipped":
        assert record["reason"].startswith("no CUDA graph for this model: ONNX Runtime left"), record["reason"]
        assert "CPUExecutionProvider" in record["reason"] or "copies between host and device: Memcpy" in record["reason"]


def test_the_transformer_optimizers_model_runs_on_the_cuda_provider_with_a_graph(vit, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDA provider here")
    from infbench.artifacts import write_json
    from infbench.model.ort_transformer import RECORD, optimize

    root, _ = vit
    write_json(tmp_path / RECORD, optimize(str(root / "onnx_model.onnx"), tmp_path, "vit_b_16", "fp16"))
    files = {"onnx": str(root / "onnx_model.onnx"), "ort_transformer_dir": str(tmp_path)}
    for variant in ("transformer", "transformer_cuda_graph"):
        record = _vit_cell(vit, BACKENDS["onnxruntime_cuda"], variant, files=files)
        _check_gpu_record(record)
        assert record["settings"]["transformer_optimizer"]["fused_operators"]["SkipLayerNormalization"] >= 12


def test_training_on_the_gpu_runs_in_mixed_precision(tmp_path):
    from infbench.model.data import write_digits
    from infbench.model.training import AllSettings, HeadSettings, TrainSettings, train

    manifest = write_digits(tmp_path, 32, 0.2, 0)
    settings = TrainSettings("resnet18", 32, "all", 32, 64, "cuda", 0, 4, HeadSettings(64, 5, 0.01, 0.1),
                             AllSettings(256, 2, 0.02, 64))
    model, summary = train(manifest, settings)
    assert summary["device"] == "cuda" and summary["history"]["mixed_precision"] == "bf16 autocast"
    assert all(np.isfinite(e["loss"]) for e in summary["history"]["all_epochs"])
    assert next(model.parameters()).dtype == torch.float32  # saved in fp32 whatever it trained in
    assert torch.backends.cudnn.benchmark is False  # cuDNN's heuristics: its search costs more than it saves here
