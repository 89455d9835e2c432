"""ONNX Runtime's static quantization: QDQ models from quantize_static, and an accuracy-aware pass.

quant_pre_process first (shape inference and ONNX Runtime's basic optimisations), then
quantize_static in the QDQ format with per-channel signed 8-bit weights. The accuracy-aware recipe
ranks the Conv and Gemm nodes by how much the logits' error shrinks when each alone runs in fp32
again (graph surgery on the quantized model, one session per candidate, no recalibration), then
keeps the costliest nodes in fp32 one by one (nodes_to_exclude, the calibration cached) until the
validation accuracy is within max_drop of fp32's.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from infbench.measuring.quantization import QuantData
from infbench.model.onnx_file import fixed_batch, value_dims
from infbench.planning.variants import QuantRecipe

log = logging.getLogger("infbench")
BATCH = 16


def _session(model, threads: int):
    """The model's outputs for any number of images, in batches of the size it runs at."""
    import onnxruntime as ort

    from infbench.model.parity import outputs_over

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    image = session.get_inputs()[0]
    batch = fixed_batch(image.shape) or BATCH  # a given ONNX file may fix its batch size
    return lambda images: outputs_over(lambda x: session.run(None, {image.name: x})[0], images, batch)


def _accuracy(model, images: np.ndarray, labels: np.ndarray, threads: int) -> float:
    return float((_session(model, threads)(images).argmax(1) == labels).mean())


def _reader(images: np.ndarray, input_name: str, shape: list):
    """The calibration images in batches of BATCH; of the model's size where it fixes one (the last batch made whole
    with the first images)."""
    from onnxruntime.quantization import CalibrationDataReader

    fixed = fixed_batch(shape)
    batch = fixed or BATCH
    order = np.arange(-(-len(images) // batch) * batch if fixed else len(images)) % len(images)

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.position = 0

        def get_next(self):
            if self.position >= len(order):
                return None
            chosen = np.ascontiguousarray(images[order[self.position : self.position + batch]], dtype=np.float32)
            self.position += batch
            return {input_name: chosen}

        def rewind(self):
            self.position = 0

    return Batches()


def named_layers(model_path: str | Path) -> dict:
    """The ONNX nodes a recipe names: the first convolution and the classifier."""
    import onnx

    nodes = onnx.load(str(model_path), load_external_data=False).graph.node
    weighted = [n for n in nodes if n.op_type in ("Conv", "Gemm", "MatMul")]
    return {"first_conv": next(n for n in weighted if n.op_type == "Conv"), "classifier": weighted[-1]}


def float_nodes(model_path: str | Path, names: tuple[str, ...]) -> list[str]:
    """The ONNX node names of the layers a recipe keeps in fp32."""
    layers = named_layers(model_path)
    return [layers[name].name for name in names]


def seven_bit_overrides(model_path: str | Path, names: tuple[str, ...]) -> dict:
    """quantize_static's TensorQuantOverrides that give the named layers' weights 7 bits (per channel, axis 0)."""
    layers = named_layers(model_path)
    return {layers[name].input[1]: [{"reduce_range": True, "axis": 0}] for name in names}


def preprocess(onnx_path: str | Path, out_path: Path) -> Path:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(onnx_path), str(out_path))
    return out_path


def quantize_qdq(source: Path, out_path: Path, recipe: QuantRecipe, calibration: np.ndarray, exclude: list[str],
                 cache: Path | None = None) -> Path:
    """One quantize_static of a preprocessed model (the calibration cached in `cache` where given)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    image = onnx.load(str(source), load_external_data=False).graph.input[0]
    extra = {"ActivationSymmetric": recipe.symmetric_activations, "WeightSymmetric": True}
    if recipe.seven_bit_weights:
        extra["TensorQuantOverrides"] = seven_bit_overrides(source, recipe.seven_bit_weights)
    quantize_static(
        str(source), str(out_path), calibration_data_reader=_reader(calibration, image.name, value_dims(image)), quant_format=QuantFormat.QDQ,
        per_channel=recipe.per_channel, activation_type=QuantType.QUInt8 if recipe.activations == "uint8" else QuantType.QInt8,
        weight_type=QuantType.QInt8, nodes_to_exclude=exclude or None,
        calibrate_method=getattr(CalibrationMethod, recipe.calibration),
        extra_options=extra,
        calibration_cache_path=str(cache) if cache else None,
    )
    return out_path


def _revert_to_float(quantized, floating, names: set[str]):
    """A copy of a QDQ model in which the Conv/Gemm nodes `names` read fp32 inputs and weights again.

    The node's activation input is rewired to the tensor before its QuantizeLinear, its weight and bias
    to the float model's initializers. ONNX Runtime drops a Relu before an unsigned QuantizeLinear (the
    clamp at zero does its work), so a Relu is put back where the float model had one.
    """
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(quantized)
    producer = {out: node for node in model.graph.node for out in node.output}
    float_producer = {out: node for node in floating.graph.node for out in node.output}
    float_nodes_by_name = {node.name: node for node in floating.graph.node}
    float_inits = {init.name: init for init in floating.graph.initializer}
    have = {init.name for init in model.graph.initializer}
    relus: list = []
    for node in model.graph.node:
        if node.name not in names:
            continue
        original = float_nodes_by_name[node.name]
        for k, name in enumerate(node.input):
            dequantize = producer.get(name)
            if dequantize is None or dequantize.op_type != "DequantizeLinear":
                continue
            if k == 0:
                node.input[0] = _float_activation(producer, float_producer, dequantize, relus)
            else:
                node.input[k] = _float_initializer(model, float_inits, have, original.input[k])
    _insert_after_producers(model, relus)
    return model


def _float_activation(producer, float_producer, dequantize, relus: list) -> str:
    import onnx

    quantize = producer.get(dequantize.input[0])
    if quantize is None or quantize.op_type != "QuantizeLinear":
        return dequantize.output[0]
    source = quantize.input[0]
    made = float_producer.get(source)
    if made is not None and made.op_type == "Relu" and producer[source].op_type != "Relu":
        relu_out = source + "__relu_fp32"
        if relu_out not in {r.output[0] for r in relus}:
            relus.append(onnx.helper.make_node("Relu", [source], [relu_out], name=relu_out))
        return relu_out
    return source


def _float_initializer(model, float_inits: dict, have: set[str], name: str) -> str:
    import onnx

    renamed = name + "__fp32"
    if renamed not in have:
        init = onnx.TensorProto()
        init.CopyFrom(float_inits[name])
        init.name = renamed
        model.graph.initializer.append(init)
        have.add(renamed)
    return renamed


def _insert_after_producers(model, added: list) -> None:
    """Keep the graph in topological order: each added node right after the node whose output it reads."""
    nodes = list(model.graph.node)
    for node in added:
        position = next(i for i, n in enumerate(nodes) if node.input[0] in n.output)
        nodes.insert(position + 1, node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)


GROUP = 4  # consecutive layers ranked together first
EXPAND = 3  # groups whose layers are then ranked one by one


def sensitivity_ranking(quantized_path: Path, float_path: Path, images: np.ndarray, threads: int) -> list[str]:
    """Conv/Gemm nodes, costliest first: how much the logits' error shrinks when they run in fp32 again.

    Coarse to fine: groups of consecutive layers first, then the layers of the costliest groups one by
    one (about 25 sessions for ResNet50's 54 layers instead of 54).
    """
    import onnx

    quantized, floating = onnx.load(str(quantized_path)), onnx.load(str(float_path))
    reference = _session(floating, threads)(images)

    def gain(names) -> float:
        model = _revert_to_float(quantized, floating, set(names))
        return base - float(((_session(model, threads)(images) - reference) ** 2).mean() / (reference**2).mean())

    base = float(((_session(quantized, threads)(images) - reference) ** 2).mean() / (reference**2).mean())
    candidates = [n.name for n in quantized.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    groups = sorted((candidates[i : i + GROUP] for i in range(0, len(candidates), GROUP)), key=lambda g: -gain(g))
    single = {name: gain([name]) for group in groups[:EXPAND] for name in group}
    ranked = sorted(single, key=lambda name: -single[name])
    return ranked + [name for group in groups[EXPAND:] for name in group]


def quantize(onnx_path: str, out_dir: Path, recipe: QuantRecipe, data: QuantData, threads: int, max_drop: float,
             ranking_images: int) -> dict:
    """Write out_dir/model.onnx for the recipe; return what the quantization record says about it."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        source = preprocess(onnx_path, Path(tmp) / "preprocessed.onnx")
        exclude = float_nodes(source, recipe.keep_float)
        out = out_dir / "model.onnx"
        cache = Path(tmp) / "calibration.json"
        quantize_qdq(source, out, recipe, data.calibration, exclude, cache)
        info: dict = {"model_file": out.name, "kept_float": list(exclude)}
        if recipe.accuracy_aware:
            info |= _restore_accuracy(source, out, recipe, data, threads, max_drop, ranking_images, exclude, cache)
    info["quantize_s"] = round(time.perf_counter() - start, 3)
    return info


def _restore_accuracy(source: Path, out: Path, recipe: QuantRecipe, data: QuantData, threads: int, max_drop: float,
                      ranking_images: int, exclude: list[str], cache: Path) -> dict:
    """Keep the costliest nodes in fp32, one by one, until the validation accuracy is within max_drop of fp32's."""
    fp32 = _accuracy(source, data.validation, data.validation_labels, threads)
    accuracy = _accuracy(out, data.validation, data.validation_labels, threads)
    steps = [{"kept_float": len(exclude), "validation_accuracy": accuracy}]
    log.info("accuracy-aware: validation top-1 fp32 %.4f, int8 %.4f (limit %.4f)", fp32, accuracy, fp32 - max_drop)
    if accuracy < fp32 - max_drop:
        ranked = [n for n in sensitivity_ranking(out, source, data.validation[:ranking_images], threads) if n not in exclude]
        for name in ranked:
            exclude = [*exclude, name]
            quantize_qdq(source, out, recipe, data.calibration, exclude, cache)
            accuracy = _accuracy(out, data.validation, data.validation_labels, threads)
            steps.append({"kept_float": len(exclude), "node": name, "validation_accuracy": accuracy})
            log.info("accuracy-aware: %s kept in fp32 (%d in all): validation top-1 %.4f", name, len(exclude), accuracy)
            if accuracy >= fp32 - max_drop:
                break
    return {"kept_float": exclude, "validation_fp32_accuracy": fp32, "validation_int8_accuracy": accuracy,
            "within_max_drop": accuracy >= fp32 - max_drop, "steps": steps}
