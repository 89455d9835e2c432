"""Write a finished run's report again from its records: table.md, summary.json, summary.csv and the chart.

For a run folder made by an earlier version of the workflow (whose summary.json another version
cannot read), or a committed result after a change to the report. A folder that keeps its history
(history/) gets table.md's "What changed" as the aggregate writes it.

    python tools/rerender.py docs/results/cpu-2core [more folders]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from infbench.report.baseline import history_changes
from infbench.report.outputs import ReportFiles, summary_from_folder, write_report
from infbench.report.rows import load_rows
from infbench.results.changes import Threshold


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="run folders holding summary.json and the records it cites")
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    for folder in args.folders:
        summary = summary_from_folder(folder)
        paths = [row.record for row in summary.cells]
        _, records = load_rows([folder / p for p in paths], paths)  # a record that cannot be read has no history to compare
        changes = history_changes(folder, list(records.values()), list(records), Threshold.of(summary.settings),
                                  logging.getLogger("infbench"))
        write_report(summary, ReportFiles.in_folder(folder), changes)
        print(f"{folder}: {len(summary.cells)} cells, wrote table.md, summary.json, summary.csv, latency.png and .svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
