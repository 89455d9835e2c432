"""Planning imports none of the libraries that measure: the Snakefile and the rules build the plan with snakemake alone.

The modules are the ones the Snakefile and workflow/rules/*.smk import, followed through the package's own imports
(lazy ones included) by infbench.planning.dependencies, the reader the rules' code digests use. What the plan's functions do
when they run is checked by tests/test_lint.py's dry run, in which every library outside snakemake is blocked.
"""

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO

from infbench.planning.dependencies import package_files

MEASURING_LIBRARIES = ("numpy", "pandas", "torch", "torchvision", "onnx", "onnxruntime", "openvino", "tensorrt")

# Imports the modules one by one in a fresh interpreter; prints the first whose import brings in a measuring library.
PROBE = """
import importlib, json, sys
libraries = set(sys.argv[1].split(","))
for name in sys.argv[2:]:
    importlib.import_module(name)
    if loaded := sorted(libraries & {module.split(".")[0] for module in sys.modules}):
        print(json.dumps({name: loaded}))
        break
else:
    print(json.dumps({}))
"""


def planning_modules() -> list[str]:
    """The package's modules that the Snakefile and the rules import, directly or through one another."""
    sources = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    files = {Path(file) for source in sources for file in package_files(REPO / "src", source)}
    return sorted(".".join(file.relative_to(REPO / "src").with_suffix("").parts).removesuffix(".__init__") for file in files)


def test_the_planning_modules_are_found_in_the_rules_imports():
    modules = planning_modules()
    assert {"infbench.planning.config", "infbench.planning.dependencies", "infbench.planning.catalog", "infbench.planning.cells", "infbench.planning.serving"} <= set(modules)
    assert not {"infbench.measuring.harness", "infbench.measuring.runner", "infbench.model.models"} & set(modules), modules


def test_importing_every_planning_module_loads_no_measuring_library(tmp_path):
    cmd = [sys.executable, "-c", PROBE, ",".join(MEASURING_LIBRARIES), *planning_modules()]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {}, f"importing this module loads a measuring library: {result.stdout}"


def test_the_probe_sees_a_measuring_library_where_one_is_imported(tmp_path):
    cmd = [sys.executable, "-c", PROBE, ",".join(MEASURING_LIBRARIES), "infbench.planning.config", "infbench.measuring.harness"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert json.loads(result.stdout) == {"infbench.measuring.harness": ["numpy"]}, result.stdout + result.stderr
