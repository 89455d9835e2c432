"""The committed results render byte for byte from their records, and every record fits the record schema."""

import json
import shutil

import jsonschema
import pytest
from conftest import REPO

from infbench.report.document import render_comparison
from infbench.report.outputs import ReportFiles, summary_from_folder, write_report
from infbench.report.runs import load_runs
from infbench.results.records import read_record

RESULTS = REPO / "docs" / "results"
RUNS = sorted(p.parent for p in RESULTS.glob("*/summary.json"))
SCHEMA = REPO / "workflow" / "schemas" / "record.schema.json"


def test_there_are_committed_runs():
    assert {p.name for p in RUNS} >= {"cpu-2core", "h200"}


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_a_committed_run_renders_again_byte_for_byte(run, tmp_path):
    files = ReportFiles.in_folder(tmp_path)
    write_report(summary_from_folder(run), files)
    assert files.table.read_text() == (run / "table.md").read_text()
    assert json.loads(files.json.read_text()) == json.loads((run / "summary.json").read_text())


def test_the_committed_comparison_renders_again_byte_for_byte(tmp_path):
    config = (RESULTS / "comparison" / "config.yaml").read_text()
    runs = [line.strip()[2:] for line in config.splitlines() if line.strip().startswith("- docs/results/")]
    for run in runs:
        shutil.copytree(REPO / run, tmp_path / run)
    loaded = load_runs([tmp_path / run for run in runs])
    expected = (RESULTS / "comparison" / "comparison.md").read_text()
    assert render_comparison(loaded).replace(str(tmp_path) + "/", "") == expected


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.name)
def test_every_committed_record_fits_the_schema_and_the_definition(run):
    schema = json.loads(SCHEMA.read_text())
    cited = [row["record"] for row in json.loads((run / "summary.json").read_text())["cells"]]
    for path in cited:
        data = json.loads((run / path).read_text())
        read_record(run / path)  # the definition (older records are read as the current version)
        if data["schema_version"] == schema["properties"]["schema_version"].get("const", 3):
            jsonschema.validate(data, schema)
