"""benchmarks/time_breakdown.py on committed runs: every job found, every timing job's wall time split into parts that add up."""

import json
import subprocess
import sys

import pytest
from conftest import REPO, load_script

from infbench.results.records import read_record

H200 = REPO / "docs" / "results" / "h200"
breakdown = load_script(REPO / "benchmarks" / "time_breakdown.py")


def test_every_job_of_a_run_is_found():
    jobs = breakdown.parse_snakemake_log(H200 / "snakemake.log")
    assert len(jobs) == 62 and sum(j.rule.startswith("time_") for j in jobs) == 47
    assert breakdown.invocations_wall(H200 / "snakemake.log") == pytest.approx([873.81], abs=0.01)
    train = next(j for j in jobs if j.rule == "train")
    assert train.fields["benchmark"] == "results/benchmarks/resnet50/train.tsv" and train.log_seconds == 41.0


def test_every_job_of_a_run_over_several_invocations_is_found(tmp_path):
    # The five-model run was stopped and finished in a second invocation: one log holding both is read as two.
    models = REPO / "docs" / "results" / "h200-models"
    log = tmp_path / "snakemake.log"
    log.write_text((models / "snakemake-1.log").read_text() + (models / "snakemake.log").read_text())
    jobs = breakdown.parse_snakemake_log(log)
    assert len(jobs) == 26 + 59 and sum(j.rule.startswith("time_") for j in jobs) == 40
    assert breakdown.invocations_wall(log) == pytest.approx([387.66, 901.38], abs=0.01)


def test_each_timing_jobs_parts_add_up_to_its_wall_time():
    for job in breakdown.parse_snakemake_log(H200 / "snakemake.log"):
        if not job.rule.startswith("time_"):
            continue
        record = read_record(breakdown.in_folder(H200, job.fields["output"]))
        wall, _ = breakdown._cost(job, H200)
        parts = breakdown.timing_parts(record, wall, breakdown.phase_times(breakdown.in_folder(H200, job.fields["log"]), job.start))
        if parts["process"] > 0:  # zero only where the measured span reaches past the benchmark file's wall time
            assert sum(parts.values()) == pytest.approx(wall), job.fields
        if record.timing is not None:
            assert parts["timing"] == pytest.approx(sum(sum(record.timing.block(m).samples_ms) for m in ("end_to_end", "device_resident")
                                                        if record.timing.block(m)) / 1000)


def test_compilation_is_the_records_prepare_time():
    _, cells = breakdown.categorise(breakdown.parse_snakemake_log(H200 / "snakemake.log"), H200)
    records = [read_record(p) for p in (H200 / "records/local/resnet50/pytorch_cuda/compile_cudagraphs").glob("*.json")]
    assert cells[("pytorch_cuda", "compile_cudagraphs")].parts["prepare"] == pytest.approx(sum(r.cold_start.prepare_s for r in records))
    assert cells[("pytorch_cuda", "compile_cudagraphs")].jobs == 6


def test_parity_and_warmup_seconds_come_from_the_record_where_it_holds_them(tmp_path):
    data = json.loads((H200 / "records/local/resnet50/openvino/latency/fp32_bs1.json").read_text())
    data["parity"].pop("seconds", None)  # as records written before they kept these
    data["timing"]["end_to_end"]["warmup"].pop("seconds", None)
    (tmp_path / "old.json").write_text(json.dumps(data))
    from_log = breakdown.timing_parts(read_record(tmp_path / "old.json"), 20.0, {})
    data["parity"]["seconds"] = 1.25
    data["timing"]["end_to_end"]["warmup"]["seconds"] = 0.5
    (tmp_path / "r.json").write_text(json.dumps(data))
    parts = breakdown.timing_parts(read_record(tmp_path / "r.json"), 20.0, {})
    assert from_log["parity"] == 0.0 and from_log["warmup"] == 0.0  # without the log there is nothing to read them from
    assert parts["parity"] == 1.25 and parts["warmup"] == 0.5


def test_the_command_writes_the_breakdown(tmp_path):
    out = tmp_path / "breakdown.md"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "time_breakdown.py"), str(H200), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "Jobs: 62 (47 timing jobs), in 1 Snakemake invocation(s)" in text
    assert "| pytorch_cuda / compile_cudagraphs | 6 (6 ok) |" in text
