"""Under load: a run's scenario cells as rows, and table.md's "Under load" section (each runtime at its best, every cell).

A runtime at its best under load is, per scenario, its variant and precision with the best number
that LoadGen called VALID (a number LoadGen called INVALID only where none is VALID, marked so),
whose accuracy run matched the reference.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from infbench.planning.catalog import BACKENDS, PRECISIONS
from infbench.planning.scenarios import SCENARIOS
from infbench.report.text import Footnotes, markdown
from infbench.results.records import MISMATCH, OK, SKIPPED
from infbench.results.serving_records import LoadGenRun, ServingRecord

BEST_COLUMNS = ("Server", "Offline", "SingleStream", "MultiStream")


class CurvePoint(BaseModel):
    """One offered load of a Sweep: the rate asked for, the samples per second served, and the latency then."""

    model_config = ConfigDict(extra="forbid")

    target_qps: float
    samples_per_s: float
    p50_ms: float
    p99_ms: float
    valid: bool | None = None


class ScenarioRow(BaseModel):
    """One scenario cell of a run, as the tables and the curve read it."""

    model_config = ConfigDict(extra="forbid")

    machine: str
    model: str
    backend: str
    variant: str
    precision: str
    scenario: str
    runtime: str
    device: str
    label: str  # the variant and precision in words
    loop_label: str
    status: str
    reason: str | None = None
    valid: bool | None = None
    reasons: list[str] = []
    metric: str | None = None
    value: float | None = None
    unit: str | None = None
    target_qps: float | None = None
    samples_per_s: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    latency_bound_ms: float | None = None
    steps: int = 0
    one_at_a_time_qps: float | None = None
    speedup_over_one_at_a_time: float | None = None
    accuracy_passed: bool | None = None
    accuracy_images: int | None = None
    accuracy_top1_agreement: float | None = None
    accuracy_ratio: float | None = None
    points: list[CurvePoint] = []
    loadgen: str | None = None
    record: str  # relative to the run's results folder


def _point(run: LoadGenRun) -> CurvePoint | None:
    if run.samples_per_s is None or run.latency_ms is None or run.target_qps is None:
        return None
    return CurvePoint(target_qps=run.target_qps, samples_per_s=run.samples_per_s, p50_ms=run.latency_ms.p50,
                      p99_ms=run.latency_ms.p99, valid=run.valid)


def _accuracy_fields(record: ServingRecord) -> dict:
    check = record.accuracy
    if check is None:
        return {}
    parity = check.parity
    return {"accuracy_passed": check.passed, "accuracy_images": check.samples,
            "accuracy_top1_agreement": parity.top1_agreement if parity else None,
            "accuracy_ratio": parity.accuracy_ratio if parity else None}


def scenario_row(record: ServingRecord, path: str) -> ScenarioRow:
    run = record.run
    latency = run.latency_ms if run else None
    own = record.settings.get(SCENARIOS[record.scenario].key, {})
    return ScenarioRow(
        **record.cell.fields(), runtime=record.runtime, device=record.device, label=record.cell.label,
        loop_label=record.loop_label, status=record.status, reason=record.reason, valid=record.valid, reasons=record.reasons,
        metric=record.metric, value=record.value, unit=record.unit, target_qps=run.target_qps if run else None,
        samples_per_s=run.samples_per_s if run else None, p50_ms=latency.p50 if latency else None,
        p90_ms=latency.p90 if latency else None, p99_ms=latency.p99 if latency else None,
        latency_bound_ms=own.get("latency_bound_ms"), steps=len(record.steps),
        one_at_a_time_qps=record.timing_cell.one_at_a_time_qps if record.timing_cell else None,
        speedup_over_one_at_a_time=record.speedup_over_one_at_a_time, **_accuracy_fields(record),
        points=[p for p in map(_point, record.points) if p is not None], loadgen=record.loadgen, record=path,
    )


def scenario_rows(records: list[ServingRecord], paths: list[str]) -> list[ScenarioRow]:
    """One row per scenario record, ordered as the catalogue orders backends and variants."""
    machines = list(dict.fromkeys(r.machine for r in records))
    models = list(dict.fromkeys(r.model for r in records))

    def order(row: ScenarioRow) -> tuple:
        backend = BACKENDS[row.backend]
        return (machines.index(row.machine), models.index(row.model), list(BACKENDS).index(row.backend),
                backend.variant_names.index(row.variant), PRECISIONS.index(row.precision), list(SCENARIOS).index(row.scenario))

    return sorted((scenario_row(r, p) for r, p in zip(records, paths, strict=True)), key=order)


# The section ----------------------------------------------------------------------------------------------------------


def format_value(row: ScenarioRow) -> str:
    if row.value is None:
        return "no rate within the bound" if row.scenario == "Server" else "no result"
    if row.unit == "ms":
        return f"{row.value:.2f} ms" if row.value >= 10 else f"{row.value:.3f} ms"
    return f"{row.value:,.0f} samples/s" if row.value >= 100 else f"{row.value:.1f} samples/s"


def verdict(row: ScenarioRow, notes: Footnotes) -> str:
    """LoadGen's verdict, with its reasons in a footnote where it is INVALID."""
    if row.valid is None:
        return ""
    if row.valid:
        return "VALID"
    return "INVALID" + notes.ref(f"{row.runtime}, {row.label}, {row.scenario} on {row.machine}: INVALID, "
                                 + "; ".join(row.reasons or ["LoadGen gave no reason"]))


def _status_note(row: ScenarioRow, notes: Footnotes) -> str:
    mark = {SKIPPED: "–", MISMATCH: "✗ accuracy"}.get(row.status, row.status)
    where = f"{row.backend} on {row.machine}"
    text = f"{where}: skipped, {row.reason}" if row.status == SKIPPED else f"{where} ({row.label}, {row.scenario}): {row.status}, {row.reason}"
    return mark + notes.ref(text)


def best_row(rows: list[ScenarioRow]) -> ScenarioRow | None:
    """The best measured number among one runtime's cells of a scenario: VALID first, then the best value."""
    measured = [r for r in rows if r.status == OK and r.value is not None]
    if not measured:
        return None
    lower = SCENARIOS[measured[0].scenario].better == "lower"
    return min(measured, key=lambda r: (not r.valid, r.value if lower else -r.value))


def best_cell(rows: list[ScenarioRow], notes: Footnotes) -> str:
    """One runtime's best number in a scenario, labelled with what ran, or why there is none."""
    if not rows:
        return "-"
    best = best_row(rows)
    if best is None:
        served = next((r for r in rows if r.status == OK), None)  # LoadGen ran, and found no number (no rate within the bound)
        if served is not None:
            return f"{format_value(served)} {verdict(served, notes)} ({served.label})"
        return _status_note(rows[0], notes)
    speedup = f", {best.speedup_over_one_at_a_time:.2f}x one at a time" if best.speedup_over_one_at_a_time else ""
    return f"{format_value(best)} {verdict(best, notes)} ({best.label}{speedup})"


def _column_title(scenario: str, rows: list[ScenarioRow]) -> str:
    if scenario == "Server":
        bounds = sorted({r.latency_bound_ms for r in rows if r.latency_bound_ms})
        return f"Server, p99 ≤ {' / '.join(f'{b:g}' for b in bounds)} ms"
    if scenario == "MultiStream":
        return "MultiStream p99 (a query)"
    return {"Offline": "Offline", "SingleStream": "SingleStream p90"}[scenario]


def best_table(rows: list[ScenarioRow], notes: Footnotes) -> str:
    scenarios = [s for s in BEST_COLUMNS if any(r.scenario == s for r in rows)]
    backends = list(dict.fromkeys(r.backend for r in rows))
    table = []
    for backend in backends:
        mine = [r for r in rows if r.backend == backend]
        cells = [best_cell([r for r in mine if r.scenario == s], notes) for s in scenarios]
        winners = [best_row([r for r in mine if r.scenario == s]) for s in scenarios]
        loops = list(dict.fromkeys(w.loop_label for w in winners if w is not None))
        table.append([BACKENDS[backend].title, *cells, "; ".join(loops) or "–"])
    return markdown(table, ["Runtime", *(_column_title(s, [r for r in rows if r.scenario == s]) for s in scenarios),
                            "Serving loop"])


def _result_text(row: ScenarioRow) -> str:
    if row.scenario == "Sweep":
        if not row.points:
            return "no rate served"
        served = [p.samples_per_s for p in row.points]
        p99 = [p.p99_ms for p in row.points]
        return (f"{len(row.points)} rates: {min(served):,.1f} to {max(served):,.1f} samples/s, p99 {min(p99):.3g} to "
                f"{max(p99):.3g} ms")
    text = format_value(row)
    if row.scenario == "Server" and row.target_qps is not None:
        text += f" (target {row.target_qps:.4g}/s; {row.steps} run{'s' if row.steps != 1 else ''} of the search"
        if row.one_at_a_time_qps:
            text += f"; one at a time allows {row.one_at_a_time_qps:.4g}/s"
        text += ")"
    return text


def _accuracy_text(row: ScenarioRow) -> str:
    if row.accuracy_passed is None:
        return "not run"
    figures = ""
    if row.accuracy_top1_agreement is not None:
        figures = f", top-1 agreement {row.accuracy_top1_agreement:.3f}, accuracy {row.accuracy_ratio:.3f} of the reference's"
    return f"{'✓' if row.accuracy_passed else '✗'} {row.accuracy_images} images{figures}"


def cells_table(rows: list[ScenarioRow], notes: Footnotes) -> str:
    table = []
    for row in rows:
        result = _result_text(row) if row.status == OK else _status_note(row, notes)
        table.append([row.runtime, row.label, row.scenario, result, verdict(row, notes) if row.status == OK else "",
                      _accuracy_text(row), row.loop_label, row.record])
    return markdown(table, ["Runtime", "Variant, precision", "Scenario", "Result", "LoadGen", "Accuracy run", "Serving loop",
                            "Record"])


def _intro(rows: list[ScenarioRow]) -> str:
    versions = ", ".join(sorted({r.loadgen for r in rows if r.loadgen})) or "LoadGen"
    return (
        f"MLPerf's LoadGen ({versions}) drives each runtime through its serving loop, with the held-out images as its "
        "samples, from host memory to host memory. Server: the highest Poisson arrival rate whose p99 latency stayed within "
        "the bound and that LoadGen called VALID (samples/s served); Offline: every sample in one query; SingleStream: one "
        "sample at a time (p90); MultiStream: queries of several samples (p99 of the queries). VALID is LoadGen's verdict: "
        "its minimum duration and query count met, the latency bound kept, and early stopping satisfied; INVALID numbers "
        "are shown only where a runtime has no VALID one, with LoadGen's reasons. Each cell's accuracy run (LoadGen's "
        "AccuracyOnly mode over the held-out images) checks every answer against the reference."
    )


def under_load_sections(rows: list[ScenarioRow], notes: Footnotes) -> list[str]:
    """table.md's "Under load": each runtime at its best per machine and model, then every scenario cell."""
    parts = ["## Under load", "", _intro(rows), ""]
    groups = list(dict.fromkeys((r.model, r.machine) for r in rows))
    for model, machine in groups:
        if len(groups) > 1:
            parts += [f"### {model} on {machine}", ""]
        parts += [best_table([r for r in rows if (r.model, r.machine) == (model, machine)], notes), ""]
    if any(r.scenario == "Sweep" for r in rows):
        parts += ["Latency against load, each runtime's Sweep of Server rates with the bound drawn: load.png (and .svg).", ""]
    parts += ["### Every scenario cell", "", cells_table(rows, notes), ""]
    return parts
