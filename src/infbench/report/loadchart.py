"""The latency-throughput curve: p50 and p99 latency against the samples per second served, one line per runtime.

Each runtime's line is the Sweep of the variant and precision whose Server number is its best
(`infbench.report.serving.best_row`); the latency bound is drawn across.
"""

from __future__ import annotations

from infbench.report.serving import ScenarioRow, best_row
from infbench.results.records import OK

MARKERS = "osD^v<>ph*"


def curves(rows: list[ScenarioRow]) -> dict[tuple[str, str, str], ScenarioRow]:
    """(machine, model, runtime) -> the Sweep row drawn for it."""
    found = {}
    for key in dict.fromkeys((r.machine, r.model, r.backend) for r in rows):
        sweeps = [r for r in rows if (r.machine, r.model, r.backend) == key and r.scenario == "Sweep" and r.status == OK and r.points]
        if not sweeps:
            continue
        server = best_row([r for r in rows if (r.machine, r.model, r.backend) == key and r.scenario == "Server"])
        chosen = next((s for s in sweeps if server and (s.variant, s.precision) == (server.variant, server.precision)), sweeps[0])
        found[(key[0], key[1], chosen.runtime)] = chosen
    return found


def _draw(ax, series: dict, several: tuple[bool, bool], colors) -> None:
    for i, ((machine, model, runtime), row) in enumerate(series.items()):
        where = [name for name, show in ((model, several[1]), (machine, several[0])) if show]
        label = f"{runtime} ({row.label}{', ' + ', '.join(where) if where else ''})"
        points = sorted(row.points, key=lambda p: p.target_qps)  # in offered load: past the knee, served falls back
        served = [p.samples_per_s for p in points]
        color = colors(i % colors.N)
        ax.plot(served, [p.p99_ms for p in points], color=color, marker=MARKERS[i % len(MARKERS)], label=f"{label}: p99")
        ax.plot(served, [p.p50_ms for p in points], color=color, marker=MARKERS[i % len(MARKERS)], linestyle="--",
                fillstyle="none", label=f"{label}: p50")


def plot_load(rows: list[ScenarioRow], png_path, svg_path) -> None:
    """load.png and load.svg: latency (log) against samples/s served, p99 solid and p50 dashed, the bound dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    plt.rcParams["svg.fonttype"] = "none"
    series = curves(rows)
    fig, ax = plt.subplots(figsize=(10, 5.5))
    if series:
        several = (len({k[0] for k in series}) > 1, len({k[1] for k in series}) > 1)
        _draw(ax, series, several, plt.get_cmap("tab10"))
        for bound in sorted({r.latency_bound_ms for r in series.values() if r.latency_bound_ms}):
            ax.axhline(bound, color="black", linestyle=":", linewidth=1.2, label=f"bound: p99 ≤ {bound:g} ms")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.text(0.5, 0.5, "no Sweep cell was measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("samples per second served (LoadGen's Server scenario, Poisson arrivals)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency under load: p99 solid, p50 dashed (lower and further right is better)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110, format="png", bbox_inches="tight")
    fig.savefig(svg_path, format="svg", bbox_inches="tight")
    plt.close(fig)
