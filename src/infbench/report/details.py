"""The detailed tables: every cell's statistics, cold start, memory and parity; skips; the test configuration."""

from __future__ import annotations

from infbench.planning.catalog import LIBRARIES
from infbench.report.rows import SummaryRow
from infbench.report.text import Footnotes, fmt, format_s, markdown, status_note
from infbench.results.records import MISMATCH, OK, SKIPPED

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


MODE_NAMES = {"end_to_end": "end to end", "device_resident": "device resident"}
CELL_KEYS = ("machine", "backend", "variant_label", "precision", "batch_size")


def _timing_line(row: SummaryRow, mode: str) -> list[str]:
    timing = row.timing(mode)
    cells = {k: str(getattr(row, k)) for k in CELL_KEYS}
    if row.status == MISMATCH:
        cells["precision"] += " (below the gate)"
    cells["mode"] = MODE_NAMES[mode]
    for stat in ("mean", "p50", "p90", "p99", "std", "min"):
        cells[stat] = fmt(getattr(timing, f"{stat}_ms"))
    cells["cv"] = f"{timing.cv:.1%}" + (" ~" if timing.noisy else "")
    cells["event_mean"] = fmt(timing.cuda_event_mean_ms)
    cells["calls"] = str(timing.iterations)
    per_step = timing.images_per_step
    cells["throughput"] = fmt(timing.throughput_ips, 1) + (
        f" ({per_step // row.batch_size} requests a call)" if per_step != row.batch_size else ""
    )
    cells["warmup"] = str(timing.warmup_iterations) + ("" if timing.warmup_settled else " (unsettled)")
    return [cells.get(k, "") for _, k in TIMING_COLUMNS]


def timing_table(rows: list[SummaryRow]) -> str:
    """Latency statistics of every timed cell, one line per timing mode (quantized cells below the gate marked so)."""
    lines = [_timing_line(row, mode) for row in rows for mode in MODE_NAMES
             if row.status in (OK, MISMATCH) and row.timing(mode)]
    return markdown(lines, [title for title, _ in TIMING_COLUMNS])


def cell_table(rows: list[SummaryRow], notes: Footnotes) -> str:
    """Cold start, memory and output parity of every cell that ran (measured, mismatched or failed)."""
    lines = []
    for row in rows:
        if row.status == SKIPPED:
            continue
        status = row.status if row.status == OK else row.status + notes.ref(status_note(row))
        agree = ""
        if row.decisive_top1_agreement is not None:
            agree = f"{row.decisive_top1_agreement:.3f} of {row.decisive_images}"
        cells = {
            **{k: str(getattr(row, k)) for k in CELL_KEYS},
            "status": status, "load_s": fmt(row.load_s, 2), "build_s": format_s(row.build_s),
            "first_ms": fmt(row.first_inference_ms, 1), "host_mb": fmt(row.host_peak_rss_mb, 0),
            "gpu_mb": fmt(row.device_peak_mb, 0),
            "max_rel_diff": f"{row.max_rel_diff:.2e}" if row.max_rel_diff is not None else "",
            "min_cosine": fmt(row.min_cosine, 6), "agree": agree,
            "acc": fmt(row.top1_accuracy, 3), "precision_method": row.precision_method or "",
        }
        lines.append([cells[k] for _, k in CELL_COLUMNS])
    return markdown(lines, [title for title, _ in CELL_COLUMNS])


def skipped_list(rows: list[SummaryRow]) -> str:
    """The skipped cells, grouped by machine, backend and reason."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        if row.status == SKIPPED:
            key = (row.machine, row.backend, row.reason)
            groups.setdefault(key, []).append(f"{row.variant} {row.precision} batch {row.batch_size}")
    if not groups:
        return "No cell was skipped."
    return "\n".join(
        f"- {backend} on {machine} ({', '.join(cells)}): {reason}" for (machine, backend, reason), cells in groups.items()
    )


def _distinct(values) -> str | None:
    values = [str(v) for v in values if v not in (None, "")]
    return ", ".join(sorted(set(values))) if values else None


CONFIGURATION_ITEMS = ("CPU", "GPU", "NVIDIA driver", "CUDA runtime (torch)", "cuDNN (torch)", "OS", "Python")


def _machine_column(mine: list[SummaryRow]) -> list[str]:
    ran = [r for r in mine if r.status != SKIPPED]
    return [
        _distinct(f"{r.cpu} ({r.usable_cpus} usable CPUs)" for r in mine if r.cpu) or "not recorded",
        _distinct(f"{r.gpu} (compute capability {r.gpu_compute_capability})" for r in ran if r.gpu) or "none used",
        _distinct(r.driver for r in ran) or "-",
        _distinct(r.cuda_runtime for r in ran) or "-",
        _distinct(r.cudnn for r in ran) or "-",
        _distinct(r.os for r in mine) or "not recorded",
        _distinct(r.python for r in mine) or "not recorded",
    ]


def _library_cell(lib: str, ran: list[SummaryRow], installed: dict[str, str | None] | None, export_versions: dict) -> str:
    used = _distinct(r.versions.get(lib) for r in ran) or export_versions.get(lib)
    if used:
        return used
    if installed is not None and installed.get(lib):
        return f"installed ({installed[lib]}), not used by any cell"
    return "not used" if installed is None else "not installed"


def configuration_table(rows: list[SummaryRow], machines: list[str], installed: dict[str, str | None] | None,
                        export_versions: dict[str, str] | None = None) -> str:
    """The study's 'Test configuration', one column per machine: its hardware and the versions its cells imported.

    `installed` (the versions installed where the run was made) names libraries that no cell used; a
    comparison of runs made elsewhere passes None. `export_versions`: the libraries that wrote the
    shared ONNX model (onnx), the same for every machine.
    """
    export_versions = export_versions or {}
    titles = [*CONFIGURATION_ITEMS, *(LIBRARY_TITLES.get(lib, LIBRARIES[lib].name) for lib in CONFIGURATION_LIBRARIES)]
    table: list[list[str]] = [[title] for title in titles]
    for machine in machines:
        mine = [r for r in rows if r.machine == machine]
        ran = [r for r in mine if r.status != SKIPPED]
        column = _machine_column(mine) + [_library_cell(lib, ran, installed, export_versions) for lib in CONFIGURATION_LIBRARIES]
        for line, value in zip(table, column):
            line.append(value)
    return markdown(table, ["Item", *machines])
