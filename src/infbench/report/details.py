"""The detailed tables: every cell's statistics, cold start, memory and parity; skips; the test configuration."""

from __future__ import annotations

from infbench.catalog import LIBRARIES
from infbench.records import OK, SKIPPED
from infbench.report.text import Footnotes, fmt, format_s, markdown, status_note

# The libraries of the "Test configuration" table, in its order.
CONFIGURATION_LIBRARIES = ("torch", "torchvision", "onnx", "onnxruntime", "openvino", "tensorrt", "torch2trt")
LIBRARY_TITLES = {
    "torch": "PyTorch",
    "torchvision": "torchvision",
    "onnx": "ONNX",
    "onnxruntime": "ONNX Runtime",
    "openvino": "OpenVINO",
    "tensorrt": "TensorRT",
    "torch2trt": "torch2trt",
    "numpy": "NumPy",
}
TIMING_COLUMNS = [
    ("Machine", "machine"), ("Backend", "backend"), ("Variant", "variant_label"), ("Precision", "precision"),
    ("Batch", "batch_size"), ("Timing", "mode"), ("Mean ms", "mean"), ("p50", "p50"), ("p90", "p90"), ("p99", "p99"),
    ("Std", "std"), ("Min", "min"), ("CV", "cv"), ("CUDA events mean", "event_mean"), ("Calls", "calls"),
    ("img/s", "throughput"), ("Warm-up calls", "warmup"),
]
CELL_COLUMNS = [
    ("Machine", "machine"), ("Backend", "backend"), ("Variant", "variant_label"), ("Precision", "precision"),
    ("Batch", "batch_size"), ("Status", "status"), ("Load s", "load_s"), ("Build s", "build_s"),
    ("First call ms", "first_ms"), ("Host peak MB", "host_mb"), ("GPU peak MB", "gpu_mb"),
    ("max rel diff", "max_rel_diff"), ("min cosine", "min_cosine"), ("top-1 agreement (decisive)", "agree"),
    ("top-1 accuracy", "acc"), ("precision made by", "precision_method"),
]


def timing_table(rows: list[dict]) -> str:
    """Latency statistics of every measured cell, one line per timing mode."""
    lines = []
    for row in rows:
        for prefix, mode in (("e2e", "end to end"), ("resident", "device resident")):
            if row["status"] != OK or f"{prefix}_mean_ms" not in row:
                continue
            cells = {k: str(row[k]) for k in ("machine", "backend", "variant_label", "precision", "batch_size")}
            cells["mode"] = mode
            for stat in ("mean", "p50", "p90", "p99", "std", "min"):
                cells[stat] = fmt(row[f"{prefix}_{stat}_ms"])
            cells["cv"] = f"{row[f'{prefix}_cv']:.1%}" + (" ~" if row[f"{prefix}_noisy"] else "")
            cells["event_mean"] = fmt(row.get(f"{prefix}_cuda_event_mean_ms"))
            cells["calls"] = str(row[f"{prefix}_iterations"])
            per_step = row[f"{prefix}_images_per_step"]
            cells["throughput"] = fmt(row[f"{prefix}_throughput_ips"], 1) + (
                f" ({per_step // row['batch_size']} requests a call)" if per_step != row["batch_size"] else ""
            )
            cells["warmup"] = str(row[f"{prefix}_warmup_iterations"]) + ("" if row[f"{prefix}_warmup_settled"] else " (unsettled)")
            lines.append([cells.get(k, "") for _, k in TIMING_COLUMNS])
    return markdown(lines, [title for title, _ in TIMING_COLUMNS])


def cell_table(rows: list[dict], notes: Footnotes) -> str:
    """Cold start, memory and output parity of every cell that ran (measured, mismatched or failed)."""
    lines = []
    for row in rows:
        if row["status"] == SKIPPED:
            continue
        status = row["status"] if row["status"] == OK else row["status"] + notes.ref(status_note(row))
        agree = ""
        if row.get("decisive_top1_agreement") is not None:
            agree = f"{row['decisive_top1_agreement']:.3f} of {row['decisive_images']}"
        cells = {
            **{k: str(row[k]) for k in ("machine", "backend", "variant_label", "precision", "batch_size")},
            "status": status, "load_s": fmt(row.get("load_s"), 2), "build_s": format_s(row.get("build_s")),
            "first_ms": fmt(row.get("first_inference_ms"), 1), "host_mb": fmt(row.get("host_peak_rss_mb"), 0),
            "gpu_mb": fmt(row.get("device_peak_mb"), 0),
            "max_rel_diff": f"{row['max_rel_diff']:.2e}" if row.get("max_rel_diff") is not None else "",
            "min_cosine": fmt(row.get("min_cosine"), 6), "agree": agree,
            "acc": fmt(row.get("top1_accuracy"), 3), "precision_method": row.get("precision_method") or "",
        }
        lines.append([cells[k] for _, k in CELL_COLUMNS])
    return markdown(lines, [title for title, _ in CELL_COLUMNS])


def skipped_list(rows: list[dict]) -> str:
    """The skipped cells, grouped by machine, backend and reason."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        if row["status"] == SKIPPED:
            key = (row["machine"], row["backend"], row["reason"])
            groups.setdefault(key, []).append(f"{row['variant']} {row['precision']} batch {row['batch_size']}")
    if not groups:
        return "No cell was skipped."
    return "\n".join(
        f"- {backend} on {machine} ({', '.join(cells)}): {reason}" for (machine, backend, reason), cells in groups.items()
    )


def _distinct(values) -> str | None:
    values = [str(v) for v in values if v not in (None, "")]
    return ", ".join(sorted(set(values))) if values else None


def configuration_table(rows: list[dict], machines: list[str], installed: dict[str, str | None] | None,
                        export_versions: dict[str, str] | None = None) -> str:
    """The study's 'Test configuration', one column per machine: its hardware and the versions its cells imported.

    `installed` (this computer's versions) names libraries that no cell used; a comparison of runs
    made elsewhere has no such knowledge and passes None. `export_versions`: the libraries that
    wrote the shared ONNX model (onnx), the same for every machine.
    """
    export_versions = export_versions or {}
    table: list[list[str]] = [[title] for title in (
        "CPU", "GPU", "NVIDIA driver", "CUDA runtime (torch)", "cuDNN (torch)", "OS", "Python",
        *(LIBRARY_TITLES.get(lib, LIBRARIES[lib].name) for lib in CONFIGURATION_LIBRARIES),
    )]
    for machine in machines:
        mine = [r for r in rows if r["machine"] == machine]
        ran = [r for r in mine if r["status"] != SKIPPED]
        column = [
            _distinct(f"{r['cpu']} ({r['usable_cpus']} usable CPUs)" for r in mine if r.get("cpu")) or "not recorded",
            _distinct(f"{r['gpu']} (compute capability {r['gpu_compute_capability']})" for r in ran if r.get("gpu")) or "none used",
            _distinct(r.get("driver") for r in ran) or "-",
            _distinct(r.get("cuda_runtime") for r in ran) or "-",
            _distinct(r.get("cudnn") for r in ran) or "-",
            _distinct(r.get("os") for r in mine) or "not recorded",
            _distinct(r.get("python") for r in mine) or "not recorded",
        ]
        for lib in CONFIGURATION_LIBRARIES:
            used = _distinct(r.get(f"version_{lib}") for r in ran) or export_versions.get(lib)
            if used:
                column.append(used)
            elif installed is not None and installed.get(lib):
                column.append(f"installed ({installed[lib]}), not used by any cell")
            else:
                column.append("not used" if installed is None else "not installed")
        for line, value in zip(table, column):
            line.append(value)
    return markdown(table, ["Item", *machines])
