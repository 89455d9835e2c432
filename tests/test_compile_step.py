"""torch.compile's compilation made by a step of its own, before the cell: the cell's compilation then reads inductor's cache."""

import json

from conftest import TINY_CONFIG, snakemake, write_config

from infbench.results.records import read_record

RECORD = "results/records/local/resnet18/pytorch_cpu/compile/fp32_bs2.json"
STEP = "results/engines/local/resnet18/pytorch_cpu/compile/fp32_bs2/build.json"


def test_a_compiled_cell_reuses_what_its_compile_step_compiled(tmp_path):
    config = {**TINY_CONFIG, "benchmark": {**TINY_CONFIG["benchmark"], "backends": ["pytorch_cpu", "pytorch_cuda"],
                                           "batch_sizes": [2], "variants": {"pytorch_cpu": ["compile"],
                                                                            "pytorch_cuda": ["compile_cudagraphs"]}}}
    write_config(tmp_path, config)
    dry = snakemake(tmp_path, "-n", "--cores", "2", "results/table.md")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "compile_torch            1" in dry.stdout  # the CPU's; no GPU here, so none for pytorch_cuda
    result = snakemake(tmp_path, "--cores", "2", RECORD)
    assert result.returncode == 0, result.stderr[-3000:]
    step = json.loads((tmp_path / STEP).read_text())
    record = read_record(tmp_path / RECORD)
    assert step["status"] == "compiled" and step["compile_s"] > 0
    assert record.status == "ok", record.reason
    assert record.cold_start.compile_step_s == step["compile_s"]
    # Inductor's cache held every graph: the cell compiled in a fraction of the step's time.
    assert record.cold_start.prepare_s < step["compile_s"] / 2
    assert record.cold_start.build_s == round(record.cold_start.prepare_s + step["compile_s"], 3)
    assert record.build["status"] == "compiled"
