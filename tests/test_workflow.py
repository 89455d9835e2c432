"""The whole workflow on a tiny configuration: its table, reruns, the DAG build and bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TINY_CONFIG, snakemake, write_config
from infbench.records import load_records

ONNXRUNTIME_RULES = {"check_onnx", "time_onnxruntime_cpu", "time_onnxruntime_cuda", "time_onnxruntime_tensorrt", "aggregate"}


def _table_rows(markdown: str) -> dict[str, list[str]]:
    lines = markdown.split("\n\n")[2].splitlines()[2:]  # the study-shaped table is the third block
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return {r[0]: r[1:] for r in rows}


def _planned_jobs(output: str) -> set[str]:
    """Rule names in a dry run's job-stats table."""
    lines = output.split("Job stats:")[1].splitlines()[3:]
    jobs = set()
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs.add(parts[0])
    return jobs


def test_table_has_cpu_numbers_and_gpu_cells_that_say_why_they_are_empty(finished_workflow):
    markdown = (finished_workflow / "results" / "table.md").read_text()
    rows = _table_rows(markdown)
    assert set(rows) == {"CPU", "CUDA (GPU)", "TensorRT (GPU)"}
    assert rows["CPU"][0].endswith(" ms") and float(rows["CPU"][0].split()[0]) > 0
    assert rows["CPU"][1].endswith(" ms") and float(rows["CPU"][1].split()[0]) > 0
    assert rows["CPU"][2] == "-"
    gpu_cells = rows["CUDA (GPU)"][:2] + rows["TensorRT (GPU)"]
    assert all(cell.startswith("–[^") for cell in gpu_cells), gpu_cells
    assert "pytorch_cuda: skipped, no CUDA device" in markdown
    assert "tensorrt: skipped, tensorrt is not installed" in markdown
    assert "## Test configuration" in markdown and "| PyTorch " in markdown


def test_every_output_is_written_and_consistent(finished_workflow):
    results = finished_workflow / "results"
    records = load_records(sorted((results / "records").glob("*/*.json")))
    assert {r["backend"] for r in records} == set(yaml.safe_load(open(REPO / "workflow/schemas/config.schema.yaml"))
                                                 ["properties"]["benchmark"]["properties"]["backends"]["default"])
    measured = {r["backend"] for r in records if r["status"] == "ok"}
    assert measured == {"pytorch_cpu", "onnxruntime_cpu"}
    summary = json.loads((results / "summary.json").read_text())
    assert len(summary["cells"]) == 7
    csv_lines = (results / "summary.csv").read_text().splitlines()
    assert len(csv_lines) == 8 and csv_lines[0].startswith("backend,")
    assert (results / "latency.png").stat().st_size > 1000 and (results / "latency.svg").exists()
    assert not list(results.rglob("*.part"))


def test_training_really_trained(finished_workflow):
    card = json.loads((finished_workflow / "results" / "model" / "model_card.json").read_text())
    losses = [e["loss"] for e in card["history"]["epochs"]]
    assert len(losses) == TINY_CONFIG["train"]["epochs"]
    assert losses[-1] < losses[0]
    assert card["val_images"] == 64 and 0.0 <= card["val_top1"] <= 1.0
    assert card["architecture"] == "resnet18" and card["classes"] == [str(d) for d in range(10)]
    assert card["versions"]["torch"]


def test_second_run_has_nothing_to_do(finished_workflow):
    result = snakemake(finished_workflow, "-n", "--cores", "1", "results/table.md")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_dag_is_built_without_importing_torch_or_onnxruntime(finished_workflow):
    cmd = [sys.executable, "-X", "importtime", "-m", "snakemake", "-s", str(REPO / "Snakefile"),
           "--directory", str(finished_workflow), "-n", "--cores", "1", "results/table.md"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    heavy = {m for m in imported if m.split(".")[0] in ("torch", "torchvision", "onnxruntime", "onnx", "tensorrt")}
    assert not heavy, sorted(heavy)[:10]


@pytest.fixture(scope="session")
def other_onnxruntime(tmp_path_factory) -> Path:
    """A real onnxruntime of another version, installed into a folder that PYTHONPATH puts first."""
    target = tmp_path_factory.mktemp("onnxruntime-other")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), "onnxruntime==1.30.0"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"could not install onnxruntime 1.30.0 for the rerun test: {result.stderr[-500:]}")
    return target


def test_new_onnxruntime_version_reruns_exactly_the_onnxruntime_rules(finished_workflow, other_onnxruntime):
    result = snakemake(finished_workflow, "-n", "--cores", "1", "results/table.md", env={"PYTHONPATH": str(other_onnxruntime)})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert _planned_jobs(output) == ONNXRUNTIME_RULES
    assert "Params have changed since last execution" in output


def test_lint_is_clean():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize(
    "config, message",
    [
        ({"benchmark": {"backends": ["pytorch_cpu", "openvino"]}}, "config error: benchmark.backends[1]: 'openvino' is not one of"),
        ({"model": {"architecture": "resnet51"}}, "config error: model.architecture: 'resnet51' is not one of"),
        ({"benchmark": {"iterations": 0}}, "config error: benchmark.iterations: 0 is less than the minimum of 1"),
        ({"benchmark": {"batch_sizes": [-1]}}, "config error: benchmark.batch_sizes[0]: -1 is less than the minimum of 1"),
        ({"data": {"path": "missing-images"}}, "config error: data.path: 'missing-images' does not exist"),
        ({"model": {"image_size": 8}}, "config error: model.image_size: resnet50 cannot take 8x8 images (allowed: 32 to 1024 pixels)"),
    ],
)
def test_bad_config_stops_before_any_job_with_one_line(config, message, tmp_path):
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--cores", "1", "results/table.md")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors == [errors[0]] and errors[0].startswith(message), result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "damaged, target, message",
    [
        ("model/model_weights.pth", "results/model/onnx_model.onnx", "results/model/model_weights.pth: not a readable PyTorch checkpoint ("),
        ("model/onnx_model.onnx", "results/model/onnx_check.json", "results/model/onnx_model.onnx: ONNX Runtime cannot load it ("),
    ],
)
def test_truncated_file_fails_its_rule_with_name_and_reason_and_leaves_no_output(workflow_copy, damaged, target, message):
    path = workflow_copy / "results" / damaged
    path.write_bytes(path.read_bytes()[:4096])
    result = snakemake(workflow_copy, "--cores", "1", target)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (workflow_copy / target).exists()
    assert not list((workflow_copy / "results").rglob("*.part"))


def test_html_report_holds_the_chart_and_tables(finished_workflow, tmp_path):
    report = tmp_path / "report.html"
    result = snakemake(finished_workflow, "--report", str(report))
    assert result.returncode == 0, result.stderr[-2000:]
    html = report.read_text(errors="replace")
    assert "latency.png" in html and "summary.csv" in html and "table.md" in html
