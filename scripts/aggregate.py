"""Write results/table.md, summary.csv/json and the chart from the records of every machine and model of the run."""

from pathlib import Path

from infbench.artifacts import read_json
from infbench.planning.layout import RESULTS
from infbench.planning.versions import installed_version
from infbench.report.baseline import history_changes
from infbench.report.details import CONFIGURATION_LIBRARIES
from infbench.report.outputs import ReportFiles, write_report
from infbench.report.rows import UNREADABLE, load_rows
from infbench.report.serving import scenario_rows
from infbench.report.summary import ModelSummary, RunSummary, parity_notes
from infbench.results.changes import Threshold
from infbench.results.serving_records import read_serving_record
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        settings = smk.params.settings
        # A record that cannot be read is its cell's row, saying so; every other cell is reported.
        rows, records = load_rows(list(smk.input.records), [p.removeprefix(f"{RESULTS}/") for p in smk.input.records],
                                  settings["noisy_cv"])
        for row in rows:
            if row.status == UNREADABLE:
                log.warning("%s; the next run measures the cell again", row.reason)
        models = {
            name: ModelSummary(card=read_json(card), onnx_export=read_json(info), onnx_check=read_json(check))
            for name, card, info, check in zip(smk.params.models, smk.input.cards, smk.input.onnx_infos, smk.input.onnx_checks)
        }
        served = list(smk.input.serving)
        serving = scenario_rows([read_serving_record(p) for p in served], [p.removeprefix(f"{RESULTS}/") for p in served])
        summary = RunSummary(
            models=models, settings=settings, installed={lib: installed_version(lib) for lib in CONFIGURATION_LIBRARIES},
            notes=parity_notes(rows, settings["parity_images"]), repaired=smk.params.repair, cells=rows, serving=serving,
        )
        for note in summary.notes:
            log.warning("note: %s", note)
        # The history changes only when a record does, and a new record runs this step again: not an input.
        changes = history_changes(RESULTS, list(records.values()), [f"{RESULTS}/{p}" for p in records], Threshold.of(settings), log)
        write_report(summary, ReportFiles(*(Path(p) for p in (smk.output.table, smk.output.csv, smk.output.json,
                                                                 smk.output.png, smk.output.svg))), changes)
        if changes:
            log.info("what changed: %d cells against their previous measurement, %d listed", len(changes),
                     sum(c.listed for c in changes))
        counts = {status: sum(r.status == status for r in rows) for status in dict.fromkeys(r.status for r in rows)}
        log.info("%d cells (%s); wrote %s", len(rows), counts, smk.output.table)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
