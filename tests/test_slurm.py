"""The tiny workflow through a real SLURM cluster: two partitions of this machine as two machines.

The cluster is Debian's slurm-wlm on this host (tools/slurm_local.py), the executor the real
snakemake-executor-plugin-slurm with profiles/slurm. Where the test is not root or cannot install
SLURM, it is skipped with the reason.
"""

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TINY_CONFIG, load_script, snakemake, write_config

from infbench.artifacts import read_json

slurm_local = load_script(REPO / "tools" / "slurm_local.py")

PARTITIONS = ["cpu_a", "cpu_b"]
CANCELLED_CELL = "rule_time_pytorch_cpu_wildcards_cpu_b_resnet18_eager_fp32_1"  # the plugin's job comment for that cell
CONFIG = {
    **TINY_CONFIG,
    "benchmark": {**TINY_CONFIG["benchmark"], "backends": ["pytorch_cpu", "onnxruntime_cpu", "pytorch_cuda"],
                  "variants": {"pytorch_cpu": ["eager"], "pytorch_cuda": ["eager"]}},
    "machines": {name: {"partition": name, "cpus": 1, "mem_mb": 4000, "runtime_min": 30} for name in PARTITIONS},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if why := slurm_local.missing_requirements():
        pytest.skip(why)
    state = tmp_path_factory.mktemp("slurm")
    slurm_local.start(state, PARTITIONS)
    yield state
    stopped = slurm_local.stop(state)
    assert {"slurmctld", "slurmd"} <= set(stopped)


@pytest.fixture(scope="module")
def executor_plugin(tmp_path_factory) -> Path:
    """snakemake-executor-plugin-slurm as pinned, in a folder of its own (not in the workflow's requirements)."""
    target = tmp_path_factory.mktemp("slurm-plugin")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
           "-r", str(REPO / "requirements-slurm.txt")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-1000:]
    return target


def _cancel_when_queued(comment: str, done: threading.Event, cancelled: list) -> None:
    """Cancel the job whose comment is `comment` as soon as SLURM lists it, as an operator would."""
    while not done.is_set():
        queue = subprocess.run(["squeue", "-h", "-o", "%i|%k"], capture_output=True, text=True).stdout
        for line in queue.splitlines():
            job, _, job_comment = line.partition("|")
            if job_comment == comment:
                subprocess.run(["scancel", job], check=True)
                cancelled.append(job)
                return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def slurm_run(cluster, executor_plugin, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm-workflow")
    write_config(workdir, CONFIG)
    done, cancelled = threading.Event(), []
    canceller = threading.Thread(target=_cancel_when_queued, args=(CANCELLED_CELL, done, cancelled), daemon=True)
    canceller.start()
    start = time.monotonic()
    result = snakemake(
        workdir, "--workflow-profile", str(REPO / "profiles" / "slurm"), "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs", "results/table.md",
        env={"PYTHONPATH": str(executor_plugin)}, timeout=1200,
    )
    done.set()
    print(f"the tiny workflow through SLURM took {time.monotonic() - start:.0f} s")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return workdir, cluster, cancelled


def test_every_job_went_through_slurm_to_its_machines_partition(slurm_run):
    workdir, state, _ = slurm_run
    logs = workdir / ".snakemake" / "slurm_logs"
    for rule in ("prepare_data", "train", "export_onnx", "reference_outputs", "check_onnx"):
        assert list((logs / f"rule_{rule}").rglob("*.log")), rule
    for machine in PARTITIONS:
        for rule, variant in (("time_pytorch_cpu", "eager"), ("time_onnxruntime_cpu", "default"), ("time_pytorch_cuda", "eager")):
            assert list((logs / f"rule_{rule}" / f"{machine}_resnet18_{variant}_fp32_1").glob("*.log")), (rule, machine)
    # What SLURM told each measuring job: its job id and its machine's partition.
    for record in (workdir / "results" / "records").rglob("*.json"):
        machine = record.relative_to(workdir / "results" / "records").parts[0]
        slurm = read_json(record)["host"]["slurm"]
        assert slurm["partition"] == machine and int(slurm["job_id"]) > 0, (record, slurm)
        assert f"JobId={slurm['job_id']} " in (state / "log" / "slurmctld.log").read_text()


def test_each_machines_records_and_the_comparison_hold_both_partitions(slurm_run):
    workdir, _, _ = slurm_run
    records = workdir / "results" / "records"
    for machine in PARTITIONS:
        ort = read_json(records / machine / "resnet18" / "onnxruntime_cpu" / "default" / "fp32_bs1.json")
        assert ort["status"] == "ok" and ort["machine"] == machine and ort["host"]["hostname"]
        # A GPU cell on a machine without GPUs asks SLURM for no GPU (a partition without GPUs would refuse it).
        gpu = read_json(records / machine / "resnet18" / "pytorch_cuda" / "eager" / "fp32_bs1.json")
        assert gpu["status"] == "skipped" and "no CUDA device" in gpu["reason"]
    markdown = (workdir / "results" / "table.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| Runtime"))
    assert "cpu_a: latency, batch 1" in header and "cpu_b: latency, batch 1" in header
    assert "### cpu_a" in markdown and "### cpu_b" in markdown


def test_a_job_that_slurm_cancels_becomes_that_cells_error_and_the_rest_is_written(slurm_run):
    workdir, _, cancelled = slurm_run
    assert cancelled, "the job was never seen in squeue"
    record = read_json(workdir / "results" / "records" / "cpu_b" / "resnet18" / "pytorch_cpu" / "eager" / "fp32_bs1.json")
    assert record["status"] == "error"
    assert record["reason"].startswith("the measuring job on cpu_b ended without a record (killed, cancelled or crashed)")
    other = read_json(workdir / "results" / "records" / "cpu_a" / "resnet18" / "pytorch_cpu" / "eager" / "fp32_bs1.json")
    assert other["status"] == "ok"
    assert "pytorch_cpu on cpu_b (eager, fp32, batch 1): error, the measuring job on cpu_b ended without a record" in (
        workdir / "results" / "table.md").read_text()


def test_a_partition_that_slurm_does_not_know_is_a_config_error(cluster, tmp_path):
    write_config(tmp_path, {**CONFIG, "machines": {"gpu": {"partition": "gpu_h200", "cpus": 4}}})
    result = snakemake(tmp_path, "-n", "--cores", "1", "results/table.md")
    assert result.returncode == 1
    assert "config error: machines.gpu.partition: 'gpu_h200' is not a partition of this SLURM cluster (it has: cpu_a, cpu_b)" in result.stderr


def test_every_measuring_job_asks_slurm_for_its_node_alone_and_no_other_job_does(tmp_path):
    """Timing and serving rules of every backend in the catalogue (not a list in the profile, which missed the serving
    rules): --exclusive in the resources the SLURM executor reads; the steps that measure nothing share their node."""
    serving = {"scenarios": ["SingleStream", "Offline"], "backends": ["onnxruntime_cpu"]}
    write_config(tmp_path, CONFIG | {"serving": serving})
    plan = snakemake(tmp_path, "-n", "--cores", "1", "results/table.md")
    assert plan.returncode == 0, (plan.stdout + plan.stderr)[-3000:]
    blocks = [b for b in re.split(r"\n(?=rule \w+:)", plan.stdout) if b.startswith("rule ")]
    asks = {b.split(":", 1)[0].removeprefix("rule "): "slurm_extra=--exclusive" in b for b in blocks}
    measuring = {rule for rule in asks if rule.startswith(("time_", "serve_"))}
    assert {"time_pytorch_cpu", "time_onnxruntime_cpu", "serve_onnxruntime_cpu"} <= measuring
    assert {rule for rule, exclusive in asks.items() if exclusive} == measuring
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert not any("slurm_extra" in resources for resources in profile.get("set-resources", {}).values())
