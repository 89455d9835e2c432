"""The whole workflow on a tiny configuration: its table, reruns, the DAG build and bad input."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, TINY_CONFIG, copy_code, snakemake, write_config

from infbench.planning.catalog import BACKENDS
from infbench.report.text import format_ms
from infbench.results.records import load_records, read_record

MEASURED_CELL = re.compile(r"(?P<ms>\d+\.\d+) ms( \([^)]+\))?( ~\[\^\d+\])?")
MEASURED_FASTEST = re.compile(r"\d+\.\d+ ms( ~)? \([^)]+\)")
ONNXRUNTIME_RULES = {"check_onnx", "time_onnxruntime_cpu", "time_onnxruntime_cuda", "time_onnxruntime_tensorrt", "aggregate"}


def _table_rows(markdown: str, header: str = "| Device") -> dict[str, list[str]]:
    """The first table whose header starts with `header`, as {first cell: other cells}."""
    block = next(b for b in markdown.split("\n\n") if b.startswith(header))
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()[2:]]
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
    # A measured cell is a time, marked `~` with a note when the machine was noisy (which no test controls).
    for cell in rows["CPU"][:2]:
        match = MEASURED_CELL.fullmatch(cell)
        assert match and float(match["ms"]) > 0, cell
    assert rows["CPU"][2] == "-"
    gpu_cells = rows["CUDA (GPU)"][:2] + rows["TensorRT (GPU)"]
    assert all(cell.startswith("–[^") for cell in gpu_cells), gpu_cells
    assert "pytorch_cuda on local: skipped, no CUDA device" in markdown
    assert "tensorrt on local: skipped, tensorrt is not installed" in markdown
    assert "## Test configuration" in markdown and "| PyTorch " in markdown


def test_fastest_per_runtime_puts_openvino_beside_the_others(finished_workflow):
    rows = _table_rows((finished_workflow / "results" / "table.md").read_text(), "| Runtime")
    for runtime in ("PyTorch, CPU", "ONNX Runtime, CPU provider", "OpenVINO, CPU"):
        assert MEASURED_FASTEST.fullmatch(rows[runtime][0]), rows[runtime]
    assert rows["OpenVINO, CPU"][0].endswith("(latency hint, fp32)")  # the throughput hint is never a latency
    assert all(cell.startswith("–[^") for cell in rows["PyTorch, CUDA"][::2])


def test_every_output_is_written_and_consistent(finished_workflow):
    results = finished_workflow / "results"
    records = [r.dump() for r in load_records(sorted((results / "records").glob("*/*/*/*/*.json")))]
    cells = {(r["machine"], r["backend"], r["variant"]) for r in records}
    expected = {("local", name, v.name) for name, backend in BACKENDS.items()  # the tiny config asks for fp32 only
                for v in backend.variants if v.runs_by_default and v.runs("fp32")}
    assert cells == expected
    measured = {r["backend"] for r in records if r["status"] == "ok"}
    assert measured == {"pytorch_cpu", "onnxruntime_cpu", "openvino"}
    summary = json.loads((results / "summary.json").read_text())
    assert len(summary["cells"]) == len(expected) and summary["schema_version"] == 3
    assert {c["record"] for c in summary["cells"]} == {str(p.relative_to(results)) for p in (results / "records").rglob("*.json")}
    csv_lines = (results / "summary.csv").read_text().splitlines()
    assert len(csv_lines) == len(expected) + 1 and csv_lines[0].startswith("machine,model,backend,variant,")
    assert (results / "latency.png").stat().st_size > 1000 and (results / "latency.svg").exists()
    assert not list(results.rglob("*.part"))
    # Readable as any other new file is (umask), not by the owner alone: results go to shared file systems.
    umask = os.umask(0)
    os.umask(umask)
    written = [results / name for name in ("table.md", "summary.csv", "summary.json", "latency.png", "latency.svg")]
    written += list((results / "records").rglob("*.json")) + [results / "model" / "resnet18" / "model_weights.pth"]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {oct(0o666 & ~umask)}


def test_training_really_trained(finished_workflow):
    card = json.loads((finished_workflow / "results" / "model" / "resnet18" / "model_card.json").read_text())
    losses = [e["loss"] for e in card["history"]["head_epochs"]]
    assert len(losses) == TINY_CONFIG["train"]["head"]["epochs"]
    assert losses[-1] < losses[0]
    assert card["trainable"] == "head" and card["train_images"] == 96
    assert card["val_images"] == 64 and card["val_top1"] > 0.5  # ten classes: chance is 0.1
    assert card["architecture"] == "resnet18" and card["classes"] == [str(d) for d in range(10)]
    assert card["versions"]["torch"]


def test_second_run_has_nothing_to_do(finished_workflow):
    result = snakemake(finished_workflow, "-n", "--cores", "1", "results/table.md")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def _pip_install_into(target: Path, *requirements: str) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade", "--target", str(target), *requirements]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"could not install {requirements} for the rerun test: {result.stderr[-500:]}")


# Two real distributions of the `onnxruntime` module, installed one over the other into a folder that
# PYTHONPATH puts first, as `pip install onnxruntime==...` over onnxruntime-gpu would: the metadata
# of both stays, the files are the last one's.
MIXED_ONNXRUNTIME = {
    "onnxruntime over onnxruntime-openvino": (("onnxruntime-openvino==1.24.1", "onnxruntime==1.30.0"), "onnxruntime 1.30.0"),
    "onnxruntime-openvino over onnxruntime": (("onnxruntime==1.30.0", "onnxruntime-openvino==1.24.1"), "onnxruntime-openvino 1.24.1"),
}


@pytest.mark.parametrize("case", list(MIXED_ONNXRUNTIME))
def test_the_onnxruntime_that_is_imported_is_the_version_param_and_two_at_once_warn(finished_workflow, tmp_path, case):
    installs, imported = MIXED_ONNXRUNTIME[case]
    for requirement in installs:
        _pip_install_into(tmp_path, requirement)
    result = snakemake(finished_workflow, "-n", "--cores", "1", "results/table.md", env={"PYTHONPATH": str(tmp_path)})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert _planned_jobs(output) == ONNXRUNTIME_RULES
    assert "Params have changed since last execution" in output
    assert f"now: {{'onnxruntime': '{imported}'" in output
    listed = ", ".join(f"{name} {version}" for name, version in sorted(r.split("==") for r in installs))
    assert (f"warning: onnxruntime: {listed} are installed at once and write the same 'onnxruntime' module; "
            f"what is imported is {imported}.") in output


TIMING_RULES = {f"time_{b}" for b in BACKENDS}


@pytest.fixture(scope="module")
def own_code_workflow(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny workflow run from a private copy of the code, whose modules a test may edit."""
    code = copy_code(tmp_path_factory.mktemp("code"))
    workdir = tmp_path_factory.mktemp("own-code-workflow")
    write_config(workdir, TINY_CONFIG)
    result = snakemake(workdir, "--cores", "2", "results/table.md", repo=code)
    assert result.returncode == 0, result.stderr[-4000:]
    return code, workdir


@pytest.mark.parametrize(
    "module, rules",
    [
        ("report/fastest.py", {"aggregate"}),
        ("measuring/backends/openvino.py", {"time_openvino", "aggregate"}),
        ("measuring/harness.py", TIMING_RULES | {"aggregate"}),
        ("measuring/backends/cuda.py", {f"time_{b.name}" for b in BACKENDS.values() if b.is_gpu} | {"aggregate"}),
        ("measuring/backends/onnxruntime.py", {"time_onnxruntime_cpu", "time_onnxruntime_cuda", "time_onnxruntime_tensorrt", "aggregate"}),
        ("model/training.py", {"train", "reference_outputs", "export_onnx", "check_onnx", "aggregate"} | TIMING_RULES),
    ],
)
def test_editing_a_module_reruns_exactly_the_rules_whose_scripts_import_it(own_code_workflow, module, rules):
    code, workdir = own_code_workflow
    path = code / "src" / "infbench" / module
    original = path.read_text()
    path.write_text(original + "\n# an edit\n")
    try:
        result = snakemake(workdir, "-n", "--cores", "1", "results/table.md", repo=code)
    finally:
        path.write_text(original)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert _planned_jobs(output) == rules
    assert "Params have changed since last execution" in output and f"'src/infbench/{module}': '" in output
    # Undone, the edit reruns nothing: Snakemake compares the files' contents, not only their times.
    again = snakemake(workdir, "-n", "--cores", "1", "results/table.md", repo=code)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.parametrize(
    "config, message",
    [
        ({"benchmark": {"backends": ["pytorch_cpu", "tflite"]}}, "config error: benchmark.backends[1]: 'tflite' is not one of"),
        ({"benchmark": {"variants": {"pytorch_cuda": ["eager", "tensorrt"]}}},
         "config error: benchmark.variants.pytorch_cuda[1]: 'tensorrt' is not a variant of pytorch_cuda (allowed: eager, "
         "channels_last, compile, compile_cudagraphs, compile_max_autotune)"),
        ({"machines": {"gpu": {"partition": "gpu"}}}, "config error: machines.gpu: 'cpus' is a required property"),
        ({"model": {"architecture": "resnet51"}}, "config error: model.architecture: 'resnet51' is not a torchvision classification model (nearest: resnet50"),
        ({"benchmark": {"iterations": 0}}, "config error: benchmark.iterations: 0 is less than the minimum of 1"),
        ({"benchmark": {"batch_sizes": [-1]}}, "config error: benchmark.batch_sizes[0]: -1 is less than the minimum of 1"),
        ({"data": {"path": "missing-images"}}, "config error: data.path: 'missing-images' does not exist"),
        ({"model": {"image_size": 8}}, "config error: model.image_size: resnet50 cannot take 8x8 images (allowed: 32 to 1024 pixels)"),
        ({"compare": {"baseline": "missing-run"}}, "config error: compare.baseline: 'missing-run' does not exist and is not a time"),
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
        ("model/resnet18/model_weights.pth", "results/model/resnet18/onnx_model.onnx",
         "results/model/resnet18/model_weights.pth: not a readable PyTorch checkpoint ("),
        ("model/resnet18/onnx_model.onnx", "results/model/resnet18/onnx_check.json",
         "results/model/resnet18/onnx_model.onnx: ONNX Runtime cannot load it ("),
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


OPENVINO_RECORD = "results/records/local/resnet18/openvino/latency/fp32_bs1.json"
ORT_RECORD = "results/records/local/resnet18/onnxruntime_cpu/default/fp32_bs1.json"


def test_a_finished_run_moved_or_cloned_elsewhere_plans_nothing(own_code_workflow, tmp_path):
    code, workdir = own_code_workflow
    moved_code, moved_run = tmp_path / "elsewhere" / "code", tmp_path / "elsewhere" / "run"
    shutil.copytree(code, moved_code, symlinks=True)
    shutil.copytree(workdir, moved_run, symlinks=True)
    for path in moved_code.rglob("*"):  # a fresh clone: every source file newer than the results
        if path.is_file() and not path.is_symlink():
            os.utime(path)
    result = snakemake(moved_run, "-n", "--cores", "1", "results/table.md", repo=moved_code)
    assert "Nothing to be done" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]


def test_the_benchmarks_threads_rerun_the_measurements_and_not_training(finished_workflow):
    result = snakemake(finished_workflow, "-n", "--cores", "1", "results/table.md", "--config", 'benchmark={"threads": 1}')
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert _planned_jobs(output) == TIMING_RULES | {"aggregate"}


def test_a_deleted_record_or_summary_is_made_again_and_then_nothing_is_planned(workflow_copy):
    (workflow_copy / OPENVINO_RECORD).unlink()
    plan = snakemake(workflow_copy, "-n", "--cores", "1", "results/table.md")
    assert _planned_jobs(plan.stdout + plan.stderr) == {"time_openvino", "aggregate"}
    assert f"records were missing: {OPENVINO_RECORD}" in plan.stdout + plan.stderr
    assert snakemake(workflow_copy, "--cores", "1", "results/table.md").returncode == 0
    assert (workflow_copy / OPENVINO_RECORD).exists()
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(workflow_copy, "-n", "--cores", "1", "results/table.md"))
    (workflow_copy / "results" / "summary.json").unlink()
    plan = snakemake(workflow_copy, "-n", "--cores", "1", "results/table.md")
    assert _planned_jobs(plan.stdout + plan.stderr) == {"aggregate"}
    assert snakemake(workflow_copy, "--cores", "1", "results/table.md").returncode == 0
    again = snakemake(workflow_copy, "-n", "--cores", "1", "results/table.md")
    assert "Nothing to be done" in again.stdout + again.stderr
    cited = [c["record"] for c in json.loads((workflow_copy / "results" / "summary.json").read_text())["cells"]]
    assert all((workflow_copy / "results" / path).exists() for path in cited)


def test_a_record_whose_figures_contradict_each_other_is_called_out_not_shown(workflow_copy):
    path = workflow_copy / ORT_RECORD
    record = json.loads(path.read_text())
    stats = record["timing"]["end_to_end"]["host_ms"]
    stats["mean"] = stats["min"] / 10  # a hand edit: faster than its own fastest call
    path.write_text(json.dumps(record))
    result = snakemake(workflow_copy, "--cores", "1", "results/table.md")
    assert result.returncode == 0, result.stderr[-2000:]
    markdown = (workflow_copy / "results" / "table.md").read_text()
    assert _table_rows(markdown)["CPU"][1].startswith("✗ inconsistent record[^")
    assert "onnxruntime_cpu on local (CPU provider, fp32, batch 1): inconsistent, the record's figures disagree with each other: " \
           "end to end host: mean" in markdown


PYTORCH_RECORD = "results/records/local/resnet18/pytorch_cpu/eager/fp32_bs1.json"


def test_a_record_copied_over_another_cell_or_ok_with_failed_parity_is_called_out_not_shown(workflow_copy):
    shutil.copy(workflow_copy / ORT_RECORD, workflow_copy / PYTORCH_RECORD)  # cp one cell's record over another's
    path = workflow_copy / OPENVINO_RECORD
    record = json.loads(path.read_text())
    record["parity"] |= {"passed": False, "failures": ["top-1 agreement 0.5 < 0.99"]}  # still "ok"
    path.write_text(json.dumps(record))
    result = snakemake(workflow_copy, "--cores", "1", "results/table.md")
    assert result.returncode == 0, result.stderr[-2000:]
    markdown = (workflow_copy / "results" / "table.md").read_text()
    study = _table_rows(markdown)
    assert study["CPU"][0].startswith("✗ inconsistent record[^") and MEASURED_CELL.fullmatch(study["CPU"][1])
    assert ("pytorch_cpu on local (eager, fp32, batch 1): inconsistent, the record is of another cell: backend "
            f"onnxruntime_cpu, not pytorch_cpu as its path {PYTORCH_RECORD.removeprefix('results/')} says, variant "
            "default, not eager as its path") in markdown
    assert "not in benchmark.backends" not in markdown
    assert "openvino on local (latency hint, fp32, batch 1): inconsistent, status ok but its parity check failed" in markdown
    fastest = _table_rows(markdown, "| Runtime")  # channels-last is PyTorch's other variant, its own record
    ort_mean = format_ms(read_record(workflow_copy / ORT_RECORD).timing.end_to_end.host_ms.mean)
    assert "(eager, fp32)" not in fastest["PyTorch, CPU"][0] and ort_mean not in fastest["PyTorch, CPU"][0]
    assert not fastest["OpenVINO, CPU"][0].endswith("(latency hint, fp32)"), fastest["OpenVINO, CPU"]
    rows = {(c["backend"], c["variant"]): c for c in json.loads((workflow_copy / "results" / "summary.json").read_text())["cells"]}
    for key in (("pytorch_cpu", "eager"), ("openvino", "latency")):
        assert rows[key]["status"] == "inconsistent" and rows[key]["end_to_end"] is None  # no number, anywhere
    assert rows[("onnxruntime_cpu", "default")]["status"] == "ok"  # the record copied is still its own cell's


def _process_running(script: str, workdir: Path):
    import psutil

    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if script in cmdline and process.info["cwd"] == str(workdir):
            return process
    return None


def test_a_killed_measurement_keeps_its_log_in_the_error_and_the_next_run_measures_it_again(workflow_copy):
    log = workflow_copy / "results/logs/local/resnet18/time_openvino/latency/fp32_bs1.log"
    slow = ["--config", 'benchmark={"min_time_s": 120, "max_time_s": 600}']
    target = [OPENVINO_RECORD, "--forcerun", "time_openvino", *slow]
    job = subprocess.Popen([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workflow_copy),
                            "--cores", "1", *target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = Path(f"{log}.attempt1")  # the first attempt's copy of its log, there while it runs
    deadline = time.monotonic() + 300
    while not (running.exists() and "parity on" in running.read_text()) and time.monotonic() < deadline:
        time.sleep(0.5)
    measuring = _process_running("time_backend.py", workflow_copy)
    assert measuring is not None, "the measuring job was not seen"
    measuring.kill()  # as the out-of-memory killer would
    output, _ = job.communicate(timeout=300)
    assert job.returncode == 0, output[-3000:]  # the retry wrote the cell's error: the run goes on
    record = json.loads((workflow_copy / OPENVINO_RECORD).read_text())
    assert record["status"] == "error" and record["retryable"] is True and record["attempt"] == 2
    assert record["reason"].startswith("the measuring job on local ended without a record (killed, cancelled or crashed) "
                                       "in attempt 1; its log (results/logs/local/resnet18/time_openvino/latency/fp32_bs1.log"
                                       ".attempt1) ends with: ")
    assert "parity on" in record["reason"]  # what the killed attempt was doing
    assert running.exists() and "parity on" in running.read_text()  # kept, for whoever reads the error
    plan = snakemake(workflow_copy, "-n", "--cores", "1", *target[:1], *slow)
    assert _planned_jobs(plan.stdout + plan.stderr) == {"time_openvino"}
    assert "ended in an error that may pass" in plan.stdout + plan.stderr


def test_an_attempt_that_fails_on_a_bad_input_fails_with_its_own_cause_not_as_killed(workflow_copy):
    onnx = workflow_copy / "results/model/resnet18/onnx_model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:4096])
    result = snakemake(workflow_copy, "--cores", "1", OPENVINO_RECORD)
    assert result.returncode != 0
    assert "results/model/resnet18/onnx_model.onnx: OpenVINO cannot read it (" in result.stderr
    assert "ended without a record" not in result.stderr
    assert not (workflow_copy / OPENVINO_RECORD).exists()  # no error record standing in for the cause


def test_measurements_never_overlap_whatever_resources_the_command_line_gives(workflow_copy):
    rules = ["time_openvino", "time_onnxruntime_cpu", "time_pytorch_cpu"]  # 4 cells, all started together
    result = snakemake(workflow_copy, "results/table.md", "--cores", "4", "--resources", "gpu=1", "--forcerun", *rules)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = [r for r in load_records(sorted((workflow_copy / "results" / "records").glob("*/*/*/*/*.json"))) if r.status == "ok"]
    spans = [(r.isolation.started_utc, r.isolation.ended_utc, r.backend, r.variant) for r in measured]
    assert len(spans) == 4
    assert any(r.isolation.waited_s > 0 for r in measured)  # Snakemake started them together; the lock kept them apart
    spans.sort()
    for (_, end, *first), (start, _, *second) in zip(spans, spans[1:]):
        assert end <= start, f"{first} and {second} measured at the same time"


TWO_MODELS = {
    **TINY_CONFIG,
    "models": [{"architecture": "resnet18"}, {"architecture": "mobilenet_v3_small", "name": "mobilenet"}],
    "benchmark": {**TINY_CONFIG["benchmark"], "backends": ["pytorch_cpu", "onnxruntime_cpu"]},
}


@pytest.fixture(scope="module")
def two_models(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("two-models")
    write_config(workdir, TWO_MODELS)
    shutil.copy(REPO / "tests" / "tiny_net.py", workdir / "tiny_net.py")  # a user's own model, in the working directory
    result = snakemake(workdir, "--cores", "2", "results/table.md")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_several_models_are_measured_each_in_its_own_cells_and_compared_across(two_models):
    records = {p.relative_to(two_models / "results" / "records").parts[:3]
               for p in (two_models / "results" / "records").rglob("*.json")}
    assert records == {("local", model, backend) for model in ("resnet18", "mobilenet") for backend in ("pytorch_cpu", "onnxruntime_cpu")}
    summary = json.loads((two_models / "results" / "summary.json").read_text())
    assert list(summary["models"]) == ["resnet18", "mobilenet"]
    assert summary["models"]["mobilenet"]["card"]["architecture"] == "mobilenet_v3_small"
    markdown = (two_models / "results" / "table.md").read_text()
    for heading in ("## Across models", "### Latency, batch 1", "### Throughput", "## resnet18", "## mobilenet"):
        assert heading in markdown, heading
    matrix = _table_rows(markdown.split("### Latency, batch 1")[1].strip(), "| Model")
    assert set(matrix) == {"resnet18", "mobilenet"}
    assert all("top-1 " in cell for cells in matrix.values() for cell in cells)  # accuracy beside each number
    assert len(list((two_models / "results" / "data").iterdir())) == 1  # one image size: the data is prepared once


def test_adding_a_model_reruns_nothing_of_the_models_already_measured(two_models):
    config = {**TWO_MODELS, "models": [*TWO_MODELS["models"], {"architecture": "tiny_net:build", "name": "tiny"}]}
    write_config(two_models, config)
    try:
        result = snakemake(two_models, "-n", "--cores", "1", "results/table.md")
    finally:
        write_config(two_models, TWO_MODELS)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    planned = re.findall(r"^\s+wildcards: (.*)$", output, re.MULTILINE)
    assert planned and all("model=tiny" in line for line in planned), planned
    assert _planned_jobs(output) == {"train", "reference_outputs", "export_onnx", "check_onnx", "time_pytorch_cpu",
                                     "time_onnxruntime_cpu", "aggregate"}


def _section(markdown: str, heading: str) -> str:
    return markdown.split(f"## {heading}\n")[1].split("\n## ")[0]


def test_a_rerun_after_a_code_edit_and_a_new_onnxruntime_says_what_changed(workflow_copy, tmp_path):
    """The measurements a rerun replaces stay in results/history, and table.md's "What changed" names what differs."""
    (tmp_path / "code").mkdir()
    code = copy_code(tmp_path / "code")
    backend = code / "src" / "infbench" / "measuring" / "backends" / "openvino.py"
    call = "            infer_request.infer({0: x})\n"
    backend.write_text(backend.read_text().replace(call, call * 2))  # what runs changes: every call infers twice
    onnxruntime = tmp_path / "onnxruntime"
    _pip_install_into(onnxruntime, "onnxruntime==1.30.0")
    before = {path: json.loads((workflow_copy / path).read_text()) for path in (OPENVINO_RECORD, ORT_RECORD)}
    if before[ORT_RECORD]["versions"]["onnxruntime"] == "1.30.0":
        pytest.skip("onnxruntime 1.30.0 is what this environment has already")
    env = {"PYTHONPATH": str(onnxruntime)}
    result = snakemake(workflow_copy, "--cores", "2", "results/table.md", repo=code, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert _planned_jobs(output) == ONNXRUNTIME_RULES | {"time_openvino"}
    after = json.loads((workflow_copy / OPENVINO_RECORD).read_text())
    history = sorted((workflow_copy / "results" / "history" / "local" / "resnet18" / "openvino" / "latency" / "fp32_bs1").glob("*.json"))
    assert [json.loads(p.read_text()) for p in history] == [before[OPENVINO_RECORD], after]
    changed = _section((workflow_copy / "results" / "table.md").read_text(), "What changed")
    path = "src/infbench/measuring/backends/openvino.py"
    assert f"{path} {before[OPENVINO_RECORD]['code'][path]} → {after['code'][path]}" in changed
    assert f"onnxruntime {before[ORT_RECORD]['versions']['onnxruntime']} → 1.30.0" in changed
    again = snakemake(workflow_copy, "-n", "--cores", "1", "results/table.md", repo=code, env=env)
    assert "Nothing to be done" in again.stdout + again.stderr
