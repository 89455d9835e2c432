"""Validation of the workflow's configuration: JSON Schema plus the checks a schema cannot express."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from infbench.errors import ConfigError
from infbench.planning.architectures import check_architecture, check_image_size, factory_search_path
from infbench.planning.catalog import BACKENDS, DEVICES, PRECISIONS
from infbench.planning.modelspec import NAME_RULE, default_name, is_model_name
from infbench.planning.serving import check_serving


def _with_defaults(validator_class):
    """A validator that fills in each property's schema default before validating it."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key(path) -> str:
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key.lstrip(".") or "(top level)"


def load_schema(schema_path: str | Path) -> dict:
    """The config schema, with the names the catalogue holds filled in (written once, in src/infbench/planning/catalog.py)."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    schema["$defs"]["backend"]["enum"] = list(BACKENDS)
    schema["$defs"]["precision"]["enum"] = list(PRECISIONS)
    schema["properties"]["benchmark"]["properties"]["backends"]["default"] = list(BACKENDS)
    return schema


_NON_STRING_TYPES = {"integer", "number", "boolean", "null", "array", "object"}


def _types(schema: dict) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def _resolve(schema: dict, root: dict) -> dict:
    """The schema a local "$ref": "#/..." points to (the only references this schema uses)."""
    while "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def coerce_strings(value: Any, schema: dict, root: dict | None = None) -> Any:
    """Turn strings into what the schema asks for, as YAML reads them ("500" -> 500, "null" -> None).

    Snakemake reads a nested `--config key='{"a": 500}'` with YAML's base loader, which keeps every
    scalar a string. A string stays a string where the schema allows one, or where it does not parse
    into an allowed type (validation then names it).
    """
    root = schema if root is None else root
    schema = _resolve(schema, root)
    branches = [_resolve(branch, root) for branch in schema.get("oneOf", []) + schema.get("anyOf", [])]
    if branches:
        return _coerce_to_branch(value, branches, root)
    types = _types(schema)
    if isinstance(value, str) and "string" not in types and "enum" not in schema and types & _NON_STRING_TYPES:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if not isinstance(parsed, str):
            value = parsed
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                value[key] = coerce_strings(item, sub, root)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value[:] = [coerce_strings(item, schema["items"], root) for item in value]
    elif isinstance(value, str) and value in ("null", "~") and "null" in types:
        value = None
    return value


def _coerce_to_branch(value: Any, branches: list[dict], root: dict) -> Any:
    """The value as the first branch it satisfies reads it; else as the first whose type it has (validation then names what is wrong)."""
    of_type = None
    for branch in branches:
        coerced = coerce_strings(copy.deepcopy(value), branch, root)
        if jsonschema.Draft202012Validator({**branch, "$defs": root.get("$defs", {})}).is_valid(coerced):
            return coerced
        types = _types(branch)
        if of_type is None and types and jsonschema.Draft202012Validator({"type": sorted(types)}).is_valid(coerced):
            of_type = coerced
    return value if of_type is None else of_type


def validate_config(config: dict[str, Any], schema_path: str | Path, workdir: str | Path = ".",
                    basedir: str | Path | None = None) -> dict[str, Any]:
    """Validate `config` in place (filling defaults) and return it; raise ConfigError on the first problem."""
    schema = load_schema(schema_path)
    coerce_strings(config, schema)
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"{_key(error.absolute_path)}: {error.message}")
    _check_models(config, Path(workdir), Path(basedir) if basedir else Path(schema_path).parents[2])
    _check_semantics(config, Path(workdir))
    _normalise(config)
    check_serving(config)
    return config


def _normalise(config: dict[str, Any]) -> dict[str, Any]:
    """The forms the rules read: batch sizes and precisions per device, and the default variants of backends the config
    names none for."""
    bench = config["benchmark"]
    for key in ("batch_sizes", "precisions"):
        if isinstance(bench[key], list):
            bench[key] = {device: list(bench[key]) for device in DEVICES}
    for backend in bench["backends"]:
        bench["variants"].setdefault(backend, BACKENDS[backend].variants_by_default)
    return config


def _model_entries(config: dict[str, Any]) -> list[tuple[str, dict]]:
    """(key, entry) of every configured model: `models[i]`, or `model` where `models` is empty."""
    if not config["models"]:
        return [("model", config["model"])]
    return [(f"models[{i}]", entry) for i, entry in enumerate(config["models"])]


def _check_models(config: dict[str, Any], workdir: Path, basedir: Path) -> None:
    """Each model's architecture exists here, takes its image size, has its weights, and has a name of its own."""
    search = factory_search_path(workdir, basedir)
    names: dict[str, str] = {}
    for key, entry in _model_entries(config):
        if entry.get("onnx") is not None:
            _check_onnx_file(key, entry, workdir)
        else:
            _check_module(key, entry, config, workdir, search)
        name = _model_name(key, entry)
        if name in names:
            raise ConfigError(f"{key}.name: '{name}' is also the name of {names[name]} (give each model a name of its own)")
        names[name] = key


def _model_name(key: str, entry: dict) -> str:
    """The model's name, given or made of its ONNX file's or architecture's name: one its folders and cells can carry."""
    if given := entry.get("name"):
        if not is_model_name(given):
            raise ConfigError(f"{key}.name: '{given}' cannot name a model (allowed: {NAME_RULE})")
        return given
    source = "onnx" if entry.get("onnx") is not None else "architecture"
    name = default_name(entry["architecture"], entry.get("onnx"))
    if not is_model_name(name):
        how = f"give {key}.name" if key != "model" else "give it a name in models: [{name: ..., architecture: ...}]"
        raise ConfigError(f"{key}.{source}: no model name can be made of '{entry[source]}' ({how}: {NAME_RULE})")
    return name


def _check_module(key: str, entry: dict, config: dict[str, Any], workdir: Path, search: list[Path]) -> None:
    """A model built in PyTorch: its architecture exists here and takes its image size; its weights exist."""
    if entry["architecture"] is None:
        raise ConfigError(f"{key}: names neither an architecture nor an onnx file (give one of them)")
    check_architecture(f"{key}.architecture", entry["architecture"], search)
    size = entry.get("image_size") or config["model"]["image_size"]
    check_image_size(f"{key}.image_size", entry["architecture"], size)
    if entry["weights"] is not None and not (workdir / entry["weights"]).is_file():
        raise ConfigError(f"{key}.weights: '{entry['weights']}' does not exist (give an existing .pth file, or null)")
    trainable = entry.get("trainable") or config["train"]["trainable"]
    if trainable == "none" and entry["weights"] is None:
        raise ConfigError(f"{key}: trainable none uses its weights as they are, and it has none (give {key}.weights)")


def _check_onnx_file(key: str, entry: dict, workdir: Path) -> None:
    """A model given as an ONNX file: the file exists, and nothing else describes the model."""
    if entry["architecture"] is not None:
        raise ConfigError(f"{key}: names both an architecture and an onnx file (give one of them)")
    for other in ("weights", "trainable"):
        if entry.get(other) is not None:
            raise ConfigError(f"{key}.{other}: an ONNX file is measured as it is, with no {other} (remove {key}.{other})")
    if not (workdir / entry["onnx"]).is_file():
        raise ConfigError(f"{key}.onnx: '{entry['onnx']}' does not exist (give an existing .onnx file)")


def _check_semantics(config: dict[str, Any], workdir: Path) -> None:
    if config["data"]["path"] is not None and not (workdir / config["data"]["path"]).exists():
        raise ConfigError(f"data.path: '{config['data']['path']}' does not exist (give an existing path, or null)")
    if config["data"]["path"] is not None and not (workdir / config["data"]["path"]).is_dir():
        raise ConfigError(f"data.path: '{config['data']['path']}' is not a directory (an ImageFolder root is needed)")
    export = config["export"]
    if export["exporter"] == "dynamo" and export["opset"] < 18:
        raise ConfigError(
            f"export.opset: the dynamo exporter writes opset 18 or newer, not {export['opset']} "
            "(use export.exporter: torchscript for older opsets)"
        )
    bench = config["benchmark"]
    if bench["min_iterations"] > bench["iterations"]:
        raise ConfigError(
            f"benchmark.min_iterations: {bench['min_iterations']} is above benchmark.iterations ({bench['iterations']})"
        )
    if bench["min_time_s"] > bench["max_time_s"]:
        raise ConfigError(f"benchmark.min_time_s: {bench['min_time_s']} is above benchmark.max_time_s ({bench['max_time_s']})")
    _check_variants(bench)
    for name, machine in config["machines"].items():
        if machine["gpu_model"] is not None and machine["gpus"] == 0:
            raise ConfigError(f"machines.{name}.gpu_model: '{machine['gpu_model']}' is set but gpus is 0 (give gpus: 1 or more)")
    for i, run in enumerate(config["compare"]["runs"]):
        path = workdir / run
        if not path.exists():
            raise ConfigError(f"compare.runs[{i}]: '{run}' does not exist (give a result folder or its summary.json)")
        if path.is_dir() and not (path / "summary.json").is_file():
            raise ConfigError(f"compare.runs[{i}]: '{run}' holds no summary.json (give a result folder or its summary.json)")
    _check_baseline(config["compare"]["baseline"], workdir)
    warmup = config["benchmark"]["warmup"]
    if warmup["mode"] == "adaptive" and warmup["max_iterations"] < warmup["iterations"]:
        raise ConfigError(
            f"benchmark.warmup.max_iterations: {warmup['max_iterations']} is below "
            f"benchmark.warmup.iterations ({warmup['iterations']})"
        )


def _is_time(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_baseline(baseline: str | None, workdir: Path) -> None:
    """A run's result folder (or its summary.json), or a time in this run's history."""
    if baseline is None:
        return
    path = workdir / baseline
    if path.is_dir() and not (path / "summary.json").is_file():
        raise ConfigError(f"compare.baseline: '{baseline}' holds no summary.json (give a run's result folder or a time)")
    if not path.exists() and not _is_time(baseline):
        raise ConfigError(f"compare.baseline: '{baseline}' does not exist and is not a time (give a run's result folder, "
                          "or a time such as 2026-11-30T09:26:00Z)")


def _check_variants(bench: dict) -> None:
    """Every variant named exists for its backend."""
    for backend, variants in bench["variants"].items():
        allowed = BACKENDS[backend].variant_names
        for i, variant in enumerate(variants):
            if variant not in allowed:
                raise ConfigError(
                    f"benchmark.variants.{backend}[{i}]: '{variant}' is not a variant of {backend} (allowed: {', '.join(allowed)})"
                )
