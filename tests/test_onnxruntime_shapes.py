"""Fixed shapes and CUDA graphs in ONNX Runtime, shown on its CPU provider with real exports and real sessions.

A CUDA graph needs every node on the device: a dynamic export computes shapes at run time (a ViT's
reshapes, its class token's expand), and ONNX Runtime runs that arithmetic on the CPU. With the
batch axis fixed to the cell's, its optimizer folds all of it into constants before partitioning.
"""

import dataclasses

import numpy as np
import onnx
import pytest
from conftest import make_artifacts

from infbench.measuring.backends.base import CellRequest
from infbench.measuring.backends.onnxruntime import (
    CUDA,
    Sessions,
    _fixed_axis,
    batch_axis,
    capture_refusal,
    nodes_by_operator,
)
from infbench.measuring.harness import WarmupPolicy
from infbench.measuring.runner import run_cell
from infbench.model.export import export_onnx
from infbench.model.models import build_model
from infbench.model.parity import Tolerance
from infbench.model.reference import load_eval_set, save_eval_set
from infbench.planning.catalog import BACKENDS

ort = pytest.importorskip("onnxruntime")
SIZE, CLASSES = 32, 10
SHAPE_OPS = ("Shape", "Size")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The workflow's own dynamo exports (dynamic batch axis) of a real vit_b_16 and convnext_tiny, random weights, 32x32."""
    root = tmp_path_factory.mktemp("exports")
    paths = {}
    for architecture in ("vit_b_16", "convnext_tiny"):
        paths[architecture] = str(root / f"{architecture}.onnx")
        export_onnx(build_model(architecture, CLASSES, SIZE), SIZE, paths[architecture], 18, "dynamo", half=False)
    return paths


def _request(path: str, batch: int, fixed: bool, architecture: str = "vit_b_16") -> CellRequest:
    backend = BACKENDS["onnxruntime_cpu"]
    variant = backend.variant("fixed_shape" if fixed else "default")
    return CellRequest(dataclasses.replace(backend, variants=(variant,)), "fp32", batch, {"onnx": path}, architecture,
                       CLASSES, SIZE, threads=2)


def _optimized(path: str, batch: int, fixed: bool, out) -> onnx.GraphProto:
    """The graph ONNX Runtime runs, as the backend's own session options make it (ORT_ENABLE_ALL)."""
    request = _request(path, batch, fixed)
    sessions = Sessions(ort, path, request, None, _fixed_axis(path, request, {}))
    options = sessions.options()
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return onnx.load(str(out)).graph


def shape_computations(graph: onnx.GraphProto) -> list[str]:
    """Shape and Size nodes and every node computed from them and constants alone: the arithmetic on shapes
    that ONNX Runtime runs on the host at run time (a node that also reads data, such as a Reshape, is not one)."""
    constants = {init.name for init in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    derived: set[str] = set()
    found: list[str] = []
    changed = True
    while changed:
        changed = False
        for node in graph.node:
            inputs = [i for i in node.input if i]
            computed = node.op_type in SHAPE_OPS or (
                any(i in derived for i in inputs) and all(i in derived or i in constants for i in inputs))
            if computed and node.name not in found:
                found.append(node.name)
                derived.update(node.output)
                changed = True
    return found


def test_the_exports_name_their_free_batch_axis(exports):
    assert batch_axis(exports["vit_b_16"]) == "batch" == batch_axis(exports["convnext_tiny"])


@pytest.mark.parametrize("batch", [1, 8])
def test_a_fixed_batch_folds_every_shape_computation_of_a_vit(exports, tmp_path, batch):
    dynamic = shape_computations(_optimized(exports["vit_b_16"], batch, False, tmp_path / "dynamic.onnx"))
    fixed = shape_computations(_optimized(exports["vit_b_16"], batch, True, tmp_path / "fixed.onnx"))
    assert len(dynamic) > 10  # Shape, Gather, Concat... for its reshapes and its class token's expand
    assert fixed == []


def test_a_fixed_batch_leaves_no_shape_computation_in_a_convnext(exports, tmp_path):
    # torch 2.14's exporter writes no shape arithmetic for convnext_tiny even with a dynamic batch; fixed, none can be left.
    assert shape_computations(_optimized(exports["convnext_tiny"], 4, True, tmp_path / "fixed.onnx")) == []


def test_the_fixed_shape_session_takes_the_cells_batch_alone(exports):
    request = _request(exports["vit_b_16"], 4, True)
    details: dict = {}
    sessions = Sessions(ort, exports["vit_b_16"], request, None, _fixed_axis(exports["vit_b_16"], request, details))
    session, _ = sessions.create(graph=True)
    assert session.get_inputs()[0].shape == [4, 3, SIZE, SIZE] and session.get_outputs()[0].shape == [4, CLASSES]
    assert details["fixed_shape"] == "free dimension override batch = 4 (shapes folded into constants)"
    with pytest.raises(Exception, match="Got: 1 Expected: 4"):
        session.run(None, {"input": np.zeros((1, 3, SIZE, SIZE), np.float32)})


def test_placement_is_read_from_the_cells_own_first_inference_and_profiling_then_stops(exports):
    request = _request(exports["vit_b_16"], 2, False)
    details: dict = {}
    session, check_first_inference = Sessions(ort, exports["vit_b_16"], request, None, None).profiled(details)
    session.run(None, {"input": np.zeros((2, 3, SIZE, SIZE), np.float32)})
    check_first_inference()
    assert details["node_placement"]["CPUExecutionProvider"] > 100
    assert session.end_profiling() == ""  # nothing was being profiled any more: timed runs are never profiled


def _cuda_placement(nodes: list[dict], left_on_cpu: set[str]) -> list[dict]:
    """The same nodes as the CUDA provider places them: shape arithmetic on the CPU, the rest on the device, and
    the copy that brings a CPU result to the device (the CPU build cannot show these; the GPU tests do)."""
    placed = [{**n, "provider": "CPUExecutionProvider" if n["node_name"] in left_on_cpu else CUDA} for n in nodes]
    return placed + [{"op_name": "MemcpyFromHost", "node_name": "Memcpy_token_0", "provider": CUDA}]


def test_a_placement_that_copies_between_host_and_device_is_refused_with_the_nodes_named(exports, tmp_path):
    path = exports["vit_b_16"]
    request = _request(path, 2, False)
    sessions = Sessions(ort, path, request, None, None)
    options = sessions.options(str(tmp_path / "profile"))
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    session.run(None, {"input": np.zeros((2, 3, SIZE, SIZE), np.float32)})
    from infbench.measuring.backends.onnxruntime import profiled_nodes

    nodes = profiled_nodes(session.end_profiling())
    on_cpu = set(shape_computations(onnx.load(str(tmp_path / "optimized.onnx")).graph))
    shapes = [n for n in nodes if n["op_name"] == "Shape"]
    assert shapes and {n["node_name"] for n in shapes} <= on_cpu  # the profile names the optimized graph's nodes
    reason = capture_refusal(_cuda_placement(nodes, on_cpu), CUDA)
    executed_on_cpu = [n for n in nodes if n["node_name"] in on_cpu]
    assert reason.startswith(f"no CUDA graph for this model: ONNX Runtime left {len(executed_on_cpu)} of {len(nodes) + 1} nodes "
                             f"off {CUDA} (")
    assert f"Shape x{len(shapes)} ({shapes[0]['node_name']}" in reason
    assert "; copies between host and device: MemcpyFromHost x1 (Memcpy_token_0); " in reason


def test_a_placement_without_copies_can_be_captured():
    nodes = [{"op_name": "Conv", "node_name": "conv", "provider": CUDA},
             {"op_name": "Shape", "node_name": "shape", "provider": "CPUExecutionProvider"}]  # read only by a CPU input
    assert capture_refusal(nodes, CUDA) is None
    assert capture_refusal(nodes + [{"op_name": "Relu", "node_name": "r", "provider": "OtherExecutionProvider"}], CUDA)


def test_nodes_are_named_by_operator_most_frequent_first_and_shortened():
    nodes = [{"op_name": "Gather", "node_name": f"g{i}"} for i in range(5)] + [{"op_name": "Shape", "node_name": "s"}]
    assert nodes_by_operator(nodes) == "Gather x5 (g0, g1, g2, ...), Shape x1 (s)"
    assert nodes_by_operator(nodes, kinds=1) == "Gather x5 (g0, g1, g2, ...), 1 more of 1 other operators"


def test_a_fixed_shape_cell_is_measured_like_any_other(tmp_path):
    save_eval_set(tmp_path / "eval_set.npz", make_artifacts(tmp_path, SIZE, CLASSES, n_images=8))
    request = CellRequest(BACKENDS["onnxruntime_cpu"], "fp32", 4, {"onnx": str(tmp_path / "onnx_model.onnx")}, "resnet18",
                          CLASSES, SIZE, threads=2, variant="fixed_shape")
    record = run_cell(request, load_eval_set(tmp_path / "eval_set.npz"), 3, WarmupPolicy(mode="fixed", iterations=1),
                      Tolerance(1e-4, 0.99999, 1.0), 0.1)
    assert record.status == "ok", record.reason
    assert record.settings["fixed_shape"].startswith("free dimension override batch = 4")
    assert record.settings["node_placement"]["CPUExecutionProvider"] > 10
