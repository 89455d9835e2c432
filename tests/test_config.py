import copy
import re

import pytest
import yaml
from conftest import REPO

from infbench.errors import ConfigError
from infbench.planning.config import validate_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_shipped_config_is_valid_and_is_the_study_configuration():
    config = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA, REPO)
    assert config["model"] == {"architecture": "resnet50", "image_size": 224, "weights": None}
    assert config["benchmark"]["batch_sizes"] == {"cpu": [1], "cuda": [1]}
    assert config["benchmark"]["precisions"] == {"cpu": ["fp32"], "cuda": ["fp32"]}
    assert config["benchmark"]["variants"]["pytorch_cuda"] == ["eager", "channels_last", "compile", "compile_cudagraphs"]
    assert config["machines"] == {}


def test_empty_config_gets_every_default():
    config = validate_config({}, SCHEMA)
    assert config["benchmark"]["iterations"] == 100
    assert config["benchmark"]["warmup"]["mode"] == "adaptive"
    assert config["parity"]["images"] == 256
    assert set(config["parity"]["tolerances"]["fp16"]) == {"max_rel_diff", "min_cosine", "min_top1_agreement", "min_accuracy_ratio",
                                                          "decisive_margin"}
    assert config["train"]["trainable"] == "auto" and config["train"]["residual_scale"] == 0.3
    assert len(config["benchmark"]["backends"]) == 8 and "openvino" in config["benchmark"]["backends"]


def test_one_tolerance_can_be_overridden_alone():
    config = validate_config({"parity": {"tolerances": {"fp32": {"max_rel_diff": 0.01}}}}, SCHEMA)
    assert config["parity"]["tolerances"]["fp32"] == {
        "max_rel_diff": 0.01, "min_cosine": 0.99999, "min_top1_agreement": 1.0, "min_accuracy_ratio": 0.99,
        "decisive_margin": None,  # twice the bound, whatever the bound
    }


@pytest.mark.parametrize(
    "bad, expected",
    [
        ({"benchmark": {"backends": ["pytorch_cpu", "tflite"]}}, "benchmark.backends[1]: 'tflite' is not one of ['pytorch_cpu'"),
        ({"model": {"architecture": "resnet5"}},
         "model.architecture: 'resnet5' is not a torchvision classification model (nearest: resnet50, resnet152, resnet34;"),
        ({"models": [{"architecture": "vit_b_16", "image_size": 40}]},
         "models[0].image_size: vit_b_16 cannot take 40x40 images (allowed: 16 to 1024 pixels, a multiple of 16: a grid of 16-pixel"),
        ({"models": [{"architecture": "resnet18"}, {"architecture": "resnet18", "image_size": 64}]},
         "models[1].name: 'resnet18' is also the name of models[0] (give each model a name of its own)"),
        ({"models": [{"architecture": "no_such_package.nets:build"}]},
         "models[0].architecture: module 'no_such_package.nets' of 'no_such_package.nets:build' is not found (looked in"),
        ({"train": {"trainable": "none"}}, "model: trainable none uses its weights as they are, and it has none (give model.weights)"),
        ({"benchmark": {"iterations": 0}}, "benchmark.iterations: 0 is less than the minimum of 1"),
        ({"benchmark": {"iterations": -3}}, "benchmark.iterations: -3 is less than the minimum of 1"),
        ({"benchmark": {"batch_sizes": [1, 0]}}, "benchmark.batch_sizes[1]: 0 is less than the minimum of 1"),
        ({"train": {"batch_size": 0}}, "train.batch_size: 0 is less than the minimum of 1"),
        ({"benchmark": {"precisions": ["int4"]}}, "benchmark.precisions[0]: 'int4' is not one of ['fp32', 'fp16', 'bf16', 'int8']"),
        ({"benchmark": {"variants": {"openvino": ["cumulative_throughput"]}}},
         "benchmark.variants.openvino[0]: 'cumulative_throughput' is not a variant of openvino (allowed: latency, throughput, int8_nncf,"),
        ({"benchmark": {"variants": {"tflite": ["default"]}}}, "benchmark.variants: 'tflite' is not one of ['pytorch_cpu'"),
        ({"benchmark": {"batch_sizes": {"cpu": [1]}}}, "benchmark.batch_sizes: 'cuda' is a required property"),
        ({"benchmark": {"min_iterations": 200}}, "benchmark.min_iterations: 200 is above benchmark.iterations (100)"),
        ({"machines": {"gpu node": {"partition": "gpu", "cpus": 8}}}, "machines: 'gpu node' does not match"),
        ({"machines": {"gpu": {"partition": "gpu"}}}, "machines.gpu: 'cpus' is a required property"),
        ({"machines": {"gpu": {"partition": "gpu", "cpus": 8, "gpu_model": "h200"}}},
         "machines.gpu.gpu_model: 'h200' is set but gpus is 0"),
        ({"compare": {"runs": ["no/such/run"]}}, "compare.runs[0]: 'no/such/run' does not exist (give a result folder or its summary.json)"),
        ({"model": {"image_size": 16}}, "model.image_size: resnet50 cannot take 16x16 images (allowed: 32 to 1024 pixels)"),
        ({"model": {"image_size": 4096}}, "model.image_size: resnet50 cannot take 4096x4096 images"),
        ({"data": {"path": "no/such/dir"}}, "data.path: 'no/such/dir' does not exist"),
        ({"model": {"weights": "missing.pth"}}, "model.weights: 'missing.pth' does not exist"),
        ({"export": {"opset": 17}}, "export.opset: the dynamo exporter writes opset 18 or newer, not 17"),
        ({"benchmark": {"iterationz": 5}}, "benchmark: Additional properties are not allowed ('iterationz' was unexpected)"),
        ({"report": {"timing": "gpu"}}, "report.timing: 'gpu' is not one of ['end_to_end', 'device_resident']"),
    ],
)
def test_bad_config_names_the_key_and_what_is_allowed(bad, expected, tmp_path):
    with pytest.raises(ConfigError) as error:
        validate_config(copy.deepcopy(bad), SCHEMA, tmp_path)
    message = str(error.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_data_path_must_be_a_directory(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ConfigError, match="data.path: 'file.txt' is not a directory"):
        validate_config({"data": {"path": "file.txt"}}, SCHEMA, tmp_path)


def test_command_line_strings_become_what_the_schema_asks_for():
    # What snakemake's --config benchmark='{"iterations": 500, ...}' hands over: every scalar a string.
    config = validate_config(
        {"benchmark": {"iterations": "500", "batch_sizes": ["1", "8"], "threads": "null", "allow_tf32": "true",
                       "noisy_cv": "0.2", "precisions": ["fp16"]},
         "model": {"image_size": "64", "architecture": "resnet18"}, "data": {"path": "null"}},
        SCHEMA,
    )
    bench = config["benchmark"]
    assert (bench["iterations"], bench["batch_sizes"]["cuda"], bench["threads"], bench["allow_tf32"]) == (500, [1, 8], None, True)
    assert bench["noisy_cv"] == 0.2 and bench["precisions"] == {"cpu": ["fp16"], "cuda": ["fp16"]}
    assert config["model"]["image_size"] == 64 and config["data"]["path"] is None


@pytest.mark.parametrize("batch_sizes, expected", [
    (["0"], "benchmark.batch_sizes[0]: 0 is less than the minimum of 1"),
    (["1", "-4"], "benchmark.batch_sizes[1]: -4 is less than the minimum of 1"),
])
def test_a_command_line_number_out_of_range_is_named_as_a_number(batch_sizes, expected):
    # --config benchmark='{"batch_sizes": [0]}' hands over ["0"]; it is a number, only too small.
    with pytest.raises(ConfigError) as error:
        validate_config({"benchmark": {"batch_sizes": batch_sizes}}, SCHEMA)
    assert str(error.value) == expected


def test_the_schema_takes_the_names_of_backends_from_the_catalogue_and_architectures_from_torchvision():
    from infbench.planning.catalog import BACKENDS
    from infbench.planning.config import load_schema

    text = SCHEMA.read_text()
    assert "onnxruntime_tensorrt" not in text and "mobilenet_v3_large]" not in text, "names are written once"
    schema = load_schema(SCHEMA)
    assert schema["$defs"]["backend"]["enum"] == list(BACKENDS)
    assert validate_config({}, SCHEMA)["benchmark"]["backends"] == list(BACKENDS)


def test_a_command_line_string_that_is_no_number_is_still_named():
    with pytest.raises(ConfigError, match=r"^benchmark.iterations: 'many' is not of type 'integer'$"):
        validate_config({"benchmark": {"iterations": "many"}}, SCHEMA)


def test_one_list_of_batch_sizes_serves_every_device_and_a_mapping_each_its_own():
    assert validate_config({"benchmark": {"batch_sizes": [1, 8]}}, SCHEMA)["benchmark"]["batch_sizes"] == {"cpu": [1, 8], "cuda": [1, 8]}
    per_device = {"cpu": [1, 8], "cuda": [1, 32, 256]}
    assert validate_config({"benchmark": {"batch_sizes": per_device}}, SCHEMA)["benchmark"]["batch_sizes"] == per_device


def test_variants_not_chosen_are_each_backends_defaults():
    config = validate_config({"benchmark": {"variants": {"pytorch_cpu": ["compile"]}}}, SCHEMA)
    assert config["benchmark"]["variants"]["pytorch_cpu"] == ["compile"]
    openvino = config["benchmark"]["variants"]["openvino"]
    assert openvino[0] == "latency" and "throughput" not in openvino  # throughput: asked for only, keeps the default job short
    assert {"int8_nncf", "int8_qdq"} <= set(openvino) and "int8_nncf_accuracy" not in openvino  # minutes: asked for only
    assert "compile_max_autotune" not in config["benchmark"]["variants"]["pytorch_cuda"]  # minutes of autotuning: asked for only


RULE = "a letter or digit, then letters, digits, '_', '.' or '-'"


@pytest.mark.parametrize("models, expected", [
    ([{"onnx": "...onnx"}], f"models[0].onnx: no model name can be made of '...onnx' (give models[0].name: {RULE})"),
    ([{"name": "..", "architecture": "resnet18"}], f"models[0].name: '..' cannot name a model (allowed: {RULE})"),
    ([{"name": "a/b", "architecture": "resnet18"}], f"models[0].name: 'a/b' cannot name a model (allowed: {RULE})"),
    ([{"architecture": "resnet18"}, {"name": "-x", "onnx": "...onnx"}], "models[1].name: '-x' cannot name a model"),
    ([{"architecture": "mine:___"}], f"models[0].architecture: no model name can be made of 'mine:___' (give models[0].name: {RULE})"),
])
def test_a_model_name_that_no_folder_or_cell_can_carry_is_a_config_error(models, expected, tmp_path):
    (tmp_path / "...onnx").write_bytes(b"")
    (tmp_path / "mine.py").write_text("def ___(num_classes):\n    pass\n")
    with pytest.raises(ConfigError) as error:
        validate_config({"models": models}, SCHEMA, tmp_path)
    assert str(error.value).startswith(expected), str(error.value)


def test_the_one_model_whose_factory_gives_no_name_is_told_how_to_name_it(tmp_path):
    (tmp_path / "mine.py").write_text("def _(num_classes):\n    pass\n")
    with pytest.raises(ConfigError, match=r"^model.architecture: no model name can be made of 'mine:_' \(give it a name in "
                                          r"models: \[\{name: \.\.\., architecture: \.\.\.\}\]: a letter or digit"):
        validate_config({"model": {"architecture": "mine:_", "image_size": 32}}, SCHEMA, tmp_path)


@pytest.mark.parametrize("onnx, name", [("-v2 model.onnx", "v2-model"), (".hidden.onnx", "hidden"), ("nets/.onnx", "onnx"),
                                        ("nets/ResNet.50.onnx", "ResNet.50")])
def test_a_name_is_made_of_an_awkward_file_name_where_one_can_be(onnx, name, tmp_path):
    from infbench.planning.cells import WILDCARD_CONSTRAINTS
    from infbench.planning.modelspec import models_of

    (tmp_path / onnx).parent.mkdir(exist_ok=True)
    (tmp_path / onnx).write_bytes(b"")
    config = validate_config({"models": [{"onnx": onnx}]}, SCHEMA, tmp_path)
    assert list(models_of(config)) == [name] and re.fullmatch(WILDCARD_CONSTRAINTS["model"], name)


def test_precisions_may_differ_per_device_and_each_device_runs_its_own(tmp_path):
    from conftest import snakemake, write_config

    config = validate_config({"benchmark": {"precisions": {"cpu": ["fp32", "int8"], "cuda": ["fp16"]}}}, SCHEMA)
    assert config["benchmark"]["precisions"] == {"cpu": ["fp32", "int8"], "cuda": ["fp16"]}
    with pytest.raises(ConfigError, match="precisions"):
        validate_config({"benchmark": {"precisions": {"cpu": ["fp32"]}}}, SCHEMA)  # both devices, or one list for both
    write_config(tmp_path, {"model": {"architecture": "resnet18", "image_size": 32},
                            "benchmark": {"backends": ["onnxruntime_cpu", "pytorch_cuda"], "batch_sizes": [1],
                                          "precisions": {"cpu": ["fp32", "int8"], "cuda": ["fp16"]},
                                          "variants": {"onnxruntime_cpu": ["default", "qdq_u8s8"], "pytorch_cuda": ["eager"]}}})
    result = snakemake(tmp_path, "-n", "--cores", "1", "results/table.md")
    assert result.returncode == 0, result.stderr[-2000:]
    records = sorted(line.split("records/local/resnet18/")[1] for line in result.stdout.splitlines()
                     if "output: results/records/" in line)
    assert records == ["onnxruntime_cpu/default/fp32_bs1.json", "onnxruntime_cpu/qdq_u8s8/int8_bs1.json",
                       "pytorch_cuda/eager/fp16_bs1.json"]
