"""LoadGen's scenarios as data, and a scenario cell's identity, defined once.

A scenario cell is a timing cell's machine, model, backend, variant and precision, served under one
of MLPerf's scenarios (or the sweep of offered load that draws the latency-throughput curve) instead
of timed at one batch size. Its record path, the rule's output pattern, the report's rows and the
curve all derive from `ScenarioCell`. Pure data, no heavy imports: the DAG build reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from infbench.planning.catalog import BACKENDS
from infbench.planning.cells import Cell

# Where a scenario cell's record lives; LoadGen's logs of the run that counts (and of every other run
# the cell made, in sub-folders) go in the folder of the same name beside it.
SERVING_RECORD = "results/serving/{machine}/{model}/{backend}/{variant}/{precision}/{scenario}.json"
SERVING_LOGS = "results/serving/{machine}/{model}/{backend}/{variant}/{precision}/{scenario}"
SERVING_BATCH = 1  # the timing cell a scenario cell depends on: its runtime one request at a time


@dataclass(frozen=True)
class Scenario:
    """One way LoadGen offers load, and what a cell of it reports."""

    name: str  # LoadGen's name, and the config's
    key: str  # the scenario's section of the config's `serving`
    loadgen: str  # the LoadGen scenario it runs
    metric: str  # what its cell reports, in words
    better: str  # "lower" (latency) or "higher" (samples/s)
    description: str


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("SingleStream", "single_stream", "SingleStream", "p90 latency", "lower",
                 "one query of one sample at a time, the next issued when the last is answered; LoadGen scores its p90 latency"),
        Scenario("MultiStream", "multi_stream", "MultiStream", "p99 latency per query", "lower",
                 "one query of samples_per_query samples at a time; LoadGen scores the p99 of the queries' latency"),
        Scenario("Server", "server", "Server", "samples/s at the bound", "higher",
                 "queries of one sample arriving as a Poisson process at a target rate; the highest rate whose p99 latency "
                 "stays within the bound and that LoadGen calls VALID, found by a search"),
        Scenario("Offline", "offline", "Offline", "samples/s", "higher",
                 "every sample in one query; LoadGen scores the samples per second"),
        Scenario("Sweep", "sweep", "Server", "latency against samples/s", "higher",
                 "Server runs at fractions of the Server cell's rate: p50 and p99 latency against the samples per second "
                 "served, the latency-throughput curve"),
    )
}
DEPENDS_ON_SERVER = ("Sweep",)  # cells whose rates are fractions of their Server cell's


@dataclass(frozen=True, order=True)
class ScenarioCell:
    machine: str
    model: str
    backend: str
    variant: str
    precision: str
    scenario: str

    @classmethod
    def from_wildcards(cls, wildcards, backend: str) -> ScenarioCell:
        """The scenario cell a serving job's wildcards name (its rule names the backend)."""
        return cls(wildcards.machine, wildcards.model, backend, wildcards.variant, wildcards.precision, wildcards.scenario)

    def __post_init__(self):
        if self.scenario not in SCENARIOS:
            raise ValueError(f"{self.scenario!r} is not a scenario (known: {', '.join(SCENARIOS)})")

    @property
    def record_path(self) -> str:
        return SERVING_RECORD.format(**self.fields())

    @property
    def logs_path(self) -> str:
        return SERVING_LOGS.format(**self.fields())

    @property
    def timing_cell(self) -> Cell:
        """The batch-1 timing cell of the same runtime: its parity gates this cell, its latency seeds the load."""
        return Cell(self.machine, self.model, self.backend, self.variant, self.precision, SERVING_BATCH)

    @property
    def server_cell(self) -> ScenarioCell:
        return ScenarioCell(self.machine, self.model, self.backend, self.variant, self.precision, "Server")

    @property
    def label(self) -> str:
        """What ran, in words: 'latency hint, fp32'."""
        return f"{BACKENDS[self.backend].variant(self.variant).label}, {self.precision}"

    def fields(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def serving_output(backend: str, what: str = SERVING_RECORD) -> str:
    """A serving rule's output for one backend, with machine, model, variant, precision and scenario as wildcards."""
    return what.replace("{backend}", backend)


SCENARIO_CONSTRAINT = "|".join(SCENARIOS)
