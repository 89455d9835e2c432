"""A cell's identity: machine x model x backend x variant x precision x batch size, defined once.

The record path, the Snakemake output pattern, the summary's rows, the tables and the comparison
across machines all derive from `Cell`; nothing else spells out these fields.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from infbench.planning.catalog import BACKENDS, PRECISIONS

# Where a cell's record lives; the timing rules' output pattern fills {backend} and leaves the rest
# as wildcards.
RECORD_PATTERN = "results/records/{machine}/{model}/{backend}/{variant}/{precision}_bs{batch}.json"
# Where records of schema version 2 lived (before the model was part of a cell): no model folder.
SCHEMA_2_RECORD_PATTERN = "results/records/{machine}/{backend}/{variant}/{precision}_bs{batch}.json"
LOCAL_MACHINE = "local"  # the one machine of a run whose configuration names none
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]*"  # a machine's name
MODEL_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"  # a model's name: a folder of its own under each machine
WILDCARD_CONSTRAINTS = {
    "machine": NAME_PATTERN,
    "model": MODEL_NAME_PATTERN,
    "variant": r"[a-z0-9_]+",
    "precision": "|".join(PRECISIONS),
    "batch": r"[1-9]\d*",
    "size": r"[1-9]\d*",
    "recipe": r"[a-z0-9_]+",
}


@dataclass(frozen=True, order=True)
class Cell:
    machine: str
    model: str
    backend: str
    variant: str
    precision: str
    batch: int

    @classmethod
    def from_wildcards(cls, wildcards, backend: str) -> Cell:
        """The cell a timing job's wildcards name (its rule names the backend): the one way back from a path to a cell."""
        return cls(wildcards.machine, wildcards.model, backend, wildcards.variant, wildcards.precision, int(wildcards.batch))

    @property
    def record_path(self) -> str:
        return RECORD_PATTERN.format(**asdict(self))

    @property
    def name(self) -> str:
        """The cell as one string, its record's path under results/records: 'local/resnet50/openvino/latency/fp32_bs1'."""
        return self.record_path.removeprefix("results/records/").removesuffix(".json")

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))

    @property
    def is_default_variant(self) -> bool:
        return self.variant == BACKENDS[self.backend].default_variant

    @property
    def label(self) -> str:
        """What the cell ran, in words: 'torch.compile + CUDA graphs, fp16'."""
        return described(BACKENDS[self.backend].variant(self.variant).label, self.precision)

    def fields(self) -> dict[str, Any]:
        """The cell's fields as a record and a summary row store them."""
        return {"machine": self.machine, "model": self.model, "backend": self.backend, "variant": self.variant,
                "precision": self.precision, "batch_size": self.batch}


def described(variant_label: str, precision: str) -> str:
    """A cell in words, from its variant's label and its precision: 'torch.compile + CUDA graphs, fp16'."""
    return f"{variant_label}, {precision}"


def output_pattern(backend: str) -> str:
    """The timing rule's output for one backend, with machine, model, variant, precision and batch as wildcards."""
    return RECORD_PATTERN.replace("{backend}", backend)


def summary_path(run: str | Path) -> Path:
    """A run's summary.json, given the run's result folder or the file itself."""
    path = Path(run)
    return path / "summary.json" if path.is_dir() else path


def _path_regex(pattern: str) -> re.Pattern:
    """A record pattern as a regular expression matching the end of a path: one folder or name part per field."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(pattern.removeprefix("results/")):
        parts.append(re.escape(literal))
        if name:
            parts.append(rf"(?P<{name}>\d+)" if name == "batch" else rf"(?P<{name}>[^/]+?)")
    return re.compile("(?:^|/)" + "".join(parts) + "$")


PATH_PATTERNS = tuple(_path_regex(p) for p in (RECORD_PATTERN, SCHEMA_2_RECORD_PATTERN))


def named_by_path(path: str | Path) -> dict[str, Any] | None:
    """The cell fields a record's path names, as Cell.fields() names them (no model in schema 2's layout); None where
    the path is not a record path this workflow writes."""
    text = Path(path).as_posix()
    for regex in PATH_PATTERNS:
        if match := regex.search(text):
            named = match.groupdict()
            named["batch_size"] = int(named.pop("batch"))
            return named
    return None


def cell_of_record(path: str | Path) -> Cell | None:
    """The cell whose record lives at `path` (a run's results/records/..., or records/... of a run folder), or None
    where the path names no cell of this workflow's layout (schema 2's, without a model, names no whole cell)."""
    named = named_by_path(path)
    if named is None or "model" not in named or named["backend"] not in BACKENDS:
        return None
    return Cell(named["machine"], named["model"], named["backend"], named["variant"], named["precision"], named["batch_size"])
