"""Under load: the real LoadGen driving the real CPU runtimes (ONNX Runtime, OpenVINO, PyTorch) through their serving loops.

Runs are short (a fraction of a second), so LoadGen often calls them INVALID (too few queries for its
early stopping): the tests check that each record says VALID or INVALID with LoadGen's reasons, that
its numbers are LoadGen's, and that the accuracy run catches a serving loop that reorders, drops or
doubles answers. Nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, make_artifacts

from infbench.errors import ConfigError
from infbench.measuring.backends import implementation
from infbench.measuring.backends.base import CellRequest
from infbench.measuring.serving import cell as cell_module
from infbench.measuring.serving import engine as engine_module
from infbench.measuring.serving.accuracy import judge
from infbench.measuring.serving.engine import load_engine
from infbench.measuring.serving.loadgen import ACCURACY, DETAIL, SUMMARY, LoadGenHarness, RunRequest
from infbench.measuring.serving.loops import BatchingLoop
from infbench.measuring.serving.search import SearchPolicy, best_step, search
from infbench.model.parity import Tolerance
from infbench.model.reference import load_eval_set, save_eval_set
from infbench.planning.catalog import BACKENDS
from infbench.planning.config import validate_config
from infbench.planning.scenarios import ScenarioCell
from infbench.planning.variants import BatchingQueue
from infbench.results.serving_records import LoadGenRun, Responses, TimingReference, read_serving_record, write_serving_record

SIZE, CLASSES, IMAGES = 32, 10, 48
FP32 = Tolerance(max_rel_diff=1e-4, min_cosine=0.99999, min_top1_agreement=1.0)
RUNTIMES = [("onnxruntime_cpu", "default"), ("openvino", "latency"), ("pytorch_cpu", "eager")]
SCENARIOS = ["SingleStream", "MultiStream", "Server", "Offline"]
SHORT = {
    "min_duration_s": 0.2, "max_duration_s": 20, "warmup_batches": 1, "stall_timeout_s": 2.0, "accuracy": True,
    "single_stream": {"min_query_count": 16},
    "multi_stream": {"samples_per_query": 4, "min_query_count": 8},
    "server": {"latency_bound_ms": 500.0, "latency_percentile": 0.99, "min_query_count": 32, "start_qps": 50.0, "growth": 2.0,
               "tolerance": 0.5, "max_steps": 3},
    "offline": {"min_sample_count": 48, "expected_qps": None},
    "sweep": {"fractions": [0.5, 1.0], "latency_bound_ms": 500.0, "latency_percentile": 0.99, "min_query_count": 32},
}
# LoadGen's summary line of each scenario's score, and the record's unit for it
SCORE_LINE = {"SingleStream": r"90.0th percentile latency \(ns\) : (\d+)", "MultiStream": r"99.0th percentile latency \(ns\) : (\d+)",
              "Server": r"Completed samples per second\s*: ([\d.]+)", "Offline": r"Samples per second: ([\d.]+)"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serving-artifacts")
    save_eval_set(root / "eval_set.npz", make_artifacts(root, SIZE, CLASSES, n_images=IMAGES))
    return root


def _request_at(root: Path, backend: str, variant: str):
    def at(batch: int) -> CellRequest:
        return CellRequest(backend=BACKENDS[backend], precision="fp32", batch_size=batch,
                           artifacts={"pth": str(root / "model_weights.pth"), "onnx": str(root / "onnx_model.onnx")},
                           architecture="resnet18", num_classes=CLASSES, image_size=SIZE, threads=2, variant=variant)

    return at


TIMING = TimingReference(record="results/records/x.json", status="ok", mean_ms=5.0, one_at_a_time_qps=200.0)


def _serve(tiny, tmp_path, backend, variant, scenario, settings=SHORT, timing=TIMING, anchor=None):
    cell = ScenarioCell("local", "tiny", backend, variant, "fp32", scenario)
    return cell_module.serve_cell(cell, _request_at(tiny, backend, variant), load_eval_set(tiny / "eval_set.npz"),
                                  settings | {"scenario": scenario}, FP32, timing, anchor, tmp_path / scenario)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("backend, variant", RUNTIMES)
def test_each_scenario_runs_and_its_record_says_valid_or_invalid_with_loadgens_reasons(tiny, tmp_path, backend, variant, scenario):
    record = _serve(tiny, tmp_path, backend, variant, scenario)
    assert record.status == "ok", record.reason
    assert isinstance(record.valid, bool)
    assert record.valid or record.reasons, "an INVALID run says why"
    assert record.valid == ("Result is : VALID" in (tmp_path / scenario / SUMMARY).read_text()) or scenario == "Server"
    # The number is LoadGen's own: its summary of the run that counts says the same.
    summary = (tmp_path / scenario / record.run.logs / SUMMARY).read_text()
    score = float(re.search(SCORE_LINE[scenario], summary).group(1))
    assert record.value == pytest.approx(score / 1e6 if record.unit == "ms" else score, rel=1e-3)
    assert (tmp_path / scenario / SUMMARY).read_text() == summary and (tmp_path / scenario / DETAIL).exists()
    # Every sample LoadGen asked for was answered once, and the accuracy run matched the reference on every image.
    assert record.run.responses.intact and record.run.responses.issued > 0
    assert record.accuracy.passed and record.accuracy.answered == IMAGES == record.accuracy.samples
    assert record.accuracy.parity.top1_agreement == 1.0
    # The record is typed, written and read through its definition.
    write_serving_record(tmp_path / "record.json", record)
    assert read_serving_record(tmp_path / "record.json").dump() == record.dump()


def test_the_server_search_records_every_step_and_a_sweep_runs_each_fraction(tiny, tmp_path):
    server = _serve(tiny, tmp_path, "onnxruntime_cpu", "default", "Server")
    assert server.steps and server.steps[0].target_qps == 50.0 and all(s.logs for s in server.steps)
    assert server.run in server.steps
    for step in server.steps:
        assert (tmp_path / "Server" / step.logs / DETAIL).exists()
    anchor = server.run.target_qps
    sweep = _serve(tiny, tmp_path, "onnxruntime_cpu", "default", "Sweep", anchor=anchor)
    assert sweep.status == "ok" and [p.target_qps for p in sweep.points] == pytest.approx([anchor * 0.5, anchor])
    assert all(p.latency_ms.p50 <= p.latency_ms.p99 and p.samples_per_s > 0 for p in sweep.points)


def test_a_cell_whose_batch_1_cell_did_not_pass_parity_is_skipped_with_that_reason(tiny, tmp_path):
    timing = TimingReference(record="results/records/local/tiny/openvino/latency/fp32_bs1.json", status="mismatch",
                             reason="outputs differ from the PyTorch fp32 CPU reference: max relative diff 0.5 > 0.0001")
    record = _serve(tiny, tmp_path, "openvino", "latency", "Offline", timing=timing)
    assert record.status == "skipped" and record.run is None
    assert record.reason == ("its batch-1 timing cell (results/records/local/tiny/openvino/latency/fp32_bs1.json) is mismatch: "
                             "outputs differ from the PyTorch fp32 CPU reference: max relative diff 0.5 > 0.0001")


def test_a_sweep_without_a_server_rate_is_skipped(tiny, tmp_path):
    record = _serve(tiny, tmp_path, "onnxruntime_cpu", "default", "Sweep", anchor=None)
    assert record.status == "skipped" and "found no rate to sweep around" in record.reason


# Serving loops that break their answers: our own loops, deliberately wrong, against the real LoadGen.


class ReorderingLoop(BatchingLoop):
    """Hands each sample of a batch the next sample's output."""

    def answer(self, ids, outputs):
        super().answer(ids, np.roll(outputs, 1, axis=0))


class DroppingLoop(BatchingLoop):
    """Never answers the last sample of a batch of several."""

    def answer(self, ids, outputs):
        keep = len(ids) - 1 if len(ids) > 1 else len(ids)
        super().answer(ids[:keep], outputs[:keep])


class DoublingLoop(BatchingLoop):
    """Answers every batch twice."""

    def answer(self, ids, outputs):
        super().answer(ids, outputs)
        super().answer(ids, outputs)


BATCHING = BatchingQueue(workers=1, max_batch=8)  # PyTorch CPU's own loop (eager)
assert BACKENDS["pytorch_cpu"].serving_loop("eager") == BATCHING


@pytest.mark.parametrize("broken, status, words", [
    (ReorderingLoop, "mismatch", "the accuracy run failed: the answers differ from the reference"),
    (DroppingLoop, "error", "samples never answered"),
    (DoublingLoop, "error", "answers given twice"),
])
def test_a_serving_loop_that_reorders_drops_or_doubles_answers_fails_its_cell(tiny, tmp_path, monkeypatch, broken, status, words):
    monkeypatch.setattr(engine_module, "BatchingLoop", broken)
    record = _serve(tiny, tmp_path, "pytorch_cpu", "eager", "Offline")
    assert record.status == status and words in record.reason, record.reason
    assert record.accuracy is None or not record.accuracy.passed


@pytest.mark.parametrize("broken, failure", [(ReorderingLoop, "the answers differ from the reference"),
                                             (DroppingLoop, "samples never answered")])
def test_the_accuracy_run_alone_catches_reordered_and_lost_answers(tiny, tmp_path, broken, failure):
    eval_set = load_eval_set(tiny / "eval_set.npz")
    engine = load_engine(implementation("onnxruntime_cpu"), _request_at(tiny, "onnxruntime_cpu", "default"), BATCHING, 2,
                         eval_set["images"], warmup=0)
    images = eval_set["images"].astype(engine.input_dtype)
    harness = LoadGenHarness(lambda ledger: broken(BATCHING, engine.make_loop(images, ledger).models, images, ledger, 1),
                             IMAGES, stall_timeout_s=1.0)
    try:
        request = RunRequest("Offline", 0.1, 10, 1, mode="AccuracyOnly", expected_qps=100)
        run = harness.run(request, tmp_path / "accuracy", "accuracy")
    finally:
        harness.close()
        engine.release()
    check = judge(run, tmp_path / "accuracy" / ACCURACY, eval_set, FP32)
    assert not check.passed and any(failure in text for text in check.failures), check.failures


def test_a_padded_batching_queue_loads_one_model_per_size_and_answers_each_sample_its_own_output(tiny, tmp_path):
    spec = BatchingQueue(workers=2, max_batch=8, window_ms=20.0, batch_sizes=(1, 4, 8))
    eval_set = load_eval_set(tiny / "eval_set.npz")
    engine = load_engine(implementation("onnxruntime_cpu"), _request_at(tiny, "onnxruntime_cpu", "default"), spec, 2,
                         eval_set["images"], warmup=1)
    assert sorted(engine.models) == [1, 4, 8] and engine.resolved == {"workers": 2, "intra_op_threads": 2}
    images = eval_set["images"].astype(engine.input_dtype)
    harness = LoadGenHarness(lambda ledger: engine.make_loop(images, ledger), IMAGES, stall_timeout_s=5.0)
    try:
        runs = [harness.run(RunRequest(scenario, 0.1, 10, 1, mode="AccuracyOnly", samples_per_query=3, expected_qps=100,
                                        expected_latency_ms=1.0), tmp_path / scenario, scenario)
                for scenario in ("Offline", "MultiStream")]
    finally:
        harness.close()
        engine.release()
    for run in runs:  # 48 samples at once, and queries of 3 (padded to 4): every answer is its own sample's
        check = judge(run, tmp_path / run.logs / ACCURACY, eval_set, FP32)
        assert check.passed and check.answered == IMAGES, check.failures


def test_openvino_serves_through_its_async_queue_with_the_throughput_hints_streams(tiny, tmp_path):
    record = _serve(tiny, tmp_path, "openvino", "latency", "Offline")
    assert record.runtime_details["config"]["PERFORMANCE_HINT"] == "THROUGHPUT"
    resolved = record.loop["resolved"]
    assert resolved["requests"] == record.runtime_details["optimal_number_of_infer_requests"] >= 1
    assert f"{resolved['requests']} requests in flight" in record.loop_label


@pytest.mark.parametrize("backend, variant, hint", [("onnxruntime_cpu", "default", None), ("openvino", "latency", "LATENCY")])
def test_single_stream_is_served_one_request_at_a_time_with_every_thread(tiny, tmp_path, backend, variant, hint):
    record = _serve(tiny, tmp_path, backend, variant, "SingleStream")
    assert record.loop["resolved"] == {"workers": 0, "intra_op_threads": 2}  # in LoadGen's own thread
    assert record.loop_label == "one request at a time in LoadGen's thread, 2 intra-op threads"
    if hint:  # the variant's own hint, not the throughput loop's
        assert record.runtime_details["config"]["PERFORMANCE_HINT"] == hint


def test_onnxruntime_serves_concurrent_calls_on_one_session_each_with_its_own_threads(tiny, tmp_path):
    record = _serve(tiny, tmp_path, "onnxruntime_cpu", "default", "Offline")
    assert record.loop["resolved"] == {"workers": 2, "intra_op_threads": 1}
    assert record.runtime_details["intra_op_threads"] == 1


# The search's logic, on a rule standing in for a runtime (LoadGen is not involved: these steps are this module's).


def _fake_run(limit: float, calls: list):
    def run(rate: float) -> LoadGenRun:
        calls.append(rate)
        return LoadGenRun(mode="PerformanceOnly", scenario="Server", logs=f"step{len(calls)}", valid=rate <= limit,
                          target_qps=rate, over_bound=0 if rate <= limit else 5, wall_s=1.0,
                          responses=Responses(issued=10, answered=10))

    return run


@pytest.mark.parametrize("start", [10.0, 1000.0])
def test_the_search_closes_in_on_the_highest_passing_rate_from_below_or_above(start):
    calls: list[float] = []
    steps = search(_fake_run(137.0, calls), SearchPolicy(start_qps=start, growth=2.0, tolerance=0.05, max_steps=20))
    best = best_step(steps).target_qps
    failing = min(s.target_qps for s in steps if not s.valid)
    assert best <= 137.0 < failing and failing / best <= 1.05
    assert [s.target_qps for s in steps] == calls


def test_the_search_never_tries_a_rate_too_slow_to_make_its_minimum_query_count():
    calls: list[float] = []
    steps = search(_fake_run(1.0, calls), SearchPolicy(start_qps=100.0, growth=2.0, tolerance=0.05, max_steps=20, min_qps=8.0))
    assert calls == [100.0, 50.0, 25.0, 12.5] and best_step(steps) is None


def test_the_search_stops_after_max_steps():
    steps = search(_fake_run(137.0, []), SearchPolicy(start_qps=1.0, growth=1.1, tolerance=0.01, max_steps=4))
    assert len(steps) == 4


# Configuration: one line naming the key.


def _config(serving: dict, **benchmark) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return config | {"serving": serving, "benchmark": config.get("benchmark", {}) | benchmark}


@pytest.mark.parametrize("serving, message", [
    ({"scenarios": ["Sweep"]}, "serving.scenarios: Sweep runs at fractions of the Server cell's rate (add Server)"),
    ({"scenarios": ["Server", "Batch"]}, "serving.scenarios[1]: 'Batch' is not one of"),
    ({"backends": ["tensorrt"]}, "serving.backends[0]: 'tensorrt' is not measured (benchmark.backends: onnxruntime_cpu, openvino)"),
    ({"variants": {"openvino": ["throughput"]}}, "serving.variants.openvino[0]: 'throughput' is not a measured variant of openvino"),
    ({"min_duration_s": 10, "max_duration_s": 5}, "serving.min_duration_s: 10 is above serving.max_duration_s (5)"),
    ({"server": {"latency_bound_ms": 0}}, "serving.server.latency_bound_ms: 0 is less than or equal to the minimum of 0"),
    ({"server": {"growth": 1}}, "serving.server.growth: 1 is less than or equal to the minimum of 1"),
    ({"scenarios": ["MultiStream"], "multi_stream": {"samples_per_query": 1000}},
     "serving.multi_stream.samples_per_query: 1000 is above parity.images (256), the samples LoadGen draws from"),
])
def test_bad_serving_settings_are_one_line_config_errors(serving, message):
    config = _config(serving, backends=["onnxruntime_cpu", "openvino"])
    with pytest.raises(ConfigError) as error:
        validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_serving_is_off_by_default_and_a_scenarios_settings_hold_only_its_own_section():
    from infbench.planning.serving import scenario_settings

    config = validate_config(_config({}), REPO / "workflow" / "schemas" / "config.schema.yaml")
    assert config["serving"]["scenarios"] == []
    config["serving"]["server"]["latency_bound_ms"] = {"cpu": 250, "cuda": 15}
    server = scenario_settings(config, "Server", "cpu")
    assert server["server"]["latency_bound_ms"] == 250 and "sweep" not in server and "offline" not in server
    assert scenario_settings(config, "Sweep", "cuda")["sweep"]["latency_bound_ms"] == 15
    assert "server" not in scenario_settings(config, "SingleStream", "cpu")


def test_a_changed_variant_loop_is_data_checked_when_declared():
    with pytest.raises(ValueError, match="must rise from 1 to max_batch"):
        BatchingQueue(max_batch=8, batch_sizes=(2, 8))
    assert dataclasses.replace(BATCHING, window_ms=2.0).label().startswith("dynamic batching up to 8 within 2 ms")


def test_a_runtime_with_no_rate_within_the_bound_says_so_with_loadgens_reasons():
    from infbench.report.serving import ScenarioRow, best_cell
    from infbench.report.text import Footnotes

    row = ScenarioRow(machine="local", model="m", backend="openvino", variant="latency", precision="fp32", scenario="Server",
                      runtime="OpenVINO, CPU", device="cpu", label="latency hint, fp32", loop_label="", status="ok", valid=False,
                      reasons=["no rate tried kept its p99 within the bound", "performance constraints not satisfied"],
                      record="serving/x.json")
    notes = Footnotes()
    assert best_cell([row], notes) == "no rate within the bound INVALID[^1] (latency hint, fp32)"
    assert "no rate tried kept its p99 within the bound" in notes.render()


def test_a_serving_job_hands_each_batch_size_its_own_engine():
    from infbench.planning.serving import built_for

    inputs = {"onnx": "m.onnx", "engine_dir_bs1": "e/bs1", "engine_dir_bs8": "e/bs8", "engine_dir_bs128": "e/bs128"}
    assert built_for(inputs, 8) == {"engine_dir": "e/bs8"} and built_for(inputs, 1) == {"engine_dir": "e/bs1"}
    assert built_for(inputs, 12) == {} and built_for(inputs, 28) == {}
