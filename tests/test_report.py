"""Table rendering, summaries and the chart, from records shaped as the runner writes them."""

import copy

import pytest

from infbench.records import load_records, validate_record
from infbench.report import (
    Footnotes, configuration_table, format_ms, headline_cell, plot_latency, render_markdown, study_table, summary_rows,
)
from infbench.artifacts import write_json


def _stats(mean, cv=0.02):
    return {"n": 100, "mean": mean, "std": mean * cv, "min": mean * 0.9, "p50": mean * 0.99, "p90": mean * 1.05,
            "p99": mean * 1.2, "max": mean * 1.3, "cv": cv}


def _block(mean, cv=0.02, events=None, noisy=False):
    block = {"host_ms": _stats(mean, cv), "warmup": {"mode": "adaptive", "iterations": 30, "settled": True,
             "window_medians_ms": []}, "throughput_ips": 1000 / mean, "noisy": noisy, "samples_ms": [mean] * 3}
    if events is not None:
        block["device_ms"] = _stats(events)
    return block


def _record(backend, framework, row, device, status="ok", precision="fp32", batch=1, label="", **extra):
    record = {"schema_version": 1, "backend": backend, "framework": framework, "row": row, "label": label,
              "device": device, "precision": precision, "batch_size": batch, "status": status, "reason": None}
    record.update(extra)
    return record


POLICY = {"iterations": 100, "min_time_s": 2.0, "max_time_s": 60, "min_iterations": 5, "max_iterations": 100000}
MACHINE = {"cpu": "Test CPU", "usable_cpus": 2, "os": "Linux", "python": "3.11.7"}
GPU = {"name": "NVIDIA H200", "compute_capability": "9.0", "driver": "580.1", "cuda_runtime": "13.0", "cudnn": 91000}


@pytest.fixture
def records():
    return [
        _record("pytorch_cpu", "PyTorch", "CPU", "cpu", timing={"policy": POLICY, "end_to_end": _block(173.42)},
                versions={"torch": "2.14.1", "torchvision": "0.29.1"}, machine=MACHINE,
                cold_start={"load_s": 0.5, "first_inference_ms": 300.0}, memory={"host_peak_rss_mb": 900.0},
                parity={"max_abs_diff": 1e-5, "max_rel_diff": 1e-7, "min_cosine": 1.0, "top1_agreement": 1.0, "top1_accuracy": 0.8}),
        _record("onnxruntime_cpu", "ONNX Runtime", "CPU", "cpu", timing={"policy": POLICY, "end_to_end": _block(40.01, cv=0.3, noisy=True)},
                versions={"onnxruntime": "1.31.1"}, machine=MACHINE),
        _record("pytorch_cuda", "PyTorch", "CUDA (GPU)", "cuda",
                timing={"policy": POLICY, "end_to_end": _block(13.13), "device_resident": _block(5.0, events=4.8)},
                versions={"torch": "2.14.1"}, machine=MACHINE, gpu=GPU, memory={"device_peak_mb": 300.0}),
        _record("onnxruntime_cuda", "ONNX Runtime", "CUDA (GPU)", "cuda", status="mismatch",
                reason="outputs differ from the PyTorch fp32 CPU reference: max relative diff 0.5 > 0.0001"),
        _record("onnxruntime_tensorrt", "ONNX Runtime", "TensorRT (GPU)", "cuda", status="skipped",
                label="TensorRT Provider", reason="TensorrtExecutionProvider did not load"),
        _record("tensorrt", "TensorRT", "TensorRT (GPU)", "cuda", status="error", reason="OutOfMemoryError: CUDA out of memory"),
        _record("torch2trt", "PyTorch", "TensorRT (GPU)", "cuda", label="torch2trt",
                timing={"policy": POLICY, "end_to_end": _block(2.099), "device_resident": _block(1.5, events=1.4)}),
    ]


ALL = ["pytorch_cpu", "onnxruntime_cpu", "pytorch_cuda", "onnxruntime_cuda", "onnxruntime_tensorrt", "tensorrt", "torch2trt"]


def _rows(table):
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_study_table_has_the_studys_shape_and_cells(records):
    notes = Footnotes()
    table = study_table(records, ALL, "fp32", 1, "end_to_end", notes)
    header = table.splitlines()[0]
    assert "PyTorch (model_weights.pth)" in header and "ONNX Runtime (onnx_model.onnx)" in header and "TensorRT (trt_model.trt)" in header
    rows = {r[0]: r[1:] for r in _rows(table)}
    assert rows["CPU"][0] == "173.42 ms"
    assert rows["CPU"][1].startswith("40.01 ms ~[^")  # noisy is marked, the number still shown
    assert rows["CPU"][2] == "-" and rows["CUDA (GPU)"][2] == "-"
    assert rows["CUDA (GPU)"][0] == "13.13 ms"
    assert rows["CUDA (GPU)"][1].startswith("✗ mismatch[^")
    assert rows["TensorRT (GPU)"][0] == "2.099 ms (torch2trt)"
    assert rows["TensorRT (GPU)"][1].startswith("–[^")
    assert rows["TensorRT (GPU)"][2].startswith("error[^")
    rendered = notes.render()
    assert "onnxruntime_tensorrt: skipped, TensorrtExecutionProvider did not load" in rendered
    assert "max relative diff 0.5 > 0.0001" in rendered and "OutOfMemoryError" in rendered
    assert "coefficient of variation 30.0%" in rendered


def test_device_resident_mode_is_shown_for_gpu_cells_only(records):
    table = study_table(records, ALL, "fp32", 1, "device_resident", Footnotes())
    rows = {r[0]: r[1:] for r in _rows(table)}
    assert rows["CUDA (GPU)"][0] == "5.000 ms"
    assert rows["TensorRT (GPU)"][0] == "1.500 ms (torch2trt)"
    assert rows["CPU"][0] == "173.42 ms"


def test_cells_not_configured_or_not_measured_never_borrow_a_number(records):
    notes = Footnotes()
    table = study_table(records, ["pytorch_cpu"], "fp32", 1, "end_to_end", notes)
    rows = {r[0]: r[1:] for r in _rows(table)}
    assert rows["CPU"][1].startswith("not run[^")
    assert "onnxruntime_cpu: not in benchmark.backends" in notes.render()
    # A record for another batch size is not this cell's number.
    table = study_table(records, ALL, "fp32", 8, "end_to_end", Footnotes())
    assert "ms" not in table


def test_identical_skip_reasons_share_one_footnote():
    notes = Footnotes()
    skipped = [_record("tensorrt", "TensorRT", "TensorRT (GPU)", "cuda", status="skipped", precision=p, reason="no GPU")
               for p in ("fp32", "fp16")]
    assert notes.ref("a") == "[^1]" and notes.ref("b") == "[^2]" and notes.ref("a") == "[^1]"
    markdown = render_markdown(skipped, ["tensorrt"], ["fp32", "fp16"], [1], "end_to_end",
                               {"architecture": "resnet50", "num_classes": 10, "image_size": 224, "val_top1": 0.9,
                                "trainable": "head", "data": "digits"}, {}, {}, {})
    assert markdown.count("tensorrt: skipped, no GPU") == 1
    assert "- tensorrt (fp16 batch 1, fp32 batch 1): no GPU" in markdown


def test_headline_is_the_studys_configuration_where_measured():
    assert headline_cell(["fp16", "fp32"], [8, 1, 32]) == ("fp32", 1)
    assert headline_cell(["fp16"], [8, 32]) == ("fp16", 8)


def test_format_ms():
    assert format_ms(173.4215) == "173.42 ms" and format_ms(2.0991) == "2.099 ms"


def test_configuration_table_lists_what_was_imported(records):
    card = {"architecture": "resnet50", "num_classes": 10, "image_size": 224, "val_top1": 0.9, "trainable": "head", "data": "digits"}
    table = configuration_table(records, card, {"versions": {"onnx": "1.23.2"}}, {"tensorrt": None, "torch2trt": "0.5.0"})
    rows = {r[0]: r[1] for r in _rows(table)}
    assert rows["PyTorch"] == "2.14.1" and rows["ONNX Runtime"] == "1.31.1" and rows["ONNX"] == "1.23.2"
    assert rows["TensorRT"] == "not installed"
    assert rows["torch2trt"] == "installed (0.5.0), not used by any cell"
    assert rows["GPU"] == "NVIDIA H200 (compute capability 9.0)" and rows["NVIDIA driver"] == "580.1"
    assert rows["CPU"] == "Test CPU (2 usable CPUs)"


def test_summary_rows_are_flat_and_complete(records):
    rows = {r["backend"]: r for r in summary_rows(records)}
    assert len(rows) == 7
    gpu = rows["pytorch_cuda"]
    assert gpu["e2e_mean_ms"] == 13.13 and gpu["resident_mean_ms"] == 5.0 and gpu["resident_cuda_event_mean_ms"] == 4.8
    assert gpu["device_peak_mb"] == 300.0 and gpu["gpu"] == "NVIDIA H200"
    assert rows["pytorch_cpu"]["top1_accuracy"] == 0.8 and "resident_mean_ms" not in rows["pytorch_cpu"]
    assert rows["tensorrt"]["status"] == "error" and rows["tensorrt"]["reason"].startswith("OutOfMemoryError")


def test_records_are_validated(tmp_path, records):
    paths = []
    for i, r in enumerate(records):
        write_json(tmp_path / f"{i}.json", r)
        paths.append(tmp_path / f"{i}.json")
    assert len(load_records(paths)) == 7
    bad = copy.deepcopy(records[0])
    del bad["timing"]
    with pytest.raises(ValueError, match="status ok but no timing"):
        validate_record(bad, "x.json")
    with pytest.raises(ValueError, match="needs a reason"):
        validate_record(_record("tensorrt", "TensorRT", "TensorRT (GPU)", "cuda", status="skipped"), "y.json")


def test_chart_is_written_as_png_and_svg(tmp_path, records):
    plot_latency(records, "end_to_end", tmp_path / "l.png", tmp_path / "l.svg")
    assert (tmp_path / "l.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "l.svg").read_text()
    assert "<svg" in svg and "pytorch_cpu" in svg
    plot_latency([], "end_to_end", tmp_path / "e.png", tmp_path / "e.svg")
    assert "no cell was measured" in (tmp_path / "e.svg").read_text()
