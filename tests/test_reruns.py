"""What a second run plans: a fault repaired as often as it occurs, a table that survives an unreadable record,
the outputs the README's command makes again, and settings or files that reach only the steps that use them."""

import json
import os
import random
import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import REPO, TINY_CONFIG, copy_code, snakemake, write_config
from test_workflow import OPENVINO_RECORD, ORT_RECORD, _planned_jobs, _table_rows

from infbench.planning.cells import cell_of_record
from infbench.results.records import error_record, read_record, write_record

TIMING_AND_TABLE = {"time_openvino", "aggregate"}


def _output(result) -> str:
    return result.stdout + result.stderr


def _plan(workdir: Path, *args: str, **kwargs) -> set[str]:
    """The rules a dry run of the README's command plans (empty where it says "Nothing to be done")."""
    result = snakemake(workdir, "-n", "--cores", "1", "results/table.md", *args, **kwargs)
    output = _output(result)
    assert result.returncode == 0, output[-3000:]
    return set() if "Nothing to be done" in output else _planned_jobs(output)


def _run(workdir: Path, *args: str, **kwargs) -> str:
    result = snakemake(workdir, "--cores", "1", "results/table.md", *args, **kwargs)
    assert result.returncode == 0, _output(result)[-3000:]
    return _output(result)


def _repaired(workdir: Path, planned: set[str]) -> None:
    """The fault plans `planned`, in a dry run as often as asked (a dry run repairs nothing); the run repairs it."""
    assert _plan(workdir) == planned
    assert _plan(workdir) == planned
    _run(workdir)
    assert _plan(workdir) == set()


def test_a_summary_deleted_again_and_again_is_made_again_each_time(workflow_copy):
    summary = workflow_copy / "results" / "summary.json"
    for _ in range(3):
        summary.unlink()
        _repaired(workflow_copy, {"aggregate"})
        assert json.loads(summary.read_text())["cells"]


def test_a_record_truncated_again_and_again_is_measured_again_each_time(workflow_copy, tmp_path):
    record = workflow_copy / OPENVINO_RECORD
    record.write_bytes(record.read_bytes()[:100])
    _repaired(workflow_copy, TIMING_AND_TABLE)
    first = read_record(record)
    # The same broken file each time: the same bytes, with the same modification time (copy2 keeps it).
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"")
    for _ in range(2):
        shutil.copy2(broken, record)
        _repaired(workflow_copy, TIMING_AND_TABLE)
        assert read_record(record).status == "ok" and read_record(record).created_utc >= first.created_utc
        assert (workflow_copy / "results" / "table.md").exists() and (workflow_copy / "results" / "latency.png").exists()


def _retryable_error(record: Path, created_utc: str) -> None:
    """The record a cell gets when its job ran out of memory on a busy GPU: an error that may pass."""
    cell = cell_of_record(record)
    error = error_record(cell, "RuntimeError: CUDA out of memory", retryable=True)
    write_record(record, error.model_copy(update={"created_utc": created_utc}))


def test_faults_of_different_kinds_in_turn_are_each_repaired(workflow_copy):
    results = workflow_copy / "results"
    record = workflow_copy / OPENVINO_RECORD
    faults = [
        (lambda: record.write_bytes(record.read_bytes()[:50]), TIMING_AND_TABLE),
        (lambda: (results / "summary.json").unlink(), {"aggregate"}),
        (lambda: _retryable_error(record, "2026-01-01T00:00:00+00:00"), TIMING_AND_TABLE),
        (lambda: (results / "latency.png").unlink(), {"aggregate"}),
        (lambda: _retryable_error(record, "2026-01-01T00:00:00+00:00"), TIMING_AND_TABLE),  # the same error again
        (lambda: record.write_bytes(record.read_bytes()[:50]), TIMING_AND_TABLE),
    ]
    for fault, planned in faults:
        fault()
        _repaired(workflow_copy, planned)


def test_a_retryable_error_says_why_the_cell_is_measured_again(workflow_copy):
    _retryable_error(workflow_copy / OPENVINO_RECORD, "2026-01-01T00:00:00+00:00")
    plan = snakemake(workflow_copy, "-n", "--cores", "1", "results/table.md")
    assert _planned_jobs(_output(plan)) == TIMING_AND_TABLE
    assert "the attempt of 2026-01-01T00:00:00+00:00 ended in an error that may pass: RuntimeError: CUDA out of memory" in _output(plan)


def test_a_repair_that_fails_is_tried_again_by_the_next_run(workflow_copy):
    record = workflow_copy / OPENVINO_RECORD
    onnx = workflow_copy / "results" / "model" / "resnet18" / "onnx_model.onnx"
    good, times = onnx.read_bytes(), (onnx.stat().st_atime_ns, onnx.stat().st_mtime_ns)
    record.write_bytes(record.read_bytes()[:100])
    onnx.write_bytes(good[:4096])  # OpenVINO cannot read it: measuring the cell again fails
    os.utime(onnx, ns=times)  # with its old time, nothing else sees it
    failed = snakemake(workflow_copy, "--cores", "1", "results/table.md")
    assert failed.returncode != 0 and "OpenVINO cannot read it" in failed.stderr
    onnx.write_bytes(good)
    os.utime(onnx, ns=times)
    _repaired(workflow_copy, TIMING_AND_TABLE)
    assert read_record(record).status == "ok"


def test_an_unreadable_record_is_shown_as_such_and_the_rest_of_the_table_is_written(workflow_copy):
    results = workflow_copy / "results"
    record = workflow_copy / ORT_RECORD
    record.write_text('{"schema_version": 3, "backend": "onnxruntime_cpu"')
    _run(workflow_copy, "--allowed-rules", "aggregate")  # the cell is not measured again in this run: the table is made
    markdown = (results / "table.md").read_text()
    cpu = _table_rows(markdown)["CPU"]
    assert cpu[0][0].isdigit() and cpu[1].startswith("✗ unreadable record[^")
    assert (f"onnxruntime_cpu on local (CPU provider, fp32, batch 1): unreadable, {ORT_RECORD}: not a readable record ("
            in markdown)
    assert "the next run measures it again" in markdown
    rows = json.loads((results / "summary.json").read_text())["cells"]
    assert [r["status"] for r in rows if r["backend"] == "onnxruntime_cpu"] == ["unreadable"]
    assert sum(r["status"] == "ok" for r in rows) == 3  # PyTorch's two variants and OpenVINO
    assert len((results / "summary.csv").read_text().splitlines()) == len(rows) + 1 and (results / "latency.png").exists()
    _repaired(workflow_copy, {"time_onnxruntime_cpu", "aggregate"})
    assert read_record(record).status == "ok"


@pytest.mark.parametrize("name", ["latency.png", "summary.csv", "latency.svg"])
def test_a_deleted_output_of_the_aggregate_is_made_again_by_the_readme_command(workflow_copy, name):
    path = workflow_copy / "results" / name
    for _ in range(2):
        path.unlink()
        _repaired(workflow_copy, {"aggregate"})
        assert path.stat().st_size > 0


def test_a_repaired_run_moved_elsewhere_plans_nothing(workflow_copy, tmp_path):
    record = workflow_copy / OPENVINO_RECORD
    record.write_bytes(b"")
    _run(workflow_copy)
    moved = tmp_path / "moved"
    shutil.copytree(workflow_copy, moved, symlinks=True)
    assert _plan(moved) == set()


def _copy_without_times(source: Path, target: Path, seed: int = 0, keeping: tuple[str, ...] = ()) -> None:
    """A copy as `cp -r`, `rsync -r` or a clone makes it: every file and folder with a new time, in no particular
    order; the folders named in `keeping` copied with their times (`rsync -a`)."""
    shutil.copytree(source, target, symlinks=True, copy_function=shutil.copy, ignore=shutil.ignore_patterns(*keeping))
    for name in keeping:
        shutil.copytree(source / name, target / name, symlinks=True)
    paths = [p for p in target.rglob("*") if not p.is_symlink() and not any(p.is_relative_to(target / k) for k in keeping)]
    random.Random(seed).shuffle(paths)
    copied = time.time() - 600  # the copy was made a while ago, in no order
    for i, path in enumerate(paths):
        os.utime(path, (copied + i / 1000, copied + i / 1000))


def _planned_models(workdir: Path, **kwargs) -> tuple[set[str], set[str]]:
    """The rules a dry run plans, and the models named in their wildcards."""
    result = snakemake(workdir, "-n", "--cores", "1", "results/table.md", **kwargs)
    output = _output(result)
    assert result.returncode == 0, output[-3000:]
    if "Nothing to be done" in output:
        return set(), set()
    return _planned_jobs(output), set(re.findall(r"^\s+wildcards: .*?model=([^,\s]+)", output, re.MULTILINE))


def test_a_finished_run_copied_without_its_times_plans_nothing(finished_workflow, tmp_path):
    for seed in range(2):
        copy = tmp_path / f"copy{seed}"
        _copy_without_times(finished_workflow, copy, seed)
        assert _plan(copy) == set()


ONNX_READERS = {"check_onnx", "time_onnxruntime_cpu", "time_onnxruntime_cuda", "time_onnxruntime_tensorrt", "time_openvino",
                "aggregate"}


def test_a_file_replaced_inside_results_reruns_what_is_made_from_it(finished_workflow, tmp_path):
    copy = tmp_path / "copy"
    _copy_without_times(finished_workflow, copy)
    model = copy / "results" / "model" / "resnet18"
    onnx = model / "onnx_model.onnx"
    original = onnx.read_bytes()
    onnx.write_bytes(original + b"\0")  # another file in its place
    assert _plan(copy) == ONNX_READERS
    onnx.write_bytes(original)  # the same content again, with a new time
    assert _plan(copy) == set()
    weights = model / "model_weights.pth"
    weights.write_bytes(weights.read_bytes() + b"\0")
    planned = _plan(copy)
    assert {"export_onnx", "reference_outputs", "time_pytorch_cpu", "aggregate"} <= planned
    assert not {"prepare_data", "train"} & planned


def test_the_noisy_threshold_reaches_the_report_alone(workflow_copy):
    assert _plan(workflow_copy, "--config", 'benchmark={"noisy_cv": 0.5}') == {"aggregate"}
    results = workflow_copy / "results"
    for noisy_cv, marked in (("0.000001", True), ("1000000.0", False)):
        _run(workflow_copy, "--config", f'benchmark={{"noisy_cv": {noisy_cv}}}')
        cpu = _table_rows((results / "table.md").read_text())["CPU"][:2]
        assert all((" ~[^" in cell) == marked for cell in cpu), cpu
        assert all(row["end_to_end"]["noisy"] == marked for row in json.loads((results / "summary.json").read_text())["cells"]
                   if row["status"] == "ok")


def test_benchmark_settings_of_the_gpu_or_another_precision_do_not_rerun_cpu_cells(finished_workflow):
    gpu_rules = {"time_pytorch_cuda", "time_onnxruntime_cuda", "time_onnxruntime_tensorrt", "time_tensorrt", "time_torch2trt",
                 "aggregate"}
    assert _plan(finished_workflow, "--config", 'benchmark={"allow_tf32": true}') == gpu_rules
    assert _plan(finished_workflow, "--config", 'benchmark={"workspace_mb": 2048}') == gpu_rules
    int8 = {**TINY_CONFIG["parity"], "tolerances": {"int8": {"max_rel_diff": 0.5}}}
    assert _plan(finished_workflow, "--config", f"parity={json.dumps(int8)}") == set()


# A run that reads files of its own: an ImageFolder dataset, starting weights used as they are, a model given as an
# ONNX file, and a model of the user's own module.
SOURCES_CONFIG = {
    **TINY_CONFIG,
    "data": {"path": "mydata"},
    "models": [{"architecture": "resnet18", "weights": "start.pth", "trainable": "none", "name": "r18"},
               {"architecture": "tiny_net:build", "name": "tiny"}, {"onnx": "given.onnx", "name": "given"}],
    "benchmark": {**TINY_CONFIG["benchmark"], "backends": ["onnxruntime_cpu"]},
}
EVERY_STEP = {"prepare_data", "train", "import_onnx", "export_onnx", "reference_outputs", "check_onnx", "time_onnxruntime_cpu",
              "aggregate"}
MODEL_STEPS = {"train", "export_onnx", "reference_outputs", "check_onnx", "time_onnxruntime_cpu", "aggregate"}


def _save_weights(path: Path, seed: int) -> None:
    import torch

    from infbench.model.models import build_model, save_state_dict

    torch.manual_seed(seed)
    save_state_dict(build_model("resnet18", 10).eval(), path)


@pytest.fixture(scope="module")
def own_files(tmp_path_factory) -> Path:
    import torch

    from infbench.model.data import write_digits
    from infbench.model.export import export_onnx
    from infbench.model.models import load_trained

    workdir = tmp_path_factory.mktemp("own-files")
    write_digits(workdir / "mydata", 16, 0.2, 0)
    _save_weights(workdir / "start.pth", 0)
    torch.manual_seed(0)
    export_onnx(load_trained(workdir / "start.pth", "resnet18", 10), 32, workdir / "given.onnx", opset=18, exporter="dynamo",
                half=False)
    shutil.copy(REPO / "tests" / "tiny_net.py", workdir / "tiny_net.py")
    write_config(workdir, SOURCES_CONFIG)
    result = snakemake(workdir, "--cores", "2", "results/table.md")
    assert result.returncode == 0, _output(result)[-4000:]
    return workdir


def _class_deleted(workdir: Path, keep: Path):
    for split in ("train", "val"):
        (workdir / "mydata" / split / "3").rename(keep / split)
    return lambda: [(keep / split).rename(workdir / "mydata" / split / "3") for split in ("train", "val")]


def _image_added(workdir: Path, keep: Path):
    first = sorted((workdir / "mydata" / "train" / "0").iterdir())[0]
    shutil.copy2(first, first.with_name("added.png"))  # with the first image's time: the name alone is new
    return first.with_name("added.png").unlink


def _image_replaced(workdir: Path, keep: Path):
    first, second = sorted((workdir / "mydata" / "train" / "0").iterdir())[:2]
    shutil.copy2(first, keep / "original.png")
    shutil.copy(second, first)

    def undo():
        shutil.copy2(keep / "original.png", first)

    return undo


@pytest.mark.parametrize("change", [_class_deleted, _image_added, _image_replaced])
def test_a_change_of_the_dataset_reruns_the_data_and_what_is_made_from_it(own_files, tmp_path, change):
    undo = change(own_files, tmp_path)
    try:
        assert _plan(own_files) == EVERY_STEP
    finally:
        undo()
    assert _plan(own_files) == set()


def test_overwritten_starting_weights_rerun_their_model_alone(own_files, tmp_path):
    weights = own_files / "start.pth"
    original = weights.read_bytes()
    _save_weights(weights, 1)
    try:
        assert _planned_models(own_files) == (MODEL_STEPS, {"r18"})
    finally:
        weights.write_bytes(original)  # the same weights again, with a new time
    assert _plan(own_files) == set()


def test_an_overwritten_onnx_file_reruns_its_import_and_what_is_made_from_it(own_files):
    onnx = own_files / "given.onnx"
    original = onnx.read_bytes()
    onnx.write_bytes(original + b"\0")
    try:
        assert _planned_models(own_files) == ({"import_onnx", "reference_outputs", "check_onnx", "time_onnxruntime_cpu",
                                               "aggregate"}, {"given"})
    finally:
        onnx.write_bytes(original)
    assert _plan(own_files) == set()


def test_an_edit_of_a_models_own_module_trains_it_again(own_files):
    module = own_files / "tiny_net.py"
    original = module.read_text()
    module.write_text(original + "\n# an edit\n")
    try:
        assert _planned_models(own_files) == (MODEL_STEPS, {"tiny"})
    finally:
        module.write_text(original)
    assert _plan(own_files) == set()


def test_a_run_with_its_own_files_copied_without_times_plans_nothing_where_the_dataset_keeps_them(own_files, tmp_path):
    copy = tmp_path / "copy"
    _copy_without_times(own_files, copy, keeping=("mydata",))
    assert _plan(copy) == set()
    for image in (copy / "mydata").rglob("*.png"):  # the dataset's times are what tells a replaced image
        os.utime(image)
    assert _plan(copy) == EVERY_STEP


INT8_CONFIG = {
    **TINY_CONFIG,
    "benchmark": {**TINY_CONFIG["benchmark"], "backends": ["onnxruntime_cpu", "openvino"], "precisions": ["int8"],
                  "variants": {"onnxruntime_cpu": ["qdq_u8s8"], "openvino": ["int8_nncf"]}},
    "quantization": {"calibration_images": 32},
}


@pytest.fixture(scope="module")
def int8_workflow(tmp_path_factory) -> tuple[Path, Path]:
    """An int8 run (ONNX Runtime's QDQ recipe and NNCF's) made from a private copy of the code, whose modules a test may edit."""
    code = copy_code(tmp_path_factory.mktemp("int8-code"))
    workdir = tmp_path_factory.mktemp("int8")
    write_config(workdir, INT8_CONFIG)
    result = snakemake(workdir, "--cores", "2", "results/table.md", repo=code)
    assert result.returncode == 0, _output(result)[-4000:]
    return code, workdir


@pytest.mark.parametrize(
    "module, planned, recipe",
    [("measuring/quantization/onnxruntime.py", {"quantize", "time_onnxruntime_cpu", "aggregate"}, "qdq_u8s8"),
     ("measuring/quantization/nncf.py", {"quantize", "time_openvino", "aggregate"}, "nncf")],
)
def test_editing_a_quantizer_reruns_its_recipes_steps_alone(int8_workflow, module, planned, recipe):
    code, workdir = int8_workflow
    path = code / "src" / "infbench" / module
    original = path.read_text()
    path.write_text(original + "\n# an edit\n")
    try:
        result = snakemake(workdir, "-n", "--cores", "1", "results/table.md", repo=code)
    finally:
        path.write_text(original)
    output = _output(result)
    assert result.returncode == 0, output[-3000:]
    assert _planned_jobs(output) == planned
    assert re.findall(r"wildcards: model=resnet18, recipe=(\w+)", output) == [recipe]


def test_an_int8_run_copied_without_its_times_plans_nothing(int8_workflow, tmp_path):
    code, workdir = int8_workflow
    copy = tmp_path / "copy"
    _copy_without_times(workdir, copy)
    assert _plan(copy, repo=code) == set()
