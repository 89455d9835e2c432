"""What changed between two measurements: the verdict on samples, what differs, the history, the tables and the gate."""

import dataclasses
import json
import logging
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, load_script, snakemake

from infbench.artifacts import write_json
from infbench.planning.cells import Cell
from infbench.report.rows import summary_rows
from infbench.report.summary import ModelSummary, RunSummary, write_summary
from infbench.report.whatchanged import change_table, section, verdict_text
from infbench.results.changes import (
    FASTER,
    NOT_COMPARABLE,
    SLOWER,
    THE_MACHINE,
    UNCONFIRMED,
    WITHIN_NOISE,
    Threshold,
    compare_records,
    decide,
)
from infbench.results.history import entries, keep, previous
from infbench.results.records import Record, header, read_record

check_regressions = load_script(REPO / "tools" / "check_regressions.py")

CELL = Cell("local", "resnet50", "onnxruntime_cpu", "default", "fp32", 1)
HOST = {"cpu": "AMD EPYC", "usable_cpus": 2, "os": "Linux", "python": "3.11.7", "hostname": "vm"}
POLICY = {"iterations": 100, "min_time_s": 2.0, "max_time_s": 60, "min_iterations": 5, "max_iterations": 100000}
MODEL = {"architecture": "resnet50", "image_size": 224, "num_classes": 10}
CARD = MODEL | {"val_top1": 0.96, "val_images": 359, "trainable": "head", "device": "cpu", "data": "digits"}


def _samples(seed: int, mean: float, spread: float, n: int) -> np.ndarray:
    """`n` calls around `mean` with a coefficient of variation `spread`, standardised: their mean is `mean` exactly."""
    z = np.random.default_rng(seed).standard_normal(n)
    return mean * (1 + spread * (z - z.mean()) / z.std())


def _stats(samples) -> dict:
    s = np.asarray(samples)
    return {"n": len(s), "mean": float(s.mean()), "std": float(s.std()), "min": float(s.min()), "p50": float(np.median(s)),
            "p90": float(np.percentile(s, 90)), "p99": float(np.percentile(s, 99)), "max": float(s.max()),
            "cv": float(s.std() / s.mean())}


def _record(samples, cell=CELL, created="2026-11-30T09:00:00+00:00", status="ok", passed=True, host=HOST, threads=2,
            versions=None, code=None, policy=POLICY) -> Record:
    record = header(cell, status, None if status == "ok" else f"{status} for a reason") | {
        "created_utc": created, "host": host, "settings": {"threads": threads, "allow_tf32": False},
        "versions": versions or {"onnxruntime": "1.31.1"}, "code": code or {"scripts/time_backend.py": "a" * 16},
        "model_info": MODEL, "parity": {"passed": passed, "failures": [] if passed else ["top-1 agreement 0.5 < 0.99"]},
    }
    if status == "ok":
        samples = [float(v) for v in samples]
        block = {"host_ms": _stats(samples), "warmup": {"mode": "fixed", "iterations": 2, "settled": True, "stopped_by": "count"},
                 "images_per_step": cell.batch, "throughput_ips": cell.batch * 1000 / float(np.mean(samples)), "noisy": False,
                 "stopped_by": "iterations", "samples_ms": samples}
        record["timing"] = {"policy": policy, "methods": {"end_to_end": "host clock"}, "end_to_end": block}
    return Record.model_validate(record)


# The decision on samples ----------------------------------------------------------------------------


@pytest.mark.parametrize("n, factor", [(200, 1.1), (200, 1.0), (5, 1.0)])
def test_identical_distributions_are_within_noise_in_at_least_99_of_100_seeds(n, factor):
    threshold = Threshold(factor=factor)
    verdicts = []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        old, new = rng.lognormal(np.log(50), 0.1, n), rng.lognormal(np.log(50), 0.1, n)  # noisy and skewed, as calls are
        verdicts.append(decide(old, new, threshold).verdict)
    assert verdicts.count(WITHIN_NOISE) >= 99, verdicts


@pytest.mark.parametrize("seed", range(20))
def test_a_10_percent_shift_with_2_percent_spread_is_slower_and_back_is_faster(seed):
    old, new = _samples(seed, 50, 0.02, 200), _samples(seed + 1000, 55, 0.02, 200)
    slower = decide(old, new, Threshold())
    assert slower.verdict == SLOWER and slower.ratio == pytest.approx(1.1) and slower.p_value < 1e-30
    assert decide(new, old, Threshold()).verdict == FASTER


def test_a_certain_change_below_the_factor_is_within_noise():
    decision = decide(_samples(1, 50, 0.001, 200), _samples(2, 52.5, 0.001, 200), Threshold())
    assert decision.verdict == WITHIN_NOISE and decision.p_value < 1e-30


def test_too_few_calls_for_the_u_test_are_judged_by_confidence_intervals():
    # Five calls a side can never give p < 0.002 (at best 2/252): asv's fallback decides.
    clear = decide(_samples(1, 50, 0.02, 5), _samples(2, 100, 0.02, 5), Threshold())
    assert clear.verdict == SLOWER and clear.p_value is None and clear.test == "99% confidence intervals"
    noisy = decide(_samples(1, 50, 0.4, 5), _samples(2, 65, 0.4, 5), Threshold())
    assert noisy.verdict == WITHIN_NOISE


# What is comparable, and what differs ---------------------------------------------------------------


def test_different_machines_gpus_or_settings_are_not_comparable():
    old = _record(_samples(1, 50, 0.02, 100))
    new = _samples(2, 60, 0.02, 100)
    cases = {
        "CPU AMD EPYC → Intel Xeon": _record(new, host=HOST | {"cpu": "Intel Xeon"}),
        "threads 2 → 16": _record(new, threads=16),
        "not timed now (skipped)": _record(None, status="skipped"),
    }
    for why, record in cases.items():
        change = compare_records(old, record, Threshold())
        assert (change.verdict, change.why_not_comparable) == (NOT_COMPARABLE, why)
        assert change.regressed == (record.status == "skipped")  # measured before, not now: a regression of status
    # How long it measured is no reason: fewer iterations are still the same measurement (but not the same settings).
    shorter = compare_records(old, _record(new, policy=POLICY | {"iterations": 50, "min_time_s": 0}), Threshold())
    assert shorter.verdict == UNCONFIRMED and shorter.how_long == ("iterations 100 → 50", "min_time_s 2.0 → 0")
    assert shorter.needs_fresh_process and shorter.regressed  # slower in one process a side, nothing says otherwise


def test_a_change_says_which_versions_code_and_parity_differ():
    old = _record(_samples(1, 50, 0.02, 100), code={"scripts/time_backend.py": "a" * 16, "src/x.py": "b" * 16})
    new = _record(None, status="mismatch", passed=False, created="2026-12-01T10:00:00+00:00",
                  versions={"onnxruntime": "1.32.0"}, code={"scripts/time_backend.py": "c" * 16, "src/y.py": "d" * 16})
    change = compare_records(old, new, Threshold())
    assert change.versions == ("onnxruntime 1.31.1 → 1.32.0",)
    assert change.code == (f"scripts/time_backend.py {'a' * 16} → {'c' * 16}", f"src/x.py {'b' * 16} → absent",
                           f"src/y.py absent → {'d' * 16}")
    assert change.parity == "passed → failed" and change.status == "ok → mismatch" and change.regressed
    assert change.as_dict()["cell"]["backend"] == "onnxruntime_cpu"


def test_parity_changes_are_listed_first_and_within_noise_counted_with_what_differs():
    base = _samples(1, 50, 0.02, 100)
    other = Cell("local", "resnet50", "openvino", "latency", "fp32", 1)
    third = dataclasses.replace(other, batch=2)
    changes = [
        compare_records(_record(base), _record(_samples(2, 80, 0.02, 100), versions={"onnxruntime": "1.32.0"}), Threshold()),
        compare_records(_record(base, cell=other), _record(None, cell=other, status="mismatch", passed=False), Threshold()),
        compare_records(_record(base, cell=third), _record(_samples(3, 50, 0.02, 100), cell=third, versions={"onnxruntime": "1.30.0"}),
                        Threshold()),
    ]
    table = change_table(changes)
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == 2 and "parity passed → failed" in rows[0]
    assert "unconfirmed: slower in one process (p = " in rows[1] and "not measured in a fresh one" in rows[1]
    assert "50.00 → 80.00 ms" in rows[1] and "+60.0%" in rows[1]
    text = "\n".join(section(changes, Threshold()))
    assert text.startswith("## What changed")
    assert "Within noise: 1 cell (1 with onnxruntime 1.31.1 → 1.30.0)." in text
    assert section([], Threshold()) == []


# Whose difference it is, and whether it holds in a fresh process ---------------------------------------

NEW_CODE = {"scripts/time_backend.py": "b" * 16}


def _with_fresh(record: Record, *fresh_means: float, seed: int = 100) -> Record:
    """The record with fresh processes' timings, as a timing job that re-measured its cell adds them."""
    timings = [_record(_samples(seed + i, mean, 0.02, 100)).timing for i, mean in enumerate(fresh_means)]
    return record.updated(confirmation={"previous": "2026-11-30T09:00:00+00:00", "why": "differed", "timings": timings})


def test_a_difference_with_the_same_code_and_versions_is_the_machines_never_faster_or_slower():
    # As the five-model run's OpenVINO cell: 128.45 → 66.78 ms in another process, nothing else changed.
    old = _record(_samples(1, 128.45, 0.02, 100))
    new = _record(_samples(2, 66.78, 0.02, 100), created="2026-12-01T09:00:00+00:00")
    change = compare_records(old, new, Threshold())
    assert change.verdict == THE_MACHINE and change.listed
    assert not change.regressed and not change.needs_fresh_process
    assert verdict_text(change) == "differs ×0.52 with the same code and versions (the machine, not a change)"
    slower = compare_records(new, old, Threshold())
    assert slower.verdict == THE_MACHINE and not slower.regressed
    # Records without code digests (older runs) are not known to have run the same code.
    unknown = compare_records(old.updated(code={}), new.updated(code={}), Threshold())
    assert unknown.verdict == UNCONFIRMED and unknown.needs_fresh_process


def test_a_difference_in_one_process_a_side_is_unconfirmed_and_asks_for_a_fresh_process():
    old = _record(_samples(1, 50, 0.02, 100))
    slower = compare_records(old, _record(_samples(2, 60, 0.02, 100), code=NEW_CODE), Threshold())
    assert slower.verdict == UNCONFIRMED and slower.needs_fresh_process and slower.regressed
    assert slower.old_processes == (pytest.approx(50),) and slower.new_processes == (pytest.approx(60),)
    assert verdict_text(slower).startswith("unconfirmed: slower in one process (p = ")
    assert verdict_text(slower).endswith("), not measured in a fresh one")
    faster = compare_records(old, _record(_samples(3, 40, 0.02, 100), code=NEW_CODE), Threshold())
    assert faster.verdict == UNCONFIRMED and faster.needs_fresh_process and not faster.regressed
    # A fresh process that timed nothing confirms nothing, and the verdict says why.
    failed = _record(_samples(2, 60, 0.02, 100), code=NEW_CODE).updated(
        confirmation={"previous": old.created_utc, "why": "differed", "failed": "error: RuntimeError: out of memory"})
    change = compare_records(old, failed, Threshold())
    assert change.verdict == UNCONFIRMED and change.regressed
    assert verdict_text(change).endswith("), a fresh one timed nothing (error: RuntimeError: out of memory)")


@pytest.mark.parametrize("first, fresh, verdict", [
    (60, (60.5,), SLOWER),  # the fresh process agrees: slower
    (40, (40.4,), FASTER),
    (60, (50.3,), UNCONFIRMED),  # the fresh process measured what the old one did
    (80, (60,), UNCONFIRMED),  # both beyond the factor, but closer to the old 50 than to each other
    (150, (90,), SLOWER),  # far apart from each other, and further still from the old
    (60, (60.5, 51), UNCONFIRMED),  # one fresh process of two back at the old time
])
def test_a_difference_is_judged_on_the_means_of_each_process(first, fresh, verdict):
    old = _record(_samples(1, 50, 0.02, 100))
    new = _with_fresh(_record(_samples(2, first, 0.02, 100), code=NEW_CODE), *fresh)
    change = compare_records(old, new, Threshold())
    assert change.verdict == verdict and not change.needs_fresh_process
    assert change.new_processes == tuple(pytest.approx(m) for m in (first, *fresh))
    assert change.regressed == (verdict == SLOWER)
    text = verdict_text(change)
    if verdict == UNCONFIRMED:
        assert "not in every fresh one (processes: 50.00 ms → " in text, text
    else:
        assert text.startswith(f"{verdict} (p = ") and text.endswith(f"), confirmed in a fresh process ({first:.2f}, {fresh[0]:.2f} ms)")


def test_both_sides_measured_in_several_processes_must_lie_apart():
    old = _with_fresh(_record(_samples(1, 50, 0.02, 100)), 58)  # the old cell's own processes disagreed
    new = _with_fresh(_record(_samples(2, 60, 0.02, 100), code=NEW_CODE), 60.5)
    assert compare_records(old, new, Threshold()).verdict == UNCONFIRMED  # 60.5 is not beyond 1.1 x 58
    apart = _with_fresh(_record(_samples(1, 50, 0.02, 100)), 51)
    assert compare_records(apart, new, Threshold()).verdict == SLOWER


def test_enough_processes_a_side_are_judged_by_the_u_test_on_their_means():
    # Seven processes a side can reach p < 0.002 (2/3432): asv's rule on process means decides.
    old = _with_fresh(_record(_samples(1, 50, 0.02, 100)), *np.linspace(49, 51, 6))
    slower = _with_fresh(_record(_samples(2, 60, 0.02, 100), code=NEW_CODE), *np.linspace(59, 61, 6))
    change = compare_records(old, slower, Threshold())
    assert change.verdict == SLOWER and change.test == "Mann-Whitney U on process means" and change.p_value < 0.002
    assert "over process means" in verdict_text(change)
    # The first process far off, the other six where the old ones were: the process means say within noise.
    outlier = _with_fresh(_record(_samples(3, 60, 0.02, 100), code=NEW_CODE), *np.linspace(49, 51, 6))
    assert compare_records(old, outlier, Threshold()).verdict == WITHIN_NOISE


def test_a_confirmation_reads_back_and_old_records_without_one_dump_as_they_were(tmp_path):
    record = _with_fresh(_record(_samples(2, 60, 0.02, 10), code=NEW_CODE), 60.5)
    write_json(tmp_path / "r.json", record.dump())
    assert read_record(tmp_path / "r.json") == record and len(record.dump()["confirmation"]["timings"]) == 1
    plain = _record(_samples(2, 60, 0.02, 10))
    assert "confirmation" not in plain.dump()


# The history ----------------------------------------------------------------------------------------


def test_history_keeps_every_measurement_and_finds_the_one_replaced(tmp_path, caplog):
    first = _record(_samples(1, 50, 0.02, 10), created="2026-11-30T09:00:00+00:00")
    again = _record(_samples(2, 50, 0.02, 10), created="2026-11-30T09:00:00+00:00")  # the same second
    last = _record(_samples(3, 50, 0.02, 10), created="2026-11-30T10:00:00+00:00")
    paths = [keep(r, tmp_path) for r in (first, again, last)]
    assert [p.name for p in paths] == ["20261130T090000Z.json", "20261130T090000Z-2.json", "20261130T100000Z.json"]
    assert paths[0].parent == tmp_path / "history/local/resnet50/onnxruntime_cpu/default/fp32_bs1"
    assert entries(tmp_path, CELL) == paths and read_record(paths[0]) == first
    log = logging.getLogger("infbench.test")
    assert previous(tmp_path, last, log).record == again
    paths[1].write_text("{ cut short")
    with caplog.at_level(logging.WARNING, logger="infbench.test"):
        assert previous(tmp_path, last, log).record == first
    assert f"history: skipped {paths[1]}: not a readable record" in caplog.text
    assert previous(tmp_path, first, log) is None


# Comparing two run folders: the regression check ---------------------------------------------------


def _run(tmp_path, name, records, card=CARD):
    folder = tmp_path / name
    paths = [r.cell.record_path.removeprefix("results/") for r in records]
    for record, path in zip(records, paths):
        write_json(folder / path, record.dump())
    model = ModelSummary(card=card)
    write_summary(folder / "summary.json", RunSummary(models={card["architecture"]: model}, settings={}, cells=summary_rows(records, paths)))
    return folder


@pytest.fixture
def runs(tmp_path):
    base = _record(_samples(1, 50, 0.02, 100))
    return {
        "old": _run(tmp_path, "old", [base]),
        "same": _run(tmp_path, "same", [_record(_samples(2, 50, 0.02, 100), created="2026-12-01T00:00:00+00:00")]),
        "slower": _run(tmp_path, "slower", [_record(_samples(3, 60, 0.02, 100), versions={"onnxruntime": "1.32.0"})]),
        "mismatch": _run(tmp_path, "mismatch", [_record(None, status="mismatch", passed=False)]),
        "elsewhere": _run(tmp_path, "elsewhere", [_record(_samples(4, 90, 0.02, 100), host=HOST | {"cpu": "Intel Xeon"})]),
        "small": _run(tmp_path, "small", [_record(_samples(5, 50, 0.02, 100))], card=CARD | {"image_size": 32}),
    }


@pytest.mark.parametrize("new, code", [("same", 0), ("slower", 1), ("mismatch", 1), ("elsewhere", 0), ("old", 0)])
def test_the_check_fails_on_a_slower_cell_or_a_parity_failure_only(runs, new, code, capsys):
    assert check_regressions.main([str(runs["old"]), str(runs[new])]) == code
    out = capsys.readouterr()
    assert out.out.startswith(f"# What changed: {runs['old']} → {runs[new]}")
    assert ("regressed: local, ONNX Runtime, CPU provider: CPU provider, fp32, batch 1" in out.err) == bool(code)


def test_the_check_names_bad_input_in_one_line(runs, tmp_path):
    (tmp_path / "empty").mkdir()
    cases = {
        tmp_path / "missing": "missing: does not exist",
        tmp_path / "empty": "empty: holds no records (no summary.json)",
        runs["small"]: "small: holds records of resnet50 at 32x32 with 10 classes, not resnet50 at 224x224 with 10 classes like",
    }
    for old, message in cases.items():
        cmd = [sys.executable, str(REPO / "tools" / "check_regressions.py"), str(old), str(runs["old"])]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    slower = subprocess.run([sys.executable, str(REPO / "tools" / "check_regressions.py"), str(runs["old"]), str(runs["slower"]),
                             "--factor", "1.5"], capture_output=True, text=True, timeout=120)
    assert slower.returncode == 0 and "onnxruntime 1.31.1 → 1.32.0" in slower.stdout  # 20% slower: under a factor of 1.5


MODELS_RUN = REPO / "docs" / "results" / "cpu-2core-models"
CRASHED = "records/local/resnet50/onnxruntime_cpu/default/fp32_bs1.json"
MISMATCHED = "records/local/mobilenet_v3_large/openvino/latency/fp32_bs1.json"
OVERWRITTEN = "records/local/efficientnet_b0/pytorch_cpu/eager/fp32_bs1.json"
GONE = "records/local/convnext_tiny/openvino/latency/fp32_bs1.json"


def _edit(folder, path: str, **changes) -> None:
    record = json.loads((folder / path).read_text())
    for key in ("timing", "memory"):
        record.pop(key, None)
    (folder / path).write_text(json.dumps(record | changes))


@pytest.fixture
def broken_run(tmp_path):
    """The committed five-model run, with what a bad upgrade does to cells, as a user's edits make it."""
    import shutil

    folder = tmp_path / "new"
    shutil.copytree(MODELS_RUN, folder)
    _edit(folder, CRASHED, status="error", reason="RuntimeError: the provider crashed")
    failed = {"passed": False, "failures": ["top-1 agreement 0.5 < 0.99"]}
    _edit(folder, MISMATCHED, status="mismatch", reason="outputs differ", parity=failed)
    shutil.copy(folder / OVERWRITTEN.replace("/eager/", "/channels_last/"), folder / OVERWRITTEN)  # cp over another cell's
    (folder / GONE).unlink()
    summary = json.loads((folder / "summary.json").read_text())
    summary["cells"] = [c for c in summary["cells"] if c["record"] != GONE]
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_a_cell_measured_before_and_not_now_fails_the_gate_unless_allowed(broken_run, capsys):
    assert check_regressions.main([str(MODELS_RUN), str(broken_run)]) == 1
    out = capsys.readouterr()
    regressed = [line for line in out.err.splitlines() if line.startswith("regressed: ")]
    assert len(regressed) == 4, out.err
    assert "regressed: local, ONNX Runtime, CPU provider: CPU provider, fp32, batch 1: status ok → error (a regression)" in out.err
    assert "PyTorch, CPU: eager, fp32, batch 1: status ok → inconsistent (a regression); not comparable: inconsistent record " \
           "now (the record is of another cell: variant channels_last, not eager" in out.err
    assert "status ok → mismatch (a regression)" in out.err and "parity passed → failed" in out.err
    assert "regressed: local/convnext_tiny/openvino/latency/fp32_bs1: measured before, missing now" in out.err
    assert (f"Measured in {MODELS_RUN} and missing from {broken_run} (a regression): "
            "local/convnext_tiny/openvino/latency/fp32_bs1.") in out.out
    assert out.out.count("(a regression)") == 4  # the three cells in the table, and the missing one
    allow = ["local/resnet50/onnxruntime_cpu/default/fp32_bs1", "*/mobilenet_v3_large/openvino/*", "local/efficientnet_b0/*",
             "local/convnext_tiny/openvino/latency/fp32_bs?"]
    assert check_regressions.main([str(MODELS_RUN), str(broken_run), *(f"--allow={p}" for p in allow)]) == 0
    out = capsys.readouterr()
    assert out.err.count("allowed: ") == 4 and "regressed: " not in out.err
    assert check_regressions.main([str(MODELS_RUN), str(broken_run), *(f"--allow={p}" for p in allow[:3])]) == 1
    assert capsys.readouterr().err.count("regressed: ") == 1


def test_the_committed_run_against_itself_passes_the_gate(capsys):
    assert check_regressions.main([str(MODELS_RUN), str(MODELS_RUN)]) == 0
    assert "regressed" not in capsys.readouterr().err


# The workflow's target ------------------------------------------------------------------------------


OPENVINO = "records/local/resnet18/openvino/latency/fp32_bs1.json"


def test_the_changes_target_compares_this_run_with_a_baseline_folder_or_a_time(workflow_copy, tmp_path):
    import shutil

    baseline = tmp_path / "baseline"
    shutil.copytree(workflow_copy / "results", baseline, ignore=shutil.ignore_patterns("history", "logs", "benchmarks"))
    record = json.loads((baseline / OPENVINO).read_text())
    # Slower then by about ten times, every call slower than any call now whatever the machine's noise (a busy machine's
    # calls can spread over more than ten times, which left a plain x10 within noise).
    block, samples = record["timing"]["end_to_end"], record["timing"]["end_to_end"]["samples_ms"]
    shift = max(9 * block["host_ms"]["mean"], 2 * (max(samples) - min(samples)))
    block["samples_ms"] = [v + shift for v in samples]
    stats = block["host_ms"]
    stats |= {k: stats[k] + shift for k in ("mean", "min", "p50", "p90", "p99", "max")}
    stats["cv"] = stats["std"] / stats["mean"]
    block["throughput_ips"] = block["images_per_step"] * 1000 / stats["mean"]
    (baseline / OPENVINO).write_text(json.dumps(record))
    result = snakemake(workflow_copy, "--cores", "1", "results/changes.md", "--config", f'compare={{"baseline": "{baseline}"}}')
    assert result.returncode == 0, result.stderr[-3000:]
    markdown = (workflow_copy / "results" / "changes.md").read_text()
    assert markdown.startswith(f"# What changed: {baseline} → results")
    row = next((line for line in markdown.splitlines() if line.startswith("| OpenVINO, CPU: latency hint, fp32, batch 1")), None)
    assert row is not None, markdown
    assert re.search(r"differs ×0\.\d+ with the same code and versions \(the machine, not a change\)", row), row  # never "faster"
    cells = len(list((workflow_copy / "results" / "records").rglob("*.json")))
    assert f"The same measurement in both: {cells - 1} cells (not measured again)." in markdown
    data = json.loads((workflow_copy / "results" / "changes.json").read_text())
    assert [c["verdict"] for c in data["changes"]] == [THE_MACHINE] and data["same_measurement"] == cells - 1
    assert (workflow_copy / "results" / "changes.csv").read_text().startswith("machine,model,backend,variant,")
    # A time in this run's history: each cell as it stood then (here: as it stands).
    result = snakemake(workflow_copy, "--cores", "1", "results/changes.md", "--config", 'compare={"baseline": "2100-01-01T00:00:00Z"}')
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"The same measurement in both: {cells} cells" in (workflow_copy / "results" / "changes.md").read_text()


def test_a_baseline_of_another_model_is_one_line(workflow_copy):
    result = snakemake(workflow_copy, "--cores", "1", "results/changes.md", "--config",
                       f'compare={{"baseline": "{REPO / "docs/results/cpu-2core"}"}}')
    assert result.returncode != 0
    assert (f"error: {REPO / 'docs/results/cpu-2core'}: holds records of resnet50 at 224x224 with 10 classes, none of the "
            "models of results (resnet18 at 32x32 with 10 classes)") in result.stderr


def _what_changed_row(workdir, label: str) -> str:
    markdown = (workdir / "results" / "table.md").read_text()
    section = markdown.split("## What changed\n")[1].split("\n## ")[0]
    return next((line for line in section.splitlines() if line.startswith(f"| {label}")), "")


def test_a_rerun_judges_a_change_on_a_fresh_process_and_a_rerun_of_the_same_code_never_calls_it_one(workflow_copy, tmp_path):
    from conftest import copy_code

    label = "OpenVINO, CPU: latency hint, fp32, batch 1"
    before = read_record(workflow_copy / "results" / OPENVINO)
    # The same code and versions, measured again: whatever the machine does, it is no change and needs no fresh process.
    result = snakemake(workflow_copy, "--cores", "1", "results/table.md", "--forcerun", "time_openvino")
    assert result.returncode == 0, result.stderr[-3000:]
    again = read_record(workflow_copy / "results" / OPENVINO)
    assert again.confirmation is None
    row = _what_changed_row(workflow_copy, label)
    assert not row or "(the machine, not a change)" in row, row  # listed only where it differed beyond the threshold
    # The backend made slower by 20 ms a call, tens of times its sub-millisecond call, beyond any noise of a busy machine:
    # the timing job measures the cell once more in a fresh process.
    (tmp_path / "code").mkdir()
    code = copy_code(tmp_path / "code")
    backend = code / "src" / "infbench" / "measuring" / "backends" / "openvino.py"
    call = "            infer_request.infer({0: x})\n"
    assert call in backend.read_text()
    backend.write_text(backend.read_text().replace(call, call + "            __import__('time').sleep(0.02)\n"))
    result = snakemake(workflow_copy, "--cores", "1", "results/table.md", repo=code)
    assert result.returncode == 0, result.stderr[-3000:]
    after = read_record(workflow_copy / "results" / OPENVINO)
    assert after.confirmation is not None and after.confirmation.failed is None, after.confirmation
    assert after.confirmation.previous == again.created_utc != before.created_utc
    (fresh,) = after.confirmation.timings
    assert fresh.end_to_end.host_ms.n == after.timing.end_to_end.host_ms.n and fresh.end_to_end.samples_ms != after.timing.end_to_end.samples_ms
    kept = sorted((workflow_copy / "results" / "history" / OPENVINO.removeprefix("records/").removesuffix(".json")).glob("*.json"))
    assert read_record(kept[-1]) == after  # the history keeps both processes
    log = (workflow_copy / "results" / "logs" / "local" / "resnet18" / "time_openvino" / "latency" / "fp32_bs1.log").read_text()
    assert "measuring the cell once more in a fresh process" in log and "fresh process: " in log
    row = _what_changed_row(workflow_copy, label)
    assert "src/infbench/measuring/backends/openvino.py" in row and "faster" not in row
    # Slower where the fresh process agrees, unconfirmed where it did not: the verdict says which, with each process.
    assert ", confirmed in a fresh process (" in row or "unconfirmed: slower in one process" in row, row
