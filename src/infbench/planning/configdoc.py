"""config/README.md, written from the config schema: every key, its type, default and what it means."""

from __future__ import annotations

import json
from pathlib import Path

from infbench.planning.config import load_schema

HEADER = """# Configuration

Every key of `config/config.yaml`, as `workflow/schemas/config.schema.yaml` describes it (this page is
written from the schema by `python tools/write_docs.py`; a test keeps the two the same). Keys left out
take their default. Values given on the command line (`--config benchmark='{"iterations": 500}'`) are
read as the schema asks.

| Key | Type | Default | What it is |
|---|---|---|---|
"""


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _type(schema: dict, root: dict) -> str:
    schema = _resolve(schema, root)
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "oneOf" in schema:
        return " or ".join(_type(branch, root) for branch in schema["oneOf"])
    declared = schema.get("type", "")
    types = [declared] if isinstance(declared, str) else list(declared)
    text = " or ".join(t for t in types if t)
    if "array" in types and isinstance(schema.get("items"), dict):
        text = text.replace("array", f"list of ({_type(schema['items'], root)})")
    bounds = [f"{word} {schema[key]}" for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                                                         ("exclusiveMaximum", "<")) if key in schema]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(schema: dict, root: dict, prefix: str = "") -> list[str]:
    rows = []
    for name, sub in schema.get("properties", {}).items():
        sub = _resolve(sub, root)
        key = f"{prefix}{name}"
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        rows.append(f"| `{key}` | {_cell(_type(sub, root))} | {_cell(default)} | {_cell(sub.get('description', ''))} |")
        rows += _rows(sub, root, key + ".")
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("properties"):
            rows += _rows(extra, root, key + ".<name>.")
    return rows


def config_readme(schema_path: str | Path) -> str:
    schema = load_schema(schema_path)
    return HEADER + "\n".join(_rows(schema, schema)) + "\n"
