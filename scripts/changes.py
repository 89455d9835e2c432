"""Compare this run's records with a baseline (a run folder, or a time in this run's history): results/changes.md, .csv, .json."""

from pathlib import Path

import pandas as pd

from infbench.artifacts import atomic_path, write_json, write_text
from infbench.errors import BenchError
from infbench.planning.layout import RESULTS
from infbench.report.baseline import Side, compare, history_point, read_run
from infbench.report.whatchanged import csv_columns, document, flat
from infbench.results.changes import Threshold
from infbench.results.history import parse_time
from infbench.results.records import load_records
from infbench.scripting import step

NO_BASELINE = ("compare.baseline is not set: give a run's result folder (such as docs/results/cpu-2core) or a time in "
               "this run's history (such as 2026-11-30T09:26:00Z)")


def this_run(paths: list[str]) -> Side:
    side = Side(RESULTS)
    for record, path in zip(load_records(paths), paths, strict=True):
        side.add(record, path)
    return side


def baseline(text: str | None, new: Side, log) -> Side:
    """A folder where the path exists (the config's check made sure of one or the other), else a time in the history."""
    if not text:
        raise BenchError(NO_BASELINE)
    if Path(text).exists():
        return read_run(text)
    return history_point(RESULTS, list(new.records), parse_time(text), log)


def main(smk) -> None:
    with step(smk) as log:
        threshold = Threshold(**smk.params.threshold)
        new = this_run(list(smk.input.records))
        old = baseline(smk.params.baseline, new, log)
        comparison = compare(old, new, threshold)
        write_text(smk.output.table, document(comparison.changes, threshold, old.name, new.name,
                                              comparison.unpaired(old.name, new.name)))
        with atomic_path(smk.output.csv) as tmp:
            pd.DataFrame([flat(c) for c in comparison.changes], columns=csv_columns()).to_csv(tmp, index=False)
        write_json(smk.output.json, comparison.as_json(old.name, new.name, threshold))
        log.info("%d cells compared with %s: %d listed, %d regressed; wrote %s", len(comparison.changes), old.name,
                 sum(c.listed for c in comparison.changes), len(comparison.regressed), smk.output.table)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
