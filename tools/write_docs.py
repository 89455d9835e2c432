"""Write the files generated from the code: config/README.md (from the config schema) and the records' JSON Schemas.

    python tools/write_docs.py

tests/test_docs.py fails when either is out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from infbench.planning.configdoc import config_readme
from infbench.results.records import record_json_schema
from infbench.results.serving_records import serving_json_schema

REPO = Path(__file__).resolve().parents[1]

CONFIG_SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
GENERATED = {
    REPO / "config" / "README.md": lambda: config_readme(CONFIG_SCHEMA),
    REPO / "workflow" / "schemas" / "record.schema.json": lambda: json.dumps(record_json_schema(), indent=2) + "\n",
    REPO / "workflow" / "schemas" / "serving_record.schema.json": lambda: json.dumps(serving_json_schema(), indent=2) + "\n",
}


def main() -> int:
    for path, make in GENERATED.items():
        path.write_text(make())
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
