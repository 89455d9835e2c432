"""A cell's identity: machine x model x backend x variant x precision x batch size, defined once.

The record path, the Snakemake output pattern, the summary's rows, the tables and the comparison
across machines all derive from `Cell`; nothing else spells out these fields.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from infbench.catalog import BACKENDS, PRECISIONS

# Where a cell's record lives; the timing rules' output pattern fills {backend} and leaves the rest
# as wildcards.
RECORD_PATTERN = "results/records/{machine}/{model}/{backend}/{variant}/{precision}_bs{batch}.json"
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

    @property
    def record_path(self) -> str:
        return RECORD_PATTERN.format(**asdict(self))

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))

    @property
    def is_default_variant(self) -> bool:
        return self.variant == BACKENDS[self.backend].default_variant

    @property
    def label(self) -> str:
        """What the cell ran, in words: 'torch.compile + CUDA graphs, fp16'."""
        return f"{BACKENDS[self.backend].variant(self.variant).label}, {self.precision}"

    def fields(self) -> dict[str, Any]:
        """The cell's fields as a record and a summary row store them."""
        return {"machine": self.machine, "model": self.model, "backend": self.backend, "variant": self.variant,
                "precision": self.precision, "batch_size": self.batch}


def output_pattern(backend: str) -> str:
    """The timing rule's output for one backend, with machine, model, variant, precision and batch as wildcards."""
    return RECORD_PATTERN.replace("{backend}", backend)


def _record_tail() -> re.Pattern:
    """RECORD_PATTERN from its records/ folder on, each field as its wildcard constraint allows."""
    tail = re.escape(RECORD_PATTERN.split("/", 1)[1])
    allowed = WILDCARD_CONSTRAINTS | {"backend": "|".join(map(re.escape, BACKENDS))}
    for name, pattern in allowed.items():
        tail = tail.replace(re.escape(f"{{{name}}}"), f"(?P<{name}>{pattern})")
    return re.compile(rf"(?:^|/){tail}$")


RECORD_TAIL = _record_tail()


def cell_of_record(path: str | Path) -> Cell | None:
    """The cell whose record lives at `path` (a run's results/records/..., or records/... of a run folder), or None."""
    match = RECORD_TAIL.search(Path(path).as_posix())
    if match is None:
        return None
    found = match.groupdict()
    return Cell(**{**found, "batch": int(found["batch"])})


def summary_path(run: str | Path) -> Path:
    """A run's summary.json, given the run's result folder or the file itself."""
    path = Path(run)
    return path / "summary.json" if path.is_dir() else path
