"""Draw results/load.png and .svg: each runtime's latency against the samples per second it served (its Sweep)."""

from infbench.artifacts import atomic_path
from infbench.report.loadchart import plot_load
from infbench.report.serving import scenario_rows
from infbench.results.serving_records import read_serving_record
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        paths = list(smk.input.records)
        rows = scenario_rows([read_serving_record(p) for p in paths], [p.removeprefix("results/") for p in paths])
        with atomic_path(smk.output.png) as png, atomic_path(smk.output.svg) as svg:
            plot_load(rows, png, svg)
        log.info("%d scenario cells, %d with a curve; wrote %s", len(rows), sum(bool(r.points) for r in rows), smk.output.png)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
