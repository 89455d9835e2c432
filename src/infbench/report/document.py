"""The Markdown documents: a run's table.md, and the comparison of runs made on several machines."""

from __future__ import annotations

from infbench.model.export import PROVIDED
from infbench.report.details import cell_table, configuration_table, skipped_list, timing_table
from infbench.report.fastest import fastest_table, winners
from infbench.report.models import across_models
from infbench.report.rows import SummaryRow, machines_in
from infbench.report.runs import LoadedRun
from infbench.report.serving import under_load_sections
from infbench.report.study import headline, study_table
from infbench.report.summary import RunSummary
from infbench.report.text import Footnotes, format_ips, format_ms
from infbench.report.whatchanged import section
from infbench.results.changes import Change, Threshold

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


def _measuring_sentence(policy: dict | None) -> str:
    if not policy:
        return "mean of the timed calls after warm-up"
    return (f"mean of at least {policy['iterations']} timed calls and {policy['min_time_s']:g} s after warm-up, "
            f"fewer where {policy['max_time_s']:g} s ran out first")


def model_line(card: dict) -> str:
    how = (f"its weights as given, {card.get('starting_weights')}" if card["trainable"] == "none"
           else f"{card['trainable']} trained on {card['device']}")
    return (f"{card['architecture']}, {card['num_classes']} classes, {card['image_size']}x{card['image_size']}, "
            f"held-out top-1 {card['val_top1']:.3f} on {card['val_images']} images ({how}, {card['data']})")


def _timing_sentence(preferred: str) -> str:
    if preferred == "end_to_end":
        return f"Every cell times {MODE_TITLES['end_to_end']}."
    return f"CPU cells time {MODE_TITLES['end_to_end']}; GPU cells time {MODE_TITLES[preferred]}."


def study_sections(rows: list[SummaryRow], settings: dict, notes: Footnotes, card: dict, level: int = 3,
                   heading: str | None = None) -> list[str]:
    """The study's table for each machine of one run and model, under `heading` (at `level`) where given."""
    machines = machines_in(rows)
    preferred = settings["timing"]
    precision, batch = headline(settings["precisions"], settings["batch_sizes"]["cpu"] + settings["batch_sizes"]["cuda"])
    size = card["image_size"]
    parts = [f"{'#' * level} {heading}", ""] if heading else []
    parts += [
        f"Average latency per inference ({_measuring_sentence(settings.get('policy'))}), {card['architecture']}, "
        f"batch {batch}, {precision}, {size}x{size} input, each runtime's default variant (the study's). "
        f"{_timing_sentence(preferred)} {LEGEND}",
        "",
    ]
    machine_level = level + 1 if heading else level
    for machine in machines:
        if len(machines) > 1:
            parts += [f"{'#' * machine_level} {machine}", ""]
        parts += [study_table(rows, machine, settings["backends"], precision, batch, preferred, notes), ""]
    return parts


def _export_sentence(onnx_info: dict, onnx_check: dict) -> str:
    if onnx_info.get("status") == "failed":
        return f"ONNX export: {onnx_info.get('reason')}; the ONNX cells are skipped."
    if onnx_info.get("status") == PROVIDED:
        return (f"ONNX model: the file as given ({onnx_info.get('source')}, opset {onnx_info.get('opset')}, input "
                f"{onnx_info.get('input_shape')}); every cell is checked against ONNX Runtime's fp32 CPU outputs of it, "
                "and the cells that need its PyTorch module are skipped.")
    return (
        f"ONNX export: {onnx_info.get('exporter')} exporter, opset {onnx_info.get('opset')}; ONNX Runtime's CPU outputs "
        f"match PyTorch's on {onnx_check.get('images')} held-out images (max relative diff "
        f"{onnx_check.get('max_rel_diff', float('nan')):.2e}, top-1 agreement {onnx_check.get('top1_agreement', float('nan')):.3f})."
    )


def _model_sections(summary: RunSummary, notes: Footnotes) -> list[str]:
    """The study's table and the fastest per runtime: as the run's headline with one model, per model with several."""
    machines = machines_in(summary.cells)
    if len(summary.models) == 1:
        (model,) = summary.models.values()
        parts = ["## The study's table", "", *study_sections(summary.cells, summary.settings, notes, model.card)]
        return parts + ["## Fastest per runtime", "", FASTEST_INTRO, "", fastest_table(summary.cells, machines, notes), ""]
    parts = ["## Across models", "", *across_models(summary.cells, list(summary.models), machines, notes)]
    for name, model in summary.models.items():
        rows = [r for r in summary.cells if r.model == name]
        parts += [f"## {name}", "", *study_sections(rows, summary.settings, notes, model.card, heading="The study's table")]
        parts += ["### Fastest per runtime", "", FASTEST_INTRO, "", fastest_table(rows, machines, notes), ""]
    return parts


def _configuration_sections(summary: RunSummary) -> list[str]:
    machines = machines_in(summary.cells)
    models = list(summary.models.values())
    export_versions = models[0].onnx_export.get("versions") if len(models) == 1 else None
    parts = ["## Test configuration", ""]
    for name, model in summary.models.items():
        prefix = "Model" if len(models) == 1 else f"Model {name}"
        parts += [f"{prefix}: {model_line(model.card)}.", ""]
    parts += [configuration_table(summary.cells, machines, summary.installed, export_versions), ""]
    for name, model in summary.models.items():
        prefix = "" if len(models) == 1 else f"{name}: "
        parts += [prefix + _export_sentence(model.onnx_export, model.onnx_check), ""]
    parts += [f"Note: {note}" for note in summary.notes] + ([""] if summary.notes else [])
    return parts


def render_run(summary: RunSummary, changes: list[Change] = ()) -> str:
    """results/table.md: the study's table (per machine), the fastest per runtime, what changed, configuration, every cell.

    `changes`: each cell against its previous measurement, where it has one (none: no "What changed").
    """
    notes = Footnotes()
    parts = ["# Inference latency", "", *_model_sections(summary, notes)]
    if summary.serving:
        parts += under_load_sections(summary.serving, notes)
    parts += section(list(changes), Threshold.of(summary.settings)) + _configuration_sections(summary)
    parts += cells_sections(summary.cells, notes)
    return "\n".join(parts)


def cells_sections(rows: list[SummaryRow], notes: Footnotes) -> list[str]:
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


def _comparison_fastest(rows: list[SummaryRow], models: list[str], machines: list[str], notes: Footnotes) -> list[str]:
    parts = ["## Fastest per runtime", "", FASTEST_INTRO, ""]
    for model in models:
        mine = [r for r in rows if r.model == model]
        if len(models) > 1:
            parts += [f"### {model}", ""]
        parts += [fastest_table(mine, machines, notes), ""]
    parts += ["Where each number comes from:", ""]
    for model in models:
        for machine, runtime, kind, row in winners([r for r in rows if r.model == model], machines):
            mode = row.best_mode
            value = format_ms(row.mean_ms(mode)) if kind == "latency" else format_ips(row.throughput(mode))
            what = f"{machine}, {runtime}" if len(models) == 1 else f"{model}, {machine}, {runtime}"
            parts.append(f"- {what}, {kind} ({value}): {row.source}")
    return parts


def render_comparison(runs: list[LoadedRun]) -> str:
    """results/comparison.md: the fastest per runtime with machines side by side, then each machine's study table."""
    notes = Footnotes()
    rows = [row for run in runs for row in run.rows]
    machines = machines_in(rows)
    models = list(dict.fromkeys(name for run in runs for name in run.summary.models))
    card = runs[0].first_card
    measured = (f"{card['architecture']}, {card['image_size']}x{card['image_size']}, {card['num_classes']} classes"
                if len(models) == 1 else f"{len(models)} models ({', '.join(models)})")
    parts = [
        "# Comparison of machines", "",
        f"{measured}; each run's own models and held-out images (every backend is checked against its own run's "
        "PyTorch reference).", "",
        "| Machine | Run | Model |", "|---|---|---|",
        *(f"| {', '.join(machines_in(run.rows))} | {run.path} | "
          f"{'; '.join(model_line(m.card) for m in run.summary.models.values())} |" for run in runs), "",
        *_comparison_fastest(rows, models, machines, notes),
        "", "## The study's table, per machine", "",
    ]
    for run in runs:
        for name, model in run.summary.models.items():
            heading = ", ".join(machines_in(run.rows)) + ("" if len(models) == 1 else f", {name}")
            mine = [r for r in run.rows if r.model == name]
            parts += study_sections(mine, run.summary.settings, notes, model.card, heading=heading)
    parts += ["## Test configuration", "", configuration_table(rows, machines, None), ""]
    parts += [notes.render(), ""]
    return "\n".join(parts)


def comparison_rows(runs: list[LoadedRun]) -> list[dict]:
    """The winners of the comparison, one row each, with the record they come from (CSV and JSON)."""
    rows = [row for run in runs for row in run.rows]
    out = []
    for model in dict.fromkeys(r.model for r in rows):
        for machine, runtime, kind, row in winners([r for r in rows if r.model == model], machines_in(rows)):
            mode = row.best_mode
            out.append({
                "machine": machine, "model": model, "runtime": runtime, "measure": kind, "variant": row.variant_label,
                "precision": row.precision, "batch_size": row.batch_size, "timing": mode,
                "latency_ms": row.mean_ms(mode), "throughput_ips": row.throughput(mode), "build_s": row.build_s,
                "gpu": row.gpu, "cpu": row.cpu, "record": row.source,
            })
    return out
