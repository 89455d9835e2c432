"""Write results/table.md, summary.csv/json and the chart from the records of every machine of the run."""

import pandas as pd

from infbench.artifacts import atomic_path, read_json, write_json, write_text
from infbench.records import load_records
from infbench.report.chart import plot
from infbench.report.details import CONFIGURATION_LIBRARIES
from infbench.report.document import render_run, summary_document
from infbench.report.rows import summary_rows
from infbench.scripting import step
from infbench.versions import installed_version


def main(smk) -> None:
    with step(smk) as log:
        rows = summary_rows(load_records(smk.input.records))
        card = read_json(smk.input.card)
        onnx_check = read_json(smk.input.onnx_check)
        onnx_info = read_json(smk.input.onnx_info)
        settings = smk.params.settings
        installed = {lib: installed_version(lib) for lib in CONFIGURATION_LIBRARIES}
        write_text(smk.output.table, render_run(rows, card, onnx_info, onnx_check, settings, installed))
        with atomic_path(smk.output.csv) as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
        write_json(smk.output.json, summary_document(rows, card, onnx_info, onnx_check, settings))
        with atomic_path(smk.output.png) as png, atomic_path(smk.output.svg) as svg:
            plot(rows, png, svg)
        counts = pd.Series([r["status"] for r in rows]).value_counts().to_dict()
        log.info("%d cells (%s); wrote %s", len(rows), counts, smk.output.table)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
