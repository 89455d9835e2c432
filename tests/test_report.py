"""Summary rows, the tables, the chart and the comparison, from records shaped as the runner writes them."""

import copy
import hashlib
import json

import pytest

from infbench.artifacts import write_json
from infbench.errors import BenchError
from infbench.planning.cells import Cell
from infbench.report.chart import lines, plot
from infbench.report.details import configuration_table, skipped_list
from infbench.report.document import render_comparison, render_run
from infbench.report.fastest import best_of, fastest_table
from infbench.report.rows import summary_rows
from infbench.report.runs import load_runs
from infbench.report.study import headline, study_table
from infbench.report.summary import ModelSummary, RunSummary, write_summary
from infbench.report.text import Footnotes, format_ms, format_s
from infbench.results.records import Record, header, load_records, read_record

POLICY = {"iterations": 100, "min_time_s": 2.0, "max_time_s": 60, "min_iterations": 5, "max_iterations": 100000}
HOST = {"cpu": "Test CPU", "usable_cpus": 2, "os": "Linux", "python": "3.11.7", "hostname": "box"}
GPU = {"name": "NVIDIA H200", "compute_capability": "9.0", "driver": "580.1", "cuda_runtime": "13.0", "cudnn": 91000}
CARD = {"architecture": "resnet50", "num_classes": 10, "image_size": 224, "val_top1": 0.96, "val_images": 359,
        "trainable": "head", "device": "cpu", "data": "digits"}
SETTINGS = {"timing": "end_to_end", "precisions": ["fp32", "fp16"], "batch_sizes": {"cpu": [1], "cuda": [1, 32]},
            "backends": ["pytorch_cpu", "onnxruntime_cpu", "pytorch_cuda", "onnxruntime_cuda", "onnxruntime_tensorrt",
                         "tensorrt", "torch2trt", "openvino"], "policy": POLICY}


def _stats(mean, cv=0.02, n=3):
    return {"n": n, "mean": mean, "std": mean * cv, "min": mean * 0.9, "p50": mean * 0.99, "p90": mean * 1.05,
            "p99": mean * 1.2, "max": mean * 1.3, "cv": cv}


def _block(mean, batch=1, cv=0.02, events=None, noisy=False, per_step=None):
    images = per_step or batch
    block = {"host_ms": _stats(mean, cv), "warmup": {"mode": "adaptive", "iterations": 30, "settled": True, "window_medians_ms": [],
                                                    "stopped_by": "settled"},
             "images_per_step": images, "throughput_ips": images * 1000 / mean, "noisy": noisy, "stopped_by": "iterations",
             "samples_ms": [mean] * 3}
    if events is not None:
        block["device_ms"] = _stats(events)
        block["device_samples_ms"] = [events] * 3
    return block


def _record(backend, variant="default", status="ok", precision="fp32", batch=1, machine="local", e2e=None, resident=None,
            reason=None, model="resnet50", **extra):
    record = header(Cell(machine, model, backend, variant, precision, batch), status, reason) | {"host": HOST}
    if e2e is not None:
        record["timing"] = {"policy": POLICY, "methods": {}, "end_to_end": e2e}
        if resident is not None:
            record["timing"]["device_resident"] = resident
            record["gpu"] = GPU
    record.update(extra)
    if status == "ok":
        record.setdefault("parity", {"passed": True})  # the runner times only a cell that passed parity
    return record


def _records(dicts):
    return [Record.model_validate(d) for d in dicts]


def _rows(dicts):
    records = _records(dicts)
    return summary_rows(records, [r.cell.record_path.removeprefix("results/") for r in records])


@pytest.fixture
def records():
    return [
        _record("pytorch_cpu", "eager", e2e=_block(173.42), versions={"torch": "2.14.1", "torchvision": "0.29.1"},
                cold_start={"load_s": 0.5, "first_inference_ms": 300.0}, memory={"host_peak_rss_mb": 900.0},
                parity={"passed": True, "max_abs_diff": 1e-5, "max_rel_diff": 1e-7, "min_cosine": 1.0, "top1_agreement": 1.0,
                        "decisive_images": 256, "decisive_top1_agreement": 1.0, "top1_accuracy": 0.96}),
        _record("pytorch_cpu", "channels_last", e2e=_block(120.0), versions={"torch": "2.14.1"}),
        _record("onnxruntime_cpu", e2e=_block(40.01, cv=0.3, noisy=True), versions={"onnxruntime": "1.31.1"}),
        _record("openvino", "latency", e2e=_block(38.0), versions={"openvino": "2026.4.1"}),
        _record("openvino", "throughput", e2e=_block(60.0, per_step=2), versions={"openvino": "2026.4.1"}),
        _record("pytorch_cuda", "eager", e2e=_block(13.13), resident=_block(5.0, events=4.8), versions={"torch": "2.14.1"},
                memory={"device_peak_mb": 300.0}),
        _record("pytorch_cuda", "compile_cudagraphs", precision="fp16", e2e=_block(0.9), resident=_block(0.61, events=0.6),
                cold_start={"prepare_s": 62.0, "build_s": 62.0}),
        _record("pytorch_cuda", "compile_cudagraphs", precision="fp16", batch=32, e2e=_block(3.0, batch=32),
                resident=_block(1.6, batch=32, events=1.5), cold_start={"prepare_s": 70.0, "build_s": 70.0}),
        _record("pytorch_cuda", "compile", precision="fp16", status="mismatch",
                reason="outputs differ from the PyTorch fp32 CPU reference: max relative diff 0.5 > 0.01"),
        _record("onnxruntime_cuda", status="mismatch",
                reason="outputs differ from the PyTorch fp32 CPU reference: max relative diff 0.5 > 0.0001"),
        _record("onnxruntime_tensorrt", status="skipped", reason="TensorrtExecutionProvider did not load"),
        _record("tensorrt", status="error", reason="OutOfMemoryError: CUDA out of memory"),
        _record("torch2trt", e2e=_block(2.099), resident=_block(1.5, events=1.4), cold_start={"engine_build_s": 40.0, "build_s": 40.0}),
    ]


@pytest.fixture
def rows(records):
    return _rows(records)


def _cells(table):
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_study_table_has_the_studys_shape_and_the_default_variants(rows):
    notes = Footnotes()
    table = study_table(rows, "local", SETTINGS["backends"], "fp32", 1, "end_to_end", notes)
    header = table.splitlines()[0]
    assert "PyTorch (model_weights.pth)" in header and "ONNX Runtime (onnx_model.onnx)" in header and "TensorRT (trt_model.trt)" in header
    cells = {r[0]: r[1:] for r in _cells(table)}
    assert cells["CPU"][0] == "173.42 ms"  # eager, the study's variant, not the faster-looking channels-last one
    assert cells["CPU"][1].startswith("40.01 ms ~[^")  # noisy is marked, the number still shown
    assert cells["CPU"][2] == "-" and cells["CUDA (GPU)"][2] == "-"
    assert cells["CUDA (GPU)"][0] == "13.13 ms"
    assert cells["CUDA (GPU)"][1].startswith("✗ mismatch[^")
    assert cells["TensorRT (GPU)"][0] == "2.099 ms (torch2trt)"
    assert cells["TensorRT (GPU)"][1].startswith("–[^") and cells["TensorRT (GPU)"][2].startswith("error[^")
    rendered = notes.render()
    assert "onnxruntime_tensorrt on local: skipped, TensorrtExecutionProvider did not load" in rendered
    assert "max relative diff 0.5 > 0.0001" in rendered and "OutOfMemoryError" in rendered
    assert "coefficient of variation 30.0%" in rendered
    assert "openvino" not in table  # not a column of the study


def test_device_resident_mode_is_shown_for_gpu_cells_only(rows):
    cells = {r[0]: r[1:] for r in _cells(study_table(rows, "local", SETTINGS["backends"], "fp32", 1, "device_resident", Footnotes()))}
    assert cells["CUDA (GPU)"][0] == "5.000 ms" and cells["TensorRT (GPU)"][0] == "1.500 ms (torch2trt)"
    assert cells["CPU"][0] == "173.42 ms"


def test_cells_not_configured_or_not_measured_never_borrow_a_number(rows):
    notes = Footnotes()
    cells = {r[0]: r[1:] for r in _cells(study_table(rows, "local", ["pytorch_cpu"], "fp32", 1, "end_to_end", notes))}
    assert cells["CPU"][1].startswith("not run[^")
    assert "onnxruntime_cpu: not in benchmark.backends" in notes.render()
    assert "ms" not in study_table(rows, "local", SETTINGS["backends"], "fp32", 8, "end_to_end", Footnotes())


def test_fastest_per_runtime_picks_the_fastest_variant_and_precision_that_passed_parity(rows):
    best = best_of(rows, "local", "pytorch_cuda")
    assert (best.latency.variant, best.latency.precision) == ("compile_cudagraphs", "fp16")  # not the mismatched compile
    assert best.throughput.batch_size == 32
    notes = Footnotes()
    table = {r[0]: r[1:] for r in _cells(fastest_table(rows, ["local"], notes))}
    assert table["PyTorch, CUDA"] == ["0.610 ms (torch.compile + CUDA graphs, fp16)", "62 s",
                                     "20,000 img/s (torch.compile + CUDA graphs, fp16, batch 32)", "70 s"]
    assert table["PyTorch, CPU"][0] == "120.00 ms (channels-last, fp32)" and table["PyTorch, CPU"][1] == ""
    # OpenVINO's throughput hint keeps two requests in flight: a throughput, never a latency.
    assert table["OpenVINO, CPU"][0] == "38.00 ms (latency hint, fp32)"
    assert table["OpenVINO, CPU"][2] == "33.3 img/s (throughput hint, fp32, batch 1)"
    assert table["ONNX Runtime, CUDA provider"][0].startswith("–[^")
    assert table["TensorRT"][0].startswith("–[^")
    rendered = notes.render()
    assert "onnxruntime_tensorrt on local: skipped: TensorrtExecutionProvider did not load" in rendered
    assert "tensorrt on local: no cell passed parity and was timed (1 error)" in rendered


def test_machines_side_by_side(records):
    other = [dict(copy.deepcopy(r), machine="h200") for r in records]
    other[5]["timing"]["device_resident"]["host_ms"].update(mean=4.0, min=3.9)
    other[5]["timing"]["device_resident"].update(samples_ms=[4.0] * 3, throughput_ips=250.0)
    rows = _rows(records + other)
    table = fastest_table(rows, ["local", "h200"], Footnotes())
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    assert header == ["Runtime", "local: latency, batch 1", "local: throughput", "h200: latency, batch 1", "h200: throughput"]
    line = {r[0]: r[1:] for r in _cells(table)}["PyTorch, CUDA"]
    assert line[0] == "0.610 ms (torch.compile + CUDA graphs, fp16; build 62 s)" == line[2]


def _summary(rows, card=CARD, onnx_export=None, onnx_check=None, installed=None):
    model = ModelSummary(card=card, onnx_export=onnx_export or {}, onnx_check=onnx_check or {})
    return RunSummary(models={card["architecture"]: model}, settings=SETTINGS, installed=installed or {}, cells=rows)


def test_a_run_document_has_every_section_and_skip_reasons_share_one_footnote(rows):
    markdown = render_run(_summary(rows, onnx_export={"exporter": "dynamo", "opset": 18, "versions": {"onnx": "1.23.2"}},
                                   onnx_check={"images": 256, "max_rel_diff": 1e-6, "top1_agreement": 1.0},
                                   installed={"tensorrt": None}))
    for heading in ("## The study's table", "## Fastest per runtime", "## Test configuration", "## All cells", "### Skipped cells"):
        assert heading in markdown
    assert markdown.count("onnxruntime_tensorrt on local: skipped, TensorrtExecutionProvider did not load") == 1
    assert "held-out top-1 0.960 on 359 images" in markdown


def test_headline_is_the_studys_configuration_where_measured():
    assert headline(["fp16", "fp32"], [8, 1, 32]) == ("fp32", 1)
    assert headline(["fp16"], [8, 32]) == ("fp16", 8)


def test_format_ms():
    assert format_ms(173.4215) == "173.42 ms" and format_ms(2.0991) == "2.099 ms"


def test_format_s_keeps_a_short_build_visible():
    assert [format_s(v) for v in (None, 0.045, 0.5, 2.34, 17.4)] == ["", "0.045 s", "0.5 s", "2.3 s", "17 s"]


def test_configuration_table_lists_what_each_machine_imported(rows):
    table = configuration_table(rows, ["local"], {"tensorrt": None, "torch2trt": "0.5.0"}, {"onnx": "1.23.2"})
    cells = {r[0]: r[1] for r in _cells(table)}
    assert cells["PyTorch"] == "2.14.1" and cells["ONNX Runtime"] == "1.31.1" and cells["ONNX"] == "1.23.2"
    assert cells["OpenVINO"] == "2026.4.1" and cells["TensorRT"] == "not installed"
    assert cells["torch2trt"] == "installed (0.5.0), not used by any cell"
    assert cells["GPU"] == "NVIDIA H200 (compute capability 9.0)" and cells["NVIDIA driver"] == "580.1"
    assert cells["CPU"] == "Test CPU (2 usable CPUs)"


def test_summary_rows_are_complete_flatten_for_the_csv_and_name_their_record(rows):
    by_cell = {(r.backend, r.variant, r.precision, r.batch_size): r for r in rows}
    gpu = by_cell[("pytorch_cuda", "eager", "fp32", 1)]
    assert gpu.end_to_end.mean_ms == 13.13 and gpu.device_resident.mean_ms == 5.0 and gpu.device_resident.cuda_event_mean_ms == 4.8
    flat = gpu.flat()
    assert flat["e2e_mean_ms"] == 13.13 and flat["resident_mean_ms"] == 5.0 and flat["resident_cuda_event_mean_ms"] == 4.8
    assert flat["version_torch"] == "2.14.1"
    assert gpu.device_peak_mb == 300.0 and gpu.gpu == "NVIDIA H200" and gpu.cpu == "Test CPU"
    assert gpu.record == "records/local/resnet50/pytorch_cuda/eager/fp32_bs1.json"
    assert by_cell[("pytorch_cpu", "eager", "fp32", 1)].top1_accuracy == 0.96
    assert by_cell[("tensorrt", "default", "fp32", 1)].status == "error"
    assert [r.backend for r in rows][:3] == ["pytorch_cpu", "pytorch_cpu", "pytorch_cuda"]  # the catalogue's order


def test_skipped_cells_are_listed_by_machine_and_reason(rows):
    assert skipped_list(rows) == "- onnxruntime_tensorrt on local (default fp32 batch 1): TensorrtExecutionProvider did not load"


def test_records_are_validated_and_a_bad_one_is_named_with_what_is_wrong(tmp_path, records):
    paths = []
    for i, r in enumerate(records):
        write_json(tmp_path / f"{i}.json", r)
        paths.append(tmp_path / f"{i}.json")
    assert len(load_records(paths)) == len(records)

    def written(name, record):
        write_json(tmp_path / name, record)
        return tmp_path / name

    bad = copy.deepcopy(records[0])
    del bad["timing"]
    with pytest.raises(ValueError, match="x.json: not a valid record .*status ok but no timing"):
        read_record(written("x.json", bad))
    with pytest.raises(ValueError, match="y.json: not a valid record .*needs a reason"):
        read_record(written("y.json", _record("tensorrt", status="skipped")))
    typo = dict(copy.deepcopy(records[0]), timnig={})
    with pytest.raises(ValueError, match="t.json: not a valid record .*timnig: Extra inputs are not permitted"):
        read_record(written("t.json", typo))
    text = json.dumps(records[0])
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="cut.json: not a readable record"):
        read_record(tmp_path / "cut.json")
    old = dict(copy.deepcopy(records[0]), schema_version=1)
    with pytest.raises(ValueError, match="o.json: a record of schema version 1; this workflow reads 2 and 3"):
        read_record(written("o.json", old))


def test_a_record_completed_as_a_timing_job_completes_it_dumps_without_pydantic_warnings(tmp_path, records):
    import warnings

    from infbench.results.records import Artifact, Isolation

    model = tmp_path / "onnx_model.onnx"
    model.write_bytes(b"a model")
    record = Record.model_validate(records[2] | {"model_info": {"architecture": "resnet50", "image_size": 224, "num_classes": 10}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydantic's serializer warnings are UserWarnings
        done = record.updated(model_info=record.model_info.with_artifacts({"onnx": str(model)}), attempt=2,
                              isolation=Isolation(lock="/dev/shm/x", waited_s=0.0, started_utc="a", ended_utc="b"),
                              build={"fp16_method": "flag"})
        dumped = done.dump()
    assert isinstance(done.model_info.artifacts["onnx"], Artifact)
    assert dumped["model_info"]["artifacts"]["onnx"]["sha256"] == hashlib.sha256(b"a model").hexdigest()
    assert dumped["attempt"] == 2 and dumped["isolation"]["lock"] == "/dev/shm/x"
    with pytest.raises(ValueError, match="attempt"):
        record.updated(attempt="twice")  # validated: a field of the wrong type is refused, never written


def _row_at(record: dict, path: str):
    (row,) = summary_rows(_records([record]), [path])
    return row


def test_a_record_at_another_cells_path_fills_that_cells_row_as_inconsistent(records):
    ort = records[2]  # onnxruntime_cpu default fp32 batch 1, measured
    for path, clash in (("records/local/resnet50/pytorch_cpu/eager/fp32_bs1.json", "backend onnxruntime_cpu, not pytorch_cpu"),
                        ("records/other/resnet50/onnxruntime_cpu/default/fp32_bs1.json", "machine local, not other"),
                        ("records/local/mobilenet/onnxruntime_cpu/default/fp32_bs1.json", "model resnet50, not mobilenet"),
                        ("records/local/resnet50/onnxruntime_cpu/default/fp16_bs1.json", "precision fp32, not fp16"),
                        ("records/local/resnet50/onnxruntime_cpu/default/fp32_bs8.json", "batch_size 1, not 8"),
                        ("records/local/onnxruntime_cpu/default/fp32_bs8.json", "batch_size 1, not 8")):  # schema 2's layout
        row = _row_at(ort, path)
        assert row.status == "inconsistent" and row.end_to_end is None and row.record_status == "ok"
        assert row.reason.startswith("the record is of another cell: ") and f"{clash} as its path {path} says" in row.reason
        named = path.split("/")
        assert (row.backend, row.batch_size) == (named[-3], int(named[-1].split("_bs")[1].removesuffix(".json")))
    row = _row_at(ort, "records/local/resnet50/pytorch_cpu/eager/fp32_bs1.json")
    assert (row.runtime, row.variant_label) == ("PyTorch, CPU", "eager")  # the row of the cell the workflow expects there
    notes = Footnotes()
    table = study_table([row], "local", SETTINGS["backends"], "fp32", 1, "end_to_end", notes)
    assert {r[0]: r[1:] for r in _cells(table)}["CPU"][0] == "✗ inconsistent record[^1]"
    assert best_of([row], "local", "pytorch_cpu").latency is None
    assert _row_at(ort, "records/local/onnxruntime_cpu/default/fp32_bs1.json").status == "ok"  # schema 2's layout, its cell
    assert _row_at(ort, "some/where/else.json").status == "ok"  # a path that names no cell says nothing


def test_a_status_that_contradicts_the_parity_check_is_inconsistent(records):
    failed = {"passed": False, "failures": ["top-1 agreement 0.5 < 0.99"]}
    ok_failed = _row_at(records[3] | {"parity": failed}, "records/local/resnet50/openvino/latency/fp32_bs1.json")
    assert ok_failed.status == "inconsistent" and ok_failed.reason == "status ok but its parity check failed"
    assert ok_failed.end_to_end is None and best_of([ok_failed], "local", "openvino").latency is None
    no_parity = dict(records[3])
    del no_parity["parity"]
    assert _row_at(no_parity, "records/local/resnet50/openvino/latency/fp32_bs1.json").reason == "status ok but no parity check"
    # Timed below the gate: a quantized precision, reported as a mismatch with its numbers in the details only.
    int8 = _record("onnxruntime_cpu", "qdq_u8s8", status="mismatch", precision="int8", e2e=_block(20.0), parity=failed,
                   reason="outputs differ (timed all the same: int8 trades accuracy for speed)")
    assert _row_at(int8, "records/local/resnet50/onnxruntime_cpu/qdq_u8s8/int8_bs1.json").status == "mismatch"
    # fp16 and bf16 below their gate are timed all the same too (judged on decisions, the logit error beside)
    fp16 = int8 | header(Cell("local", "resnet50", "onnxruntime_cpu", "default", "fp16", 1), "mismatch",
                         "outputs differ (timed all the same: fp16 trades accuracy for speed)")
    assert _row_at(fp16, "records/local/resnet50/onnxruntime_cpu/default/fp16_bs1.json").status == "mismatch"
    fp32 = int8 | header(Cell("local", "resnet50", "onnxruntime_cpu", "default", "fp32", 1), "mismatch", "edited")
    row = _row_at(fp32 | {"host": HOST}, "records/local/resnet50/onnxruntime_cpu/default/fp32_bs1.json")
    assert row.status == "inconsistent" and "status mismatch with timings" in row.reason and row.end_to_end is None


def test_chart_has_a_line_per_runtime_variant_and_precision(tmp_path, rows):
    series = lines(rows)
    assert series[("local", "resnet50", "PyTorch, CUDA", "torch.compile + CUDA graphs", "fp16")] == [
        (1, 0.61, pytest.approx(1000 / 0.61)), (32, 1.6, pytest.approx(20000))
    ]
    plot(rows, tmp_path / "l.png", tmp_path / "l.svg")
    assert (tmp_path / "l.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "l.svg").read_text()
    assert "<svg" in svg and "torch.compile + CUDA graphs, fp16" in svg and "batch size" in svg
    plot([], tmp_path / "e.png", tmp_path / "e.svg")
    assert "no cell was measured" in (tmp_path / "e.svg").read_text()


def _run_folder(tmp_path, name, rows, card=CARD):
    folder = tmp_path / name
    write_summary(folder / "summary.json", _summary(rows, card))
    return folder


def test_runs_made_on_two_machines_are_compared_with_every_number_traced_to_its_record(tmp_path, records):
    cpu = _run_folder(tmp_path, "cpu-2core", _rows(records[:5]))
    gpu = _run_folder(tmp_path, "h200", _rows(records))
    runs = load_runs([cpu, gpu / "summary.json"])
    assert [sorted({r.machine for r in run.rows}) for run in runs] == [["cpu-2core"], ["h200"]]
    markdown = render_comparison(runs)
    header = next(line for line in markdown.splitlines() if line.startswith("| Runtime"))
    assert "cpu-2core: latency, batch 1" in header and "h200: throughput" in header
    assert (f"- h200, PyTorch, CUDA, latency (0.610 ms): {gpu}/records/local/resnet50/pytorch_cuda/compile_cudagraphs/fp16_bs1.json"
            in markdown)
    study = markdown.split("## The study's table, per machine")[1].split("## Test configuration")[0]
    headings = [line for line in study.splitlines() if line.startswith("#")]
    assert headings == ["### cpu-2core", "### h200"]  # each machine's table says whose it is
    assert study.split("### h200")[1].count("| Device ") == 1


def test_comparing_runs_of_another_model_or_twice_the_same_machine_is_refused(tmp_path, records):
    a = _run_folder(tmp_path, "a", _rows(records[:2]))
    b = _run_folder(tmp_path, "b", _rows(records[:2]), card=dict(CARD, image_size=32))
    with pytest.raises(BenchError, match=r"compare.runs\[1\]: .*b/summary.json holds records of resnet50 at 32x32"):
        load_runs([a, b])
    other = _run_folder(tmp_path, "o", _rows([dict(r, model="resnet18") for r in records[:2]]), card=dict(CARD, architecture="resnet18"))
    with pytest.raises(BenchError, match=r"compare.runs\[1\]: .*o/summary.json holds records of resnet18 .*none of the models"):
        load_runs([a, other])
    named = _run_folder(tmp_path, "c", _rows([dict(r, machine="gpu") for r in records[:2]]))
    again = _run_folder(tmp_path, "d", _rows([dict(r, machine="gpu") for r in records[:2]]))
    with pytest.raises(BenchError, match="machine 'gpu' is in two runs"):
        load_runs([named, again])
    with pytest.raises(BenchError, match=r"compare.runs\[0\]: .*missing/summary.json is not a readable summary.json"):
        load_runs([tmp_path / "missing" / "summary.json"])
    write_json(tmp_path / "old" / "summary.json", {"schema_version": 2, "cells": []})
    with pytest.raises(BenchError, match=r"old/summary.json was written by another version .*python tools/rerender.py"):
        load_runs([tmp_path / "old"])


def test_a_record_whose_variant_was_renamed_since_fills_its_row_in_its_own_words():
    # The row describes what ran as the record wrote it, not as today's catalogue names things: an older run stays
    # readable after a variant is renamed.
    from pathlib import Path

    from infbench.report.rows import summary_row

    committed = "records/local/resnet50/onnxruntime_cuda/nhwc/fp16_bs1.json"
    record = read_record(Path(__file__).resolve().parents[1] / "docs" / "results" / "h200" / committed)
    renamed = record.model_copy(update={"variant": "nhwc_2025"})
    row = summary_row(renamed, committed.replace("/nhwc/", "/nhwc_2025/"))
    assert (row.variant, row.status) == ("nhwc_2025", "ok")
    assert (row.runtime, row.variant_label, row.label) == ("ONNX Runtime, CUDA provider", "CUDA provider, NHWC", "CUDA provider, NHWC, fp16")
