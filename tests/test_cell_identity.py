"""A cell's identity: the path of its output, the wildcards Snakemake reads from it and the cell a job rebuilds agree."""

from types import SimpleNamespace

from infbench.planning.cells import Cell, cell_of_record, output_pattern
from infbench.planning.scenarios import ScenarioCell, serving_output


def test_a_job_rebuilds_its_cell_from_the_wildcards_of_its_output_path():
    cell = Cell("local", "resnet50", "onnxruntime_cuda", "nhwc_cuda_graph", "fp16", 256)
    wildcards = SimpleNamespace(machine="local", model="resnet50", variant="nhwc_cuda_graph", precision="fp16", batch="256")
    assert Cell.from_wildcards(wildcards, "onnxruntime_cuda") == cell  # Snakemake's wildcards are strings
    assert output_pattern("onnxruntime_cuda").format(**vars(wildcards)) == cell.record_path
    assert cell_of_record(cell.record_path) == cell

    served = SimpleNamespace(machine="local", model="resnet50", variant="latency", precision="fp32", scenario="Server")
    scenario = ScenarioCell.from_wildcards(served, "openvino")
    assert scenario == ScenarioCell("local", "resnet50", "openvino", "latency", "fp32", "Server")
    assert serving_output("openvino").format(**vars(served)) == scenario.record_path
