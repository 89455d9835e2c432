"""The chart people read first: latency and throughput against batch size, one line per runtime and variant."""

from __future__ import annotations

from infbench.report.rows import SummaryRow, machines_in, models_in
from infbench.results.records import OK

LINESTYLES = {"fp32": "-", "fp16": "--", "bf16": ":"}
MARKERS = "osD^v<>ph*"


def lines(rows: list[SummaryRow]) -> dict[tuple, list[tuple[int, float, float]]]:
    """(machine, model, runtime, variant label, precision) -> [(batch, latency ms, images/s)], measured cells only."""
    found: dict[tuple, list[tuple[int, float, float]]] = {}
    for row in rows:
        if row.status != OK:
            continue
        mode = row.best_mode
        key = (row.machine, row.model, row.runtime, row.variant_label, row.precision)
        found.setdefault(key, []).append((row.batch_size, row.mean_ms(mode), row.throughput(mode)))
    return {key: sorted(points) for key, points in found.items()}


def plot(rows: list[SummaryRow], png_path, svg_path) -> None:
    """Two panels, log-log: mean latency per call and images per second, against batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # keep labels as text in the SVG
    series = lines(rows)
    machines, models = machines_in(rows), models_in(rows)
    fig, (latency_ax, throughput_ax) = plt.subplots(1, 2, figsize=(13, 5.5))
    if series:
        runtimes = sorted({(key[2], key[3]) for key in series})
        colors = plt.get_cmap("tab20" if len(runtimes) > 10 else "tab10")
        for key, points in series.items():
            machine, model, runtime, variant, precision = key
            where = [name for name, several in ((model, len(models) > 1), (machine, len(machines) > 1)) if several]
            label = f"{runtime}: {variant}, {precision}" + (f" ({', '.join(where)})" if where else "")
            style = {
                "color": colors(runtimes.index((runtime, variant)) % colors.N),
                "linestyle": LINESTYLES.get(precision, "-"),
                "marker": MARKERS[(machines.index(machine) * len(models) + models.index(model)) % len(MARKERS)],
                "label": label,
            }
            batches = [p[0] for p in points]
            latency_ax.plot(batches, [p[1] for p in points], **style)
            throughput_ax.plot(batches, [p[2] for p in points], **style)
        for ax in (latency_ax, throughput_ax):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("batch size")
            ax.grid(True, which="both", alpha=0.3)
        throughput_ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        for ax in (latency_ax, throughput_ax):
            ax.text(0.5, 0.5, "no cell was measured", ha="center", va="center", transform=ax.transAxes)
    latency_ax.set_ylabel("mean latency per call (ms)")
    latency_ax.set_title("Latency (lower is better)")
    throughput_ax.set_ylabel("images per second")
    throughput_ax.set_title("Throughput (higher is better)")
    fig.suptitle("Device-resident timing on GPUs, end to end on CPUs; solid fp32, dashed fp16, dotted bf16", fontsize=9)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110, format="png", bbox_inches="tight")
    fig.savefig(svg_path, format="svg", bbox_inches="tight")
    plt.close(fig)
