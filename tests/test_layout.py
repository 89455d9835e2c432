"""The seam between planning and measuring: what Snakemake imports to build the DAG stays light."""

import os
import re
import subprocess
import sys

from conftest import NUMERICAL_LIBRARIES, REPO

WORKFLOW_FILES = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]


def planning_modules() -> list[str]:
    """Every module of the package that the Snakefile and the rules import, read from their text."""
    found = set()
    for path in WORKFLOW_FILES:
        found |= set(re.findall(r"^\s*(?:from|import)\s+(infbench(?:\.\w+)*)", path.read_text(), re.MULTILINE))
    return sorted(found)


def test_the_workflow_files_import_planning_modules():
    modules = planning_modules()
    assert {"infbench.config", "infbench.cells", "infbench.catalog"} <= set(modules), modules


def test_the_planning_modules_load_no_numerical_library_in_a_fresh_interpreter():
    code = "\n".join(["import sys", *(f"import {m}" for m in planning_modules()),
                      f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({NUMERICAL_LIBRARIES!r})))"])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", f"planning modules loaded {result.stdout.strip()}"



def test_a_job_rebuilds_its_cell_from_the_wildcards_of_its_output_path():
    from types import SimpleNamespace

    from infbench.cells import Cell, cell_of_record, output_pattern
    from infbench.serving.scenarios import ScenarioCell, serving_output

    cell = Cell("local", "resnet50", "onnxruntime_cuda", "nhwc_cuda_graph", "fp16", 256)
    wildcards = SimpleNamespace(machine="local", model="resnet50", variant="nhwc_cuda_graph", precision="fp16", batch="256")
    assert Cell.from_wildcards(wildcards, "onnxruntime_cuda") == cell  # Snakemake's wildcards are strings
    assert output_pattern("onnxruntime_cuda").format(**vars(wildcards)) == cell.record_path
    assert cell_of_record(cell.record_path) == cell

    served = SimpleNamespace(machine="local", model="resnet50", variant="latency", precision="fp32", scenario="Server")
    scenario = ScenarioCell.from_wildcards(served, "openvino")
    assert scenario == ScenarioCell("local", "resnet50", "openvino", "latency", "fp32", "Server")
    assert serving_output("openvino").format(**vars(served)) == scenario.record_path
