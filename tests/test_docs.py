"""Files written from the code stay in step with it: config/README.md and the record's JSON Schema."""

import json

from conftest import REPO, load_script

from infbench.planning.configdoc import config_readme
from infbench.results.records import record_json_schema

write_docs = load_script(REPO / "tools" / "write_docs.py")

CONFIG_SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_generated_files_are_up_to_date():
    for path, make in write_docs.GENERATED.items():
        assert path.read_text() == make(), f"{path.relative_to(REPO)} is out of date: run python tools/write_docs.py"


def test_the_config_readme_describes_every_key_of_the_schema():
    rows = [line for line in config_readme(CONFIG_SCHEMA).splitlines() if line.startswith("| `")]
    assert len(rows) > 60
    undescribed = [row.split("|")[1].strip() for row in rows if not row.rstrip("|").rsplit("|", 1)[-1].strip()]
    assert undescribed == []
    keys = {row.split("|")[1].strip().strip("`") for row in rows}
    assert {"benchmark.variants", "parity.tolerances.fp16.min_cosine", "machines.<name>.partition"} <= keys


def test_the_record_schema_is_the_records_definition():
    schema = json.loads((REPO / "workflow" / "schemas" / "record.schema.json").read_text())
    assert schema == record_json_schema()
    assert {"machine", "model", "backend", "variant", "precision", "batch_size", "status"} <= set(schema["required"])
