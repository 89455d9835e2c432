"""TensorRT cannot be installed here: check its backend statically against the real bindings wheels.

The wheels (about 1 MB each) come from PyPI; .ci/run downloads them before the tests.
"""

import os
from pathlib import Path

import pytest
from conftest import REPO, load_script

from infbench.planning import availability as trt_backend

check_tensorrt_api = load_script(REPO / "tools" / "check_tensorrt_api.py")

WHEELS = Path(os.environ.get("INFBENCH_TRT_WHEELS", Path.home() / ".cache" / "infbench" / "tensorrt-bindings"))


def test_every_tensorrt_name_used_exists_in_8_10_and_11():
    results = check_tensorrt_api.check(WHEELS)
    assert set(results) == {8, 10, 11}
    for major, result in results.items():
        assert result["version"].startswith(f"{major}.")
        assert result["checked"] > 30
        assert result["missing"] == [], (major, result["missing"])


def test_the_check_finds_names_a_version_lacks(tmp_path):
    source = tmp_path / "uses_removed_names.py"
    source.write_text(
        "def build(trt, config, builder):\n"
        "    config.set_flag(trt.BuilderFlag.FP16)\n"
        "    flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)\n"
        "    return builder.platform_has_fast_fp16, trt.NoSuchThing\n"
    )
    results = check_tensorrt_api.check(WHEELS, source)
    assert ["trt", "NoSuchThing"] in results[8]["missing"]
    assert results[10]["missing"] == [["trt", "NoSuchThing"]]
    assert {tuple(m) for m in results[11]["missing"]} == {
        ("trt.BuilderFlag", "FP16"),
        ("trt.NetworkDefinitionCreationFlag", "EXPLICIT_BATCH"),
        ("Builder", "platform_has_fast_fp16"),
        ("trt", "NoSuchThing"),
    }


def test_version_specific_lines_are_marked():
    names = check_tensorrt_api.used_names()
    assert names[("trt.BuilderFlag", "FP16")] == {8, 10}
    assert names[("trt.NetworkDefinitionCreationFlag", "EXPLICIT_BATCH")] == {8}
    assert names[("IExecutionContext", "execute_async_v3")] is None


@pytest.mark.parametrize(
    "version, major, fp16_onnx",
    [("8.6.1", 8, False), ("tensorrt-cu12 10.16.1.11", 10, False), ("tensorrt-cu13 11.4.0.106", 11, True), (None, None, False)],
)
def test_fp16_comes_from_an_fp16_onnx_model_on_tensorrt_11(version, major, fp16_onnx):
    if version:
        assert trt_backend.major_version(version) == major
    assert trt_backend.fp16_onnx_needed(version) is fp16_onnx
