"""Summary rows: one flat row per cell (the CSV and JSON summaries), from which every table is made."""

from __future__ import annotations

from infbench.catalog import BACKENDS, PRECISIONS
from infbench.cells import Cell
from infbench.records import TIMING_MODES

PREFIX = {"end_to_end": "e2e", "device_resident": "resident"}
STATS = ("mean", "p50", "p90", "p99", "std", "min", "max")


def summary_row(record: dict) -> dict:
    cell = Cell.of(record)
    backend = BACKENDS[cell.backend]
    row = {
        **cell.fields(),
        "runtime": backend.title,
        "framework": backend.framework,
        "study_row": backend.row,
        "device": backend.device,
        "variant_label": backend.variant(cell.variant).label,
        "label": cell.label,
        "status": record["status"],
        "reason": record.get("reason"),
        "record": cell.record_path.removeprefix("results/"),
    }
    timing = record.get("timing", {})
    for mode in TIMING_MODES:
        block = timing.get(mode)
        if not block:
            continue
        prefix = PREFIX[mode]
        for stat in STATS:
            row[f"{prefix}_{stat}_ms"] = block["host_ms"][stat]
        row[f"{prefix}_cv"] = block["host_ms"]["cv"]
        if "device_ms" in block:
            for stat in ("mean", "p50", "p99"):
                row[f"{prefix}_cuda_event_{stat}_ms"] = block["device_ms"][stat]
        row[f"{prefix}_iterations"] = block["host_ms"]["n"]
        row[f"{prefix}_images_per_step"] = block.get("images_per_step", cell.batch)
        row[f"{prefix}_throughput_ips"] = block["throughput_ips"]
        row[f"{prefix}_noisy"] = block["noisy"]
        row[f"{prefix}_warmup_iterations"] = block["warmup"]["iterations"]
        row[f"{prefix}_warmup_settled"] = block["warmup"]["settled"]
    cold = record.get("cold_start", {})
    for key in ("load_s", "first_inference_ms", "prepare_s", "engine_build_s", "build_s"):
        row[key] = cold.get(key)
    memory = record.get("memory", {})
    row["host_peak_rss_mb"] = memory.get("host_peak_rss_mb")
    row["device_peak_mb"] = memory.get("device_peak_mb")
    parity = record.get("parity", {})
    for key in ("images", "max_abs_diff", "max_rel_diff", "min_cosine", "top1_agreement", "decisive_images",
                "decisive_top1_agreement", "top1_accuracy", "reference_top1_accuracy", "accuracy_ratio"):
        row[key if key != "images" else "parity_images"] = parity.get(key)
    settings = record.get("settings", {})
    row["threads"] = settings.get("threads")
    row["precision_method"] = (
        settings.get("fp16_method") or settings.get("bf16_method") or record.get("build", {}).get("fp16_method")
        or (f"INFERENCE_PRECISION_HINT {settings['inference_precision']}" if "inference_precision" in settings else None)
    )
    host = record.get("host", {})
    gpu = record.get("gpu", {})
    row.update(
        cpu=host.get("cpu"), usable_cpus=host.get("usable_cpus"), os=host.get("os"), python=host.get("python"),
        hostname=host.get("hostname"), gpu=gpu.get("name"), gpu_compute_capability=gpu.get("compute_capability"),
        driver=gpu.get("driver"), cuda_runtime=gpu.get("cuda_runtime"), cudnn=gpu.get("cudnn"),
    )
    for lib, version in record.get("versions", {}).items():
        row[f"version_{lib}"] = version
    return row


def _order(row: dict, machines: list[str]) -> tuple:
    backend = BACKENDS[row["backend"]]
    return (
        machines.index(row["machine"]),
        list(BACKENDS).index(row["backend"]),
        backend.variant_names.index(row["variant"]) if row["variant"] in backend.variant_names else 99,
        PRECISIONS.index(row["precision"]),
        row["batch_size"],
    )


def summary_rows(records: list[dict]) -> list[dict]:
    """One row per record, in the order of machines (as first seen), backends and variants (as catalogued)."""
    machines = list(dict.fromkeys(r["machine"] for r in records))
    return sorted((summary_row(r) for r in records), key=lambda row: _order(row, machines))


def machines_in(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(row["machine"] for row in rows))


def shown_mode(row: dict, preferred: str) -> str:
    """The timing mode a cell shows: the preferred one where the row has it (CPU cells have only end to end)."""
    return preferred if f"{PREFIX[preferred]}_mean_ms" in row else "end_to_end"


def best_mode(row: dict) -> str:
    """How a runtime at its best is timed: inputs and outputs on the device where it has one."""
    return shown_mode(row, "device_resident")


def mean_ms(row: dict, mode: str) -> float:
    return row[f"{PREFIX[mode]}_mean_ms"]


def throughput(row: dict, mode: str) -> float:
    return row[f"{PREFIX[mode]}_throughput_ips"]
