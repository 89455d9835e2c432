"""Under load in the workflow: the scenario cells as jobs, cached like the others, and table.md's "Under load" with the curve."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO, TINY_CONFIG, snakemake, write_config

from infbench.report.outputs import ReportFiles, summary_from_folder, write_report
from infbench.results.serving_records import read_serving_record

SCENARIOS = ["SingleStream", "MultiStream", "Server", "Offline", "Sweep"]
SERVED = {"onnxruntime_cpu": ["default"], "openvino": ["latency"], "pytorch_cuda": ["eager"]}
SERVING = {
    "scenarios": SCENARIOS, "backends": list(SERVED), "variants": {"pytorch_cuda": ["eager"]},
    "min_duration_s": 0.2, "stall_timeout_s": 5, "warmup_batches": 1,
    "single_stream": {"min_query_count": 16}, "multi_stream": {"samples_per_query": 4, "min_query_count": 8},
    "server": {"latency_bound_ms": 500, "min_query_count": 32, "max_steps": 2, "tolerance": 0.5},
    "offline": {"min_sample_count": 32}, "sweep": {"fractions": [0.5, 1.0]},
}


def _records(workdir: Path) -> dict[tuple[str, str], object]:
    return {(p.parent.parent.parent.name, p.stem): read_serving_record(p) for p in (workdir / "results" / "serving").rglob("*.json")
            if p.stem in SCENARIOS}


def _planned_jobs(output: str) -> set[str]:
    """Rule names in a dry run's job-stats table."""
    jobs = set()
    for line in output.split("Job stats:")[1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs.add(parts[0])
    return jobs


def _planned_outputs(output: str) -> list[str]:
    return [path for line in output.splitlines() if line.strip().startswith("output:")
            for path in line.split("output:", 1)[1].replace(" ", "").split(",")]


@pytest.fixture(scope="module")
def served(finished_workflow, tmp_path_factory) -> Path:
    """The finished tiny workflow with serving turned on: only the scenario cells and the aggregate run."""
    workdir = tmp_path_factory.mktemp("served") / "run"
    shutil.copytree(finished_workflow, workdir, symlinks=True)
    write_config(workdir, TINY_CONFIG | {"serving": SERVING})
    plan = snakemake(workdir, "-n", "--cores", "1", "results/table.md")
    output = plan.stdout + plan.stderr
    assert _planned_jobs(output) == {"serve_onnxruntime_cpu", "serve_openvino", "serve_pytorch_cuda", "load_chart", "aggregate"}, \
        output[-3000:]
    result = snakemake(workdir, "--cores", "2", "results/table.md")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_the_default_job_serves_nothing(finished_workflow):
    results = finished_workflow / "results"
    assert not (results / "serving").exists() and not (results / "load.png").exists()
    assert "serving" not in json.loads((results / "summary.json").read_text())
    assert "## Under load" not in (results / "table.md").read_text()


def test_every_scenario_cell_is_measured_or_skipped_with_the_reason_and_keeps_loadgens_logs(served):
    records = _records(served)
    assert set(records) == {(b, s) for b in SERVED for s in SCENARIOS}
    for (backend, scenario), record in records.items():
        folder = served / record.cell.logs_path
        if backend == "pytorch_cuda":
            assert record.status == "skipped" and record.reason.startswith("its batch-1 timing cell (results/records/local/")
            assert "no CUDA device" in record.reason
            continue
        assert record.status == "ok", (backend, scenario, record.reason)
        assert record.accuracy.passed and record.isolation is not None and record.code
        assert (folder / "mlperf_log_summary.txt").exists() and (folder / "mlperf_log_detail.txt").exists()
        if scenario != "Sweep":
            assert isinstance(record.valid, bool) and (record.valid or record.reasons)
    schema = json.loads((REPO / "workflow" / "schemas" / "serving_record.schema.json").read_text())
    for record in records.values():
        jsonschema.validate(json.loads((served / record.cell.record_path).read_text()), schema)
    assert records[("onnxruntime_cpu", "Sweep")].anchor_qps == records[("onnxruntime_cpu", "Server")].run.target_qps


def test_table_md_has_under_load_and_the_curve_and_renders_again_from_the_folder(served, tmp_path):
    results = served / "results"
    markdown = (results / "table.md").read_text()
    section = markdown.split("## Under load", 1)[1].split("\n## ", 1)[0]
    best = [line for line in section.splitlines() if line.startswith("| ")][1:4]  # after the header
    assert [line.split("|")[1].strip() for line in best] == ["PyTorch, CUDA", "ONNX Runtime, CPU provider", "OpenVINO, CPU"]
    for line in best[1:]:
        assert re.search(r"\| [\d,.]+ samples/s (VALID|INVALID\[\^\d+\]) \(", line), line
        assert re.search(r"\| [\d.]+ ms (VALID|INVALID\[\^\d+\]) \(", line), line
    assert "AsyncInferQueue, THROUGHPUT hint" in best[2] and "concurrent calls on one model" in best[1]
    assert "pytorch_cuda on local: skipped, its batch-1 timing cell" in markdown
    assert (results / "load.png").stat().st_size > 1000 and (results / "load.svg").exists()
    assert len(json.loads((results / "summary.json").read_text())["serving"]) == len(SERVED) * len(SCENARIOS)
    files = ReportFiles.in_folder(tmp_path)
    write_report(summary_from_folder(results), files)
    assert files.table.read_text() == markdown and files.load_png.exists()


def test_a_scenarios_settings_rerun_only_its_cells(served):
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(served, "-n", "--cores", "1", "results/table.md"))
    sweep = snakemake(served, "-n", "--cores", "1", "results/table.md", "--config", 'serving={"sweep": {"fractions": [0.5, 0.8]}}')
    outputs = [p for p in _planned_outputs(sweep.stdout + sweep.stderr) if p.endswith(".json") and "/serving/" in p]
    assert sorted(outputs) == sorted(f"results/serving/local/resnet18/{b}/{v[0]}/fp32/Sweep.json" for b, v in SERVED.items())
    server = snakemake(served, "-n", "--cores", "1", "results/table.md", "--config", 'serving={"server": {"growth": 3}}')
    outputs = {Path(p).stem for p in _planned_outputs(server.stdout + server.stderr) if p.endswith(".json") and "/serving/" in p}
    assert outputs == {"Server", "Sweep"}


def test_a_deleted_scenario_record_is_made_again(served, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(served, copy, symlinks=True)
    record = copy / "results/serving/local/resnet18/onnxruntime_cpu/default/fp32/SingleStream.json"
    record.unlink()
    plan = snakemake(copy, "-n", "--cores", "1", "results/table.md")
    output = plan.stdout + plan.stderr
    assert _planned_jobs(output) == {"serve_onnxruntime_cpu", "load_chart", "aggregate"}, output[-3000:]
    assert f"records were missing: {record.relative_to(copy)}" in output


def test_a_gpu_machines_serving_cells_ask_for_an_engine_per_batch_size_they_pad_to(tmp_path):
    """Planned on a machine without a GPU: a cluster's GPU machine, its TensorRT and torch2trt builds per batch size."""
    machine = {"h200": {"partition": "gpu", "cpus": 16, "gpus": 1}}
    serving = {"scenarios": ["SingleStream", "Server"], "backends": ["tensorrt", "torch2trt"], "variants": {"tensorrt": ["default"]}}
    benchmark = TINY_CONFIG["benchmark"] | {"backends": ["tensorrt", "torch2trt"]}
    write_config(tmp_path, TINY_CONFIG | {"machines": machine, "benchmark": benchmark, "serving": serving})
    cells = [f"results/serving/h200/resnet18/{b}/default/fp32/{s}.json" for b in ("tensorrt", "torch2trt")
             for s in ("SingleStream", "Server")]
    plan = snakemake(tmp_path, "-n", "--cores", "1", *cells)
    output = plan.stdout + plan.stderr
    assert plan.returncode == 0, output[-3000:]
    built = _planned_outputs(output)
    engines = {int(m.group(1)) for p in built if (m := re.fullmatch(r"results/engines/h200/resnet18/tensorrt/level3_fp32_bs(\d+)", p))}
    modules = {int(m.group(1)) for p in built if (m := re.fullmatch(r"results/engines/h200/resnet18/torch2trt/fp32_bs(\d+)", p))}
    assert engines == modules == {1, 8, 32, 64, 128, 256}
    blocks = re.split(r"\n(?=rule \w+:)", output)
    single = next(b for b in blocks if "output: results/serving/h200/resnet18/tensorrt/default/fp32/SingleStream.json" in b)
    inputs = next(line for line in single.splitlines() if line.strip().startswith("input:"))
    assert re.findall(r"tensorrt/level3_fp32_bs(\d+)\b(?!\.contents)", inputs) == ["1"]  # one request at a time: the batch-1 engine alone
    server = next(b for b in blocks if "output: results/serving/h200/resnet18/tensorrt/default/fp32/Server.json" in b)
    inputs = next(line for line in server.splitlines() if line.strip().startswith("input:"))
    listed = {int(b) for b in re.findall(r"tensorrt/level3_fp32_bs(\d+)\.contents\.json", inputs)}
    assert listed == {1, 8, 32, 64, 128, 256}  # each size's engine with the listing that says when it changed
