"""Turning records into results: the study-shaped Markdown table, the detailed table, summary rows, the chart."""

from __future__ import annotations

from dataclasses import dataclass, field

from tabulate import tabulate

from infbench.catalog import BACKENDS, COLUMN_ARTIFACTS, COLUMNS, LIBRARIES, ROWS, backend_at
from infbench.records import MISMATCH, OK, SKIPPED, TIMING_MODES

MODE_TITLES = {
    "end_to_end": "end to end (host memory to host memory, copies included, as the study's scripts timed)",
    "device_resident": "device resident (inputs and outputs stay on the GPU; host clock with synchronize)",
}
# The libraries of the "Test configuration" table, in its order.
CONFIGURATION_LIBRARIES = ("torch", "torchvision", "onnx", "onnxruntime", "tensorrt", "torch2trt")
LIBRARY_TITLES = {
    "torch": "PyTorch",
    "torchvision": "torchvision",
    "onnx": "ONNX",
    "onnxruntime": "ONNX Runtime",
    "tensorrt": "TensorRT",
    "torch2trt": "torch2trt",
    "numpy": "NumPy",
}


def format_ms(value: float) -> str:
    return f"{value:.2f} ms" if value >= 10 else f"{value:.3f} ms"


@dataclass
class Footnotes:
    """Numbered Markdown footnotes; identical texts share a number."""

    texts: list[str] = field(default_factory=list)

    def ref(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[^{self.texts.index(text) + 1}]"

    def render(self) -> str:
        return "\n".join(f"[^{i}]: {text}" for i, text in enumerate(self.texts, 1))


def shown_mode(record: dict, preferred: str) -> str:
    """The timing mode a cell shows: the preferred one where the record has it (CPU cells have only end to end)."""
    timing = record.get("timing", {})
    return preferred if preferred in timing else "end_to_end"


def headline_cell(precisions: list[str], batch_sizes: list[int]) -> tuple[str, int]:
    """The configuration the study-shaped table shows: fp32 and batch 1 where measured (the study's)."""
    precision = "fp32" if "fp32" in precisions else precisions[0]
    batch = 1 if 1 in batch_sizes else min(batch_sizes)
    return precision, batch


def _index(records: list[dict]) -> dict[tuple, dict]:
    return {(r["backend"], r["precision"], r["batch_size"]): r for r in records}


def status_note(record: dict) -> str:
    """The footnote of a cell that shows no time: which backend, what happened, why.

    A skip's reason holds for every precision and batch size it names, so those share one note.
    """
    if record["status"] == SKIPPED:
        return f"{record['backend']}: skipped, {record['reason']}"
    return f"{record['backend']} ({record['precision']}, batch {record['batch_size']}): {record['status']}, {record['reason']}"


def _cell_text(record: dict | None, backend_name: str, preferred: str, notes: Footnotes) -> str:
    if record is None:
        return "not run" + notes.ref(f"{backend_name}: not in benchmark.backends of the configuration")
    status = record["status"]
    if status == OK:
        mode = shown_mode(record, preferred)
        block = record["timing"][mode]
        text = format_ms(block["host_ms"]["mean"])
        label = BACKENDS[backend_name].label
        if label:
            text += f" ({label})"
        if block.get("noisy"):
            text += " ~" + notes.ref(
                f"{backend_name} ({record['precision']}, batch {record['batch_size']}): noisy, coefficient of variation {block['host_ms']['cv']:.1%} "
                f"(p50 {format_ms(block['host_ms']['p50'])}, p99 {format_ms(block['host_ms']['p99'])})"
            )
        return text
    mark = {SKIPPED: "–", MISMATCH: "✗ mismatch"}.get(status, "error")
    return mark + notes.ref(status_note(record))


def study_table(records: list[dict], backends: list[str], precision: str, batch: int, preferred: str, notes: Footnotes) -> str:
    """The study's table: rows CPU / CUDA / TensorRT, columns PyTorch / ONNX Runtime / TensorRT."""
    by_key = _index(records)
    table = []
    for row in ROWS:
        cells = []
        for column in COLUMNS:
            backend = backend_at(column, row)
            if backend is None:
                cells.append("-")
            else:
                record = by_key.get((backend.name, precision, batch)) if backend.name in backends else None
                cells.append(_cell_text(record, backend.name, preferred, notes))
        table.append([row, *cells])
    headers = ["Device", *(f"{c} ({COLUMN_ARTIFACTS[c]})" for c in COLUMNS)]
    return _markdown(table, headers)


def _markdown(rows: list[list], headers: list[str]) -> str:
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True, missingval="")


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def summary_rows(records: list[dict]) -> list[dict]:
    """One flat row per cell (backend x precision x batch): the CSV and JSON summaries."""
    rows = []
    order = {name: i for i, name in enumerate(BACKENDS)}
    for r in sorted(records, key=lambda r: (order.get(r["backend"], 99), r["precision"], r["batch_size"])):
        row = {
            "backend": r["backend"],
            "framework": r["framework"],
            "device": r["device"],
            "row": r["row"],
            "precision": r["precision"],
            "batch_size": r["batch_size"],
            "status": r["status"],
            "reason": r.get("reason"),
        }
        timing = r.get("timing", {})
        for mode in TIMING_MODES:
            block = timing.get(mode)
            if not block:
                continue
            prefix = "e2e" if mode == "end_to_end" else "resident"
            for stat in ("mean", "p50", "p90", "p99", "std", "min", "max", "cv"):
                row[f"{prefix}_{stat}_ms" if stat != "cv" else f"{prefix}_cv"] = block["host_ms"][stat]
            if "device_ms" in block:
                for stat in ("mean", "p50", "p99"):
                    row[f"{prefix}_cuda_event_{stat}_ms"] = block["device_ms"][stat]
            row[f"{prefix}_iterations"] = block["host_ms"]["n"]
            row[f"{prefix}_throughput_ips"] = block["throughput_ips"]
            row[f"{prefix}_noisy"] = block["noisy"]
            row[f"{prefix}_warmup_iterations"] = block["warmup"]["iterations"]
            row[f"{prefix}_warmup_settled"] = block["warmup"]["settled"]
        cold = r.get("cold_start", {})
        row["load_s"] = cold.get("load_s")
        row["first_inference_ms"] = cold.get("first_inference_ms")
        row["build_s"] = cold.get("build_s")
        memory = r.get("memory", {})
        row["host_peak_rss_mb"] = memory.get("host_peak_rss_mb")
        row["device_peak_mb"] = memory.get("device_peak_mb")
        parity = r.get("parity", {})
        for key in ("max_abs_diff", "max_rel_diff", "min_cosine", "top1_agreement", "top1_accuracy"):
            row[key] = parity.get(key)
        settings = r.get("settings", {})
        row["threads"] = settings.get("threads")
        row["fp16_method"] = settings.get("fp16_method") or r.get("build", {}).get("fp16_method")
        row["cpu"] = r.get("machine", {}).get("cpu")
        row["gpu"] = r.get("gpu", {}).get("name")
        for lib, version in r.get("versions", {}).items():
            row[f"version_{lib}"] = version
        rows.append(row)
    return rows


TIMING_COLUMNS = [
    ("Backend", "backend"), ("Precision", "precision"), ("Batch", "batch_size"), ("Timing", "mode"),
    ("Mean ms", "mean"), ("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("Std", "std"), ("Min", "min"),
    ("CV", "cv"), ("CUDA events mean", "event_mean"), ("img/s", "throughput"), ("Warm-up calls", "warmup"),
]
CELL_COLUMNS = [
    ("Backend", "backend"), ("Precision", "precision"), ("Batch", "batch_size"), ("Status", "status"),
    ("Load s", "load_s"), ("First call ms", "first_ms"), ("Build s", "build_s"), ("Host peak MB", "host_mb"),
    ("GPU peak MB", "gpu_mb"), ("max rel diff", "max_rel_diff"), ("min cosine", "min_cosine"),
    ("top-1 agreement", "agree"), ("top-1 accuracy", "acc"), ("fp16 made by", "fp16_method"),
]


def timing_table(rows: list[dict]) -> str:
    """Latency statistics of every measured cell, one line per timing mode."""
    lines = []
    for row in rows:
        for prefix, mode in (("e2e", "end to end"), ("resident", "device resident")):
            if row["status"] != OK or f"{prefix}_mean_ms" not in row:
                continue
            cells = {"backend": row["backend"], "precision": row["precision"], "batch_size": str(row["batch_size"]), "mode": mode}
            for stat in ("mean", "p50", "p90", "p99", "std", "min"):
                cells[stat] = _fmt(row[f"{prefix}_{stat}_ms"])
            cells["cv"] = f"{row[f'{prefix}_cv']:.1%}" + (" ~" if row[f"{prefix}_noisy"] else "")
            cells["event_mean"] = _fmt(row.get(f"{prefix}_cuda_event_mean_ms"))
            cells["throughput"] = _fmt(row[f"{prefix}_throughput_ips"], 1)
            cells["warmup"] = f"{row[f'{prefix}_warmup_iterations']}" + ("" if row[f"{prefix}_warmup_settled"] else " (unsettled)")
            lines.append([cells.get(k, "") for _, k in TIMING_COLUMNS])
    return _markdown(lines, [title for title, _ in TIMING_COLUMNS])


def cell_table(rows: list[dict], notes: Footnotes) -> str:
    """Cold start, memory and output parity of every cell that ran (measured, mismatched or failed)."""
    lines = []
    for row in rows:
        if row["status"] == SKIPPED:
            continue
        status = row["status"] if row["status"] == OK else row["status"] + notes.ref(status_note(row))
        cells = {
            "backend": row["backend"], "precision": row["precision"], "batch_size": str(row["batch_size"]),
            "status": status, "load_s": _fmt(row["load_s"], 2), "first_ms": _fmt(row["first_inference_ms"], 1),
            "build_s": _fmt(row["build_s"], 1), "host_mb": _fmt(row["host_peak_rss_mb"], 0),
            "gpu_mb": _fmt(row["device_peak_mb"], 0),
            "max_rel_diff": f"{row['max_rel_diff']:.2e}" if row["max_rel_diff"] is not None else "",
            "min_cosine": _fmt(row["min_cosine"], 6), "agree": _fmt(row["top1_agreement"], 3),
            "acc": _fmt(row["top1_accuracy"], 3), "fp16_method": row["fp16_method"] or "",
        }
        lines.append([cells[k] for _, k in CELL_COLUMNS])
    return _markdown(lines, [title for title, _ in CELL_COLUMNS])


def skipped_list(rows: list[dict]) -> str:
    """The skipped cells, grouped by backend and reason."""
    groups: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        if row["status"] == SKIPPED:
            groups.setdefault((row["backend"], row["reason"]), []).append(f"{row['precision']} batch {row['batch_size']}")
    if not groups:
        return "No cell was skipped."
    return "\n".join(f"- {backend} ({', '.join(cells)}): {reason}" for (backend, reason), cells in groups.items())


def _distinct(values):
    values = [v for v in values if v]
    return ", ".join(sorted(set(values))) if values else None


def configuration_table(records: list[dict], card: dict, onnx_info: dict, installed: dict[str, str | None]) -> str:
    """The study's 'Test configuration': the machine and the versions the cells actually imported."""
    measured = [r for r in records if r["status"] != SKIPPED and r.get("versions")]
    imported: dict[str, set] = {}
    for r in measured:
        for lib, version in r["versions"].items():
            imported.setdefault(lib, set()).add(version)
    if onnx_info.get("versions", {}).get("onnx"):
        imported.setdefault("onnx", set()).add(onnx_info["versions"]["onnx"])
    machines = [r.get("machine", {}) for r in records if r.get("machine")]
    gpus = [r["gpu"] for r in records if r.get("gpu")]
    rows = [
        ("Model", f"{card['architecture']}, {card['num_classes']} classes, {card['image_size']}x{card['image_size']}, "
                  f"held-out top-1 {card['val_top1']:.3f} ({card['trainable']} trained, {card['data']})"),
        ("CPU", _distinct(f"{m['cpu']} ({m['usable_cpus']} usable CPUs)" for m in machines) or "not recorded"),
        ("GPU", _distinct(f"{g['name']} (compute capability {g['compute_capability']})" for g in gpus) or "none used"),
        ("NVIDIA driver", _distinct(g.get("driver") for g in gpus) or "-"),
        ("CUDA runtime (torch)", _distinct(g.get("cuda_runtime") for g in gpus) or "-"),
        ("cuDNN (torch)", _distinct(str(g.get("cudnn")) for g in gpus) or "-"),
        ("OS", _distinct(m.get("os") for m in machines) or "not recorded"),
        ("Python", _distinct(m.get("python") for m in machines) or "not recorded"),
    ]
    for lib in CONFIGURATION_LIBRARIES:
        if lib in imported:
            value = ", ".join(sorted(imported[lib]))
        elif installed.get(lib):
            value = f"installed ({installed[lib]}), not used by any cell"
        else:
            value = "not installed"
        rows.append((LIBRARY_TITLES.get(lib, LIBRARIES[lib].name), value))
    return _markdown([list(r) for r in rows], ["Item", "Version"])


def render_markdown(
    records: list[dict],
    backends: list[str],
    precisions: list[str],
    batch_sizes: list[int],
    preferred_mode: str,
    card: dict,
    onnx_info: dict,
    onnx_check: dict,
    installed: dict[str, str | None],
) -> str:
    notes = Footnotes()
    rows = summary_rows(records)
    precision, batch = headline_cell(precisions, batch_sizes)
    policy = next((r["timing"]["policy"] for r in records if r["status"] == OK), None)
    if policy:
        measured = (f"mean of at least {policy['iterations']} timed calls and {policy['min_time_s']:g} s after warm-up, "
                    f"fewer where {policy['max_time_s']:g} s ran out first")
    else:
        measured = "mean of the timed calls after warm-up"
    size = card["image_size"]
    if preferred_mode == "end_to_end":
        timing_sentence = f"Every cell times {MODE_TITLES['end_to_end']}."
    else:
        timing_sentence = f"CPU cells time {MODE_TITLES['end_to_end']}; GPU cells time {MODE_TITLES[preferred_mode]}."
    parts = [
        "# Inference latency",
        "",
        f"Average latency per inference ({measured}), "
        f"{card['architecture']}, batch {batch}, {precision}, {size}x{size} input. {timing_sentence} "
        "`-`: no such combination in the study; `–`: skipped here (see its note); `✗ mismatch`: the backend's outputs "
        "differ from the PyTorch fp32 CPU reference beyond tolerance, so no time is shown; `~`: noisy.",
        "",
        study_table(records, backends, precision, batch, preferred_mode, notes),
        "",
        "## Test configuration",
        "",
        configuration_table(records, card, onnx_info, installed),
        "",
        f"ONNX export: {onnx_info.get('exporter')} exporter, opset {onnx_info.get('opset')}; ONNX Runtime's CPU outputs "
        f"match PyTorch's on {onnx_check.get('images')} held-out images (max relative diff {onnx_check.get('max_rel_diff', float('nan')):.2e}, "
        f"top-1 agreement {onnx_check.get('top1_agreement', float('nan')):.3f}).",
        "",
        "## All cells",
        "",
        "Latency in milliseconds per batch: host clock around each call (on the GPU with a synchronize), and on the "
        "GPU also CUDA events around the same calls. img/s = batch size / mean. `~`: coefficient of variation above "
        "benchmark.noisy_cv.",
        "",
        timing_table(rows),
        "",
        "Cold start, memory and output parity. Every backend ran the same held-out images; its outputs are compared "
        "with the PyTorch fp32 CPU reference (largest difference of a logit relative to the largest reference logit, "
        "lowest cosine similarity, share of images with the same top-1 class, top-1 accuracy on the labels).",
        "",
        cell_table(rows, notes),
        "",
        "### Skipped cells",
        "",
        skipped_list(rows),
        "",
        notes.render(),
        "",
    ]
    return "\n".join(parts)


def plot_latency(records: list[dict], preferred_mode: str, png_path: str, svg_path: str) -> None:
    """One bar per measured cell (mean, log scale) with a line from p50 to p99."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # keep labels as text in the SVG
    cells = [r for r in records if r["status"] == OK]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(cells) + 2), 4.5))
    if cells:
        labels, means, p50s, p99s, colors = [], [], [], [], []
        palette = {"PyTorch": "#e4572e", "ONNX Runtime": "#4c72b0", "TensorRT": "#55a868"}
        for r in cells:
            stats = r["timing"][shown_mode(r, preferred_mode)]["host_ms"]
            labels.append(f"{r['backend']}\n{r['precision']} bs{r['batch_size']}")
            means.append(stats["mean"])
            p50s.append(stats["p50"])
            p99s.append(stats["p99"])
            colors.append(palette.get(r["framework"], "#888888"))
        x = range(len(cells))
        ax.bar(x, means, color=colors)
        ax.vlines(x, p50s, p99s, color="black", linewidth=1.5)
        ax.scatter(x, p50s, marker="_", color="black", s=80)
        ax.scatter(x, p99s, marker="_", color="black", s=80)
        ax.set_xticks(list(x), labels, rotation=45, ha="right", fontsize=8)
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no cell was measured on this machine", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("latency per batch (ms, log scale)")
    ax.set_title("Mean latency per cell; line from p50 to p99")
    fig.tight_layout()
    fig.savefig(png_path, dpi=120, format="png")
    fig.savefig(svg_path, format="svg")
    plt.close(fig)
