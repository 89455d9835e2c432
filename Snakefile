# Inference benchmark: train -> model_weights.pth -> onnx_model.onnx -> engines -> one timing
# rule per backend -> results/table.md. See README.md; the configuration is described in
# workflow/schemas/config.schema.yaml.

import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The workflow's own package, src/infbench, is installed (`-e .` in requirements.txt): the DAG build and
# every job's script import it from there, and the conda environments in envs/ install it from this folder.
from infbench.errors import ConfigError
from infbench.planning.config import validate_config
from infbench.planning.dependencies import installed_elsewhere, name_project_folder

# The rules' code digests read this folder's src/: a package installed from another copy would run other code.
if problem := installed_elsewhere(Path(workflow.basedir) / "src"):
    sys.exit(f"error: {problem}")
name_project_folder(Path(workflow.basedir))


configfile: "config/config.yaml"


try:
    validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as exc:
    sys.exit(f"config error: {exc}")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/engines.smk"
include: "workflow/rules/optimize.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/serving.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "results/table.md",
        "results/summary.csv",
        "results/latency.png",
