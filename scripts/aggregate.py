"""Write results/table.md, summary.csv/json and the latency chart from the records."""

import pandas as pd

from infbench.artifacts import atomic_path, read_json, write_json, write_text
from infbench.records import load_records
from infbench.report import CONFIGURATION_LIBRARIES, plot_latency, render_markdown, summary_rows
from infbench.scripting import step
from infbench.versions import installed_version


def main(smk) -> None:
    with step(smk) as log:
        records = load_records(smk.input.records)
        card = read_json(smk.input.card)
        onnx_check = read_json(smk.input.onnx_check)
        onnx_info = read_json(smk.input.onnx_info)
        backends = sorted({r["backend"] for r in records})
        markdown = render_markdown(
            records, backends, smk.params.precisions, smk.params.batch_sizes, smk.params.timing,
            card, onnx_info, onnx_check, {lib: installed_version(lib) for lib in CONFIGURATION_LIBRARIES},
        )
        rows = summary_rows(records)
        write_text(smk.output.table, markdown)
        with atomic_path(smk.output.csv) as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
        write_json(smk.output.json, {"model": card, "onnx_export": onnx_info, "onnx_check": onnx_check, "cells": rows})
        with atomic_path(smk.output.png) as png, atomic_path(smk.output.svg) as svg:
            plot_latency(records, smk.params.timing, png, svg)
        counts = pd.Series([r["status"] for r in records]).value_counts().to_dict()
        log.info("%d cells (%s); wrote %s", len(records), counts, smk.output.table)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
