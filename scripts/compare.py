"""Put the results of several runs (machines) side by side: results/comparison.md, .csv, .json and a chart."""

import pandas as pd

from infbench.artifacts import atomic_path, write_json, write_text
from infbench.report.chart import plot
from infbench.report.document import comparison_rows, render_comparison
from infbench.report.runs import load_runs
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        runs = load_runs(list(smk.input.summaries))
        winners = comparison_rows(runs)
        write_text(smk.output.table, render_comparison(runs))
        with atomic_path(smk.output.csv) as tmp:
            pd.DataFrame(winners).to_csv(tmp, index=False)
        write_json(smk.output.json, {"runs": [str(run.path) for run in runs], "fastest": winners})
        with atomic_path(smk.output.png) as png, atomic_path(smk.output.svg) as svg:
            plot([row for run in runs for row in run.rows], png, svg)
        machines = sorted({row.machine for run in runs for row in run.rows})
        log.info("compared %d runs (machines: %s); wrote %s", len(runs), ", ".join(machines), smk.output.table)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
