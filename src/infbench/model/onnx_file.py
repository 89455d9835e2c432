"""A trained model given as an ONNX file (models[].onnx): checked, named as the workflow's exports are, and run.

The file must take what the workflow feeds every model (one float32 NCHW batch of images, normalised
with ImageNet's mean and std) and give one row of class scores per image. Its input and output are
renamed to the names the workflow's own exports carry, so that every ONNX backend runs it unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from infbench.artifacts import atomic_path
from infbench.errors import ArtifactError, first_line
from infbench.model.export import INPUT_NAME, OUTPUT_NAME, PROVIDED

FLOAT = 1  # onnx.TensorProto.FLOAT


def value_dims(value_info) -> list[int | str]:
    """A graph input's or output's shape: numbers where fixed, names (or "?") where not."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in value_info.type.tensor_type.shape.dim]


def _initializer_names(graph) -> set[str]:
    return {init.name for init in graph.initializer}


def check_interface(proto, image_size: int, num_classes: int, source: str) -> dict:
    """The file's one image input and one class-score output, as the workflow feeds and reads them.

    Raises ArtifactError naming what does not fit. Returns the input's and output's shapes.
    """
    graph = proto.graph
    inputs = [i for i in graph.input if i.name not in _initializer_names(graph)]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ArtifactError(f"{source}: has {len(inputs)} inputs and {len(graph.output)} outputs; one image input and "
                            "one output of class scores are needed")
    (image,), (scores,) = inputs, graph.output
    if image.type.tensor_type.elem_type != FLOAT:
        raise ArtifactError(f"{source}: its input '{image.name}' is not float32 (the workflow feeds float32 images)")
    shape, out_shape = value_dims(image), value_dims(scores)
    expected = ["batch", 3, image_size, image_size]
    if len(shape) != 4 or any(isinstance(d, int) and d != e for d, e in zip(shape[1:], expected[1:], strict=True)):
        raise ArtifactError(f"{source}: its input '{image.name}' has shape {shape}; the workflow feeds "
                            f"[batch, 3, {image_size}, {image_size}] (NCHW, the model's image_size)")
    if len(out_shape) != 2 or (isinstance(out_shape[1], int) and out_shape[1] != num_classes):
        raise ArtifactError(f"{source}: its output '{scores.name}' has shape {out_shape}; [batch, {num_classes}] is "
                            f"needed, one score per class of the data ({num_classes} classes)")
    return {"input_shape": shape, "output_shape": out_shape, "input_name": image.name, "output_name": scores.name}


def rename_interface(proto, old_input: str, old_output: str) -> None:
    """Give the graph's input and output the names the workflow's exports carry, everywhere they are used."""
    names = {old_input: INPUT_NAME, old_output: OUTPUT_NAME}
    graph = proto.graph
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = names.get(value.name, value.name)


def fixed_batch(shape: list[int | str]) -> int | None:
    """The batch size the file fixes, or None where its batch axis is dynamic."""
    return shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None


def batch_ruled_out(fixed: int | None, batch: int, source: str | Path) -> str | None:
    """Why a cell at `batch` cannot run a file that fixes its batch size at `fixed` (None where it can)."""
    if fixed is None or batch == fixed:
        return None
    return (f"{source} fixes its batch size at {fixed}; batch {batch} needs a file with a dynamic batch axis "
            "(or set benchmark.batch_sizes to the file's)")


def import_onnx(source: str | Path, dest: str | Path, image_size: int, num_classes: int) -> dict:
    """Check the file, and write it to `dest` with the workflow's input and output names; its onnx_model.json."""
    import onnx

    try:
        proto = onnx.load(str(source))
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise ArtifactError(f"{source}: not a valid ONNX model ({type(exc).__name__}: {first_line(exc)})") from exc
    interface = check_interface(proto, image_size, num_classes, str(source))
    rename_interface(proto, interface["input_name"], interface["output_name"])
    with atomic_path(dest) as tmp:
        onnx.save(proto, str(tmp))
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=None)
    return {
        "status": PROVIDED,
        "exporter": "none (the file as given)",
        "source": str(source),
        "opset": opset,
        "dtype": "float32",
        "nodes": len(proto.graph.node),
        "inputs": [INPUT_NAME],
        "outputs": [OUTPUT_NAME],
        "given_names": {"input": interface["input_name"], "output": interface["output_name"]},
        "input_shape": interface["input_shape"],
        "output_shape": interface["output_shape"],
        "fixed_batch": fixed_batch(interface["input_shape"]),
    }


def cpu_session(onnx_path: str | Path, threads: int):
    """ONNX Runtime's CPU session of a file: the reference an ONNX file's cells are judged against."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ArtifactError(f"{onnx_path}: ONNX Runtime cannot load it ({first_line(exc)})") from exc


def scores(session, images: np.ndarray, batch: int) -> np.ndarray:
    """The file's outputs for `images`, in batches of `batch` (its fixed batch size where it has one)."""
    from infbench.model.parity import outputs_over

    return outputs_over(lambda x: session.run([OUTPUT_NAME], {INPUT_NAME: x})[0], images, batch).astype(np.float32)


def largest_initializer(onnx_path: str | Path) -> tuple[float, str]:
    """The largest |value| among the file's weights, and where (fp16's range, as for a PyTorch model's weights)."""
    import onnx
    from onnx import numpy_helper

    largest, where = 0.0, ""
    for init in onnx.load(str(onnx_path)).graph.initializer:
        values = numpy_helper.to_array(init)
        if values.dtype.kind == "f" and values.size:
            value = float(np.abs(values).max())
            if value > largest:
                largest, where = value, init.name
    return largest, where
