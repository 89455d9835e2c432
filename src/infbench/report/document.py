"""The Markdown documents: a run's table.md, and the comparison of runs made on several machines."""

from __future__ import annotations

from pathlib import Path

from infbench.artifacts import read_json
from infbench.cells import LOCAL_MACHINE, summary_path
from infbench.errors import BenchError
from infbench.records import SCHEMA_VERSION
from infbench.report.details import cell_table, configuration_table, skipped_list, timing_table
from infbench.report.fastest import fastest_table, winners
from infbench.report.rows import best_mode, machines_in, mean_ms, throughput
from infbench.report.study import headline, study_table
from infbench.report.text import Footnotes, format_ips, format_ms

MODE_TITLES = {
    "end_to_end": "end to end (host memory to host memory, copies included, as the study's scripts timed)",
    "device_resident": "device resident (inputs and outputs stay on the GPU; host clock with synchronize)",
}
LEGEND = (
    "`-`: no such combination in the study; `–`: skipped here (see its note); `✗ mismatch`: the backend's outputs "
    "differ from the PyTorch fp32 CPU reference beyond tolerance, so no time is shown; `~`: noisy."
)
FASTEST_INTRO = (
    "For each runtime, the fastest of its variants and precisions that passed the parity check: latency at batch 1 "
    "(one request at a time) and the most images per second at any batch size, labelled with what ran. GPU cells are "
    "timed device resident (inputs and outputs stay on the GPU), CPU cells end to end. Build: the engine build, "
    "torch.compile's compilation or a CUDA graph's capture, paid once before the first call."
)


def summary_document(rows: list[dict], card: dict, onnx_info: dict, onnx_check: dict, settings: dict) -> dict:
    """What summary.json holds: everything a comparison of runs needs, without the records."""
    return {"schema_version": SCHEMA_VERSION, "model": card, "onnx_export": onnx_info, "onnx_check": onnx_check,
            "settings": settings, "cells": rows}


def _measuring_sentence(policy: dict | None) -> str:
    if not policy:
        return "mean of the timed calls after warm-up"
    return (f"mean of at least {policy['iterations']} timed calls and {policy['min_time_s']:g} s after warm-up, "
            f"fewer where {policy['max_time_s']:g} s ran out first")


def _model_line(card: dict) -> str:
    return (f"{card['architecture']}, {card['num_classes']} classes, {card['image_size']}x{card['image_size']}, "
            f"held-out top-1 {card['val_top1']:.3f} on {card['val_images']} images ({card['trainable']} trained on "
            f"{card['device']}, {card['data']})")


def _study_sections(rows: list[dict], settings: dict, notes: Footnotes, card: dict, heading: str | None = None) -> list[str]:
    """The study's table for each machine of one run, under `heading` where given (one run among several)."""
    machines = machines_in(rows)
    preferred = settings["timing"]
    precision, batch = headline(settings["precisions"], settings["batch_sizes"]["cpu"] + settings["batch_sizes"]["cuda"])
    if preferred == "end_to_end":
        timing_sentence = f"Every cell times {MODE_TITLES['end_to_end']}."
    else:
        timing_sentence = f"CPU cells time {MODE_TITLES['end_to_end']}; GPU cells time {MODE_TITLES[preferred]}."
    size = card["image_size"]
    parts = [f"### {heading}", ""] if heading else []
    parts += [
        f"Average latency per inference ({_measuring_sentence(settings.get('policy'))}), {card['architecture']}, "
        f"batch {batch}, {precision}, {size}x{size} input, each runtime's default variant (the study's). "
        f"{timing_sentence} {LEGEND}",
        "",
    ]
    for machine in machines:
        if len(machines) > 1:
            parts += [f"{'####' if heading else '###'} {machine}", ""]
        parts += [study_table(rows, machine, settings["backends"], precision, batch, preferred, notes), ""]
    return parts


def render_run(rows: list[dict], card: dict, onnx_info: dict, onnx_check: dict, settings: dict,
               installed: dict[str, str | None]) -> str:
    """results/table.md: the study's table (per machine), the fastest per runtime, configuration, every cell."""
    notes = Footnotes()
    machines = machines_in(rows)
    parts = ["# Inference latency", "", "## The study's table", ""]
    parts += _study_sections(rows, settings, notes, card)
    parts += ["## Fastest per runtime", "", FASTEST_INTRO, "", fastest_table(rows, machines, notes), ""]
    parts += [
        "## Test configuration", "",
        f"Model: {_model_line(card)}.", "",
        configuration_table(rows, machines, installed, onnx_info.get("versions")), "",
        f"ONNX export: {onnx_info.get('exporter')} exporter, opset {onnx_info.get('opset')}; ONNX Runtime's CPU outputs "
        f"match PyTorch's on {onnx_check.get('images')} held-out images (max relative diff "
        f"{onnx_check.get('max_rel_diff', float('nan')):.2e}, top-1 agreement {onnx_check.get('top1_agreement', float('nan')):.3f}).",
        "",
    ]
    parts += _cells_sections(rows, notes)
    return "\n".join(parts)


def _cells_sections(rows: list[dict], notes: Footnotes) -> list[str]:
    return [
        "## All cells", "",
        "Latency in milliseconds per call: host clock around each call (on the GPU with a synchronize), and on the GPU "
        "also CUDA events around the same calls. img/s = images per call / mean. `~`: coefficient of variation above "
        "benchmark.noisy_cv.", "",
        timing_table(rows), "",
        "Cold start, memory and output parity. Every backend ran the same held-out images; its outputs are compared with "
        "the PyTorch fp32 CPU reference (largest difference of a logit relative to the largest reference logit, lowest "
        "cosine similarity, share of decisive images with the same top-1 class, top-1 accuracy on the labels).", "",
        cell_table(rows, notes), "",
        "### Skipped cells", "",
        skipped_list(rows), "",
        notes.render(), "",
    ]


# Comparing runs --------------------------------------------------------------------------------


def load_runs(runs: list[str | Path]) -> list[dict]:
    """Read each run's summary.json; check that they measured the same model and input, and label their machines.

    A run that measured this computer alone ('local') is named after its folder (docs/results/h200 -> h200).
    """
    loaded = []
    for i, run in enumerate(runs):
        path = summary_path(run)
        try:
            summary = read_json(path)
        except (OSError, ValueError) as exc:
            raise BenchError(f"compare.runs[{i}]: {path} is not a readable summary.json ({exc})") from exc
        if summary.get("schema_version") != SCHEMA_VERSION or "cells" not in summary:
            raise BenchError(f"compare.runs[{i}]: {path} was written by another version of this workflow "
                             f"(summary schema {summary.get('schema_version')}, not {SCHEMA_VERSION}); run it again")
        loaded.append({"path": path, "folder": path.parent, **summary})
    if not loaded:
        raise BenchError("compare.runs: no runs to compare (give result folders or their summary.json files)")
    first = loaded[0]
    key = ("architecture", "image_size", "num_classes")
    for i, run in enumerate(loaded[1:], 1):
        if tuple(run["model"][k] for k in key) != tuple(first["model"][k] for k in key):
            m, f = run["model"], first["model"]
            raise BenchError(
                f"compare.runs[{i}]: {run['path']} holds records of {m['architecture']} at {m['image_size']}x{m['image_size']} "
                f"with {m['num_classes']} classes, not {f['architecture']} at {f['image_size']}x{f['image_size']} with "
                f"{f['num_classes']} classes like {first['path']}"
            )
    seen: dict[str, Path] = {}
    for run in loaded:
        machines = machines_in(run["cells"])
        rename = {LOCAL_MACHINE: run["folder"].name} if machines == [LOCAL_MACHINE] else {}
        for row in run["cells"]:
            row["machine"] = rename.get(row["machine"], row["machine"])
            row["source"] = str(run["folder"] / row["record"])
        for machine in machines_in(run["cells"]):
            if machine in seen:
                raise BenchError(f"machine '{machine}' is in two runs ({seen[machine]} and {run['path']}): name them apart")
            seen[machine] = run["path"]
    return loaded


def render_comparison(runs: list[dict]) -> str:
    """results/comparison.md: the fastest per runtime with machines side by side, then each machine's study table."""
    notes = Footnotes()
    rows = [row for run in runs for row in run["cells"]]
    machines = machines_in(rows)
    card = runs[0]["model"]
    parts = [
        "# Comparison of machines", "",
        f"{card['architecture']}, {card['image_size']}x{card['image_size']}, {card['num_classes']} classes; each run's "
        "own model and held-out images (every backend is checked against its own run's PyTorch reference).", "",
        "| Machine | Run | Model |", "|---|---|---|",
        *(f"| {', '.join(machines_in(run['cells']))} | {run['path']} | {_model_line(run['model'])} |" for run in runs), "",
        "## Fastest per runtime", "", FASTEST_INTRO, "",
        fastest_table(rows, machines, notes), "",
        "Where each number comes from:", "",
    ]
    for machine, runtime, kind, row in winners(rows, machines):
        mode = best_mode(row)
        value = format_ms(mean_ms(row, mode)) if kind == "latency" else format_ips(throughput(row, mode))
        parts.append(f"- {machine}, {runtime}, {kind} ({value}): {row['source']}")
    parts += ["", "## The study's table, per machine", ""]
    for run in runs:
        parts += _study_sections(run["cells"], run["settings"], notes, run["model"], heading=", ".join(machines_in(run["cells"])))
    parts += ["## Test configuration", "", configuration_table(rows, machines, None), ""]
    parts += [notes.render(), ""]
    return "\n".join(parts)


def comparison_rows(runs: list[dict]) -> list[dict]:
    """The winners of the comparison, one row each, with the record they come from (CSV and JSON)."""
    rows = [row for run in runs for row in run["cells"]]
    out = []
    for machine, runtime, kind, row in winners(rows, machines_in(rows)):
        mode = best_mode(row)
        out.append({
            "machine": machine, "runtime": runtime, "measure": kind, "variant": row["variant_label"],
            "precision": row["precision"], "batch_size": row["batch_size"], "timing": mode,
            "latency_ms": mean_ms(row, mode), "throughput_ips": throughput(row, mode), "build_s": row.get("build_s"),
            "gpu": row.get("gpu"), "cpu": row.get("cpu"), "record": row["source"],
        })
    return out
