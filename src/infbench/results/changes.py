"""Whether a cell changed between two measurements beyond noise, and what differs between them.

A difference is first looked for as airspeed velocity's `asv compare` does: the ratio of the two
means reaches a factor (compare.factor, 1.1: 10%) and a Mann-Whitney U test on the two sets of
per-call samples gives p below compare.alpha (0.002); where the sets are too small for that test ever
to reach alpha (six calls a side at 0.002), the 99% confidence intervals of the two means must not
overlap instead, as asv does for results without samples.

The calls of one process are not independent measurements of the code: most of the variation
between two measurements is between processes (memory layout, clocks, neighbours), which is why
pyperf and asv measure in several. So a difference found in the calls is judged again:

- with the same code, library versions, model files and settings on both sides, it is the
  machine's, never "faster" or "slower" (verdict "the machine");
- otherwise it is "faster" or "slower" only where it holds in a fresh process: the timing job that
  finds its cell differing from its previous measurement measures the cell once more in a new
  process (Record.confirmation), and every process of the new measurement must differ from every
  process of the old one beyond the factor, in the same direction, with the new processes closer to
  each other than to any old one; where both sides have enough processes for the U test to reach
  alpha on their means, that test decides. Anything less is "unconfirmed".

Two measurements are compared only where they measured the same thing: the same cell and model, on
the same CPU and GPU model, with the same threads, TF32 setting, timing policy and timing method,
from records that are consistent with their place and themselves. How long they measured
(iterations, minimum and maximum time) may differ: it changes how many calls were timed, not what a
call is. GPU cells are compared device resident, CPU cells end to end, as the fastest-per-runtime
table reads them (SummaryRow.best_mode).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from infbench.planning.cells import Cell
from infbench.results.consistency import INCONSISTENT, expected_cell, inconsistencies
from infbench.results.records import OK, Record, TimingBlock

FASTER, SLOWER, WITHIN_NOISE, NOT_COMPARABLE = "faster", "slower", "within noise", "not comparable"
UNCONFIRMED = "unconfirmed"  # beyond the threshold in one process, not shown to hold in a fresh one
THE_MACHINE = "the machine"  # beyond the threshold with the same code, versions, model files and settings
VERDICTS = (FASTER, SLOWER, WITHIN_NOISE, NOT_COMPARABLE, UNCONFIRMED, THE_MACHINE)
MANN_WHITNEY, CONFIDENCE_INTERVALS = "Mann-Whitney U", "99% confidence intervals"
PROCESS_MEANS = "Mann-Whitney U on process means"
# Timing-policy keys that say how many calls are timed, not what one call measures.
HOW_LONG = ("iterations", "min_time_s", "max_time_s", "min_iterations", "max_iterations")
MEASURING_SETTINGS = ("threads", "allow_tf32")  # what the workflow sets for every cell's runtime
ENVIRONMENT = (("host", "python", "Python"), ("gpu", "driver", "NVIDIA driver"), ("gpu", "cuda_runtime", "CUDA"),
               ("gpu", "cudnn", "cuDNN"))


@dataclass(frozen=True)
class Threshold:
    """What a real change is: at least `factor` between the means, and p below `alpha`."""

    factor: float = 1.1
    alpha: float = 0.002

    @classmethod
    def of(cls, settings: dict) -> Threshold:
        """The threshold a run's summary settings name (runs made before there was one: the defaults)."""
        return cls(**settings.get("compare", {}))


@dataclass(frozen=True)
class Decision:
    verdict: str
    ratio: float  # new mean / old mean
    p_value: float | None  # the U test's; None where the confidence intervals decided
    test: str


def _smallest_p(n_old: int, n_new: int) -> float:
    """The smallest two-sided p the exact U test can give for these sizes: every new call beyond every old one."""
    return 2 / math.comb(n_old + n_new, min(n_old, n_new))


def _mann_whitney(old: Sequence[float], new: Sequence[float]) -> float:
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(old, new, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else p  # every sample equal: nothing to tell apart


def _interval(samples: Sequence[float]) -> tuple[float, float]:
    """The 99% confidence interval of the mean (Student's t); unbounded from one sample."""
    from scipy.stats import t

    mean = statistics.fmean(samples)
    if len(samples) < 2:
        return -math.inf, math.inf
    half = t.ppf(0.995, len(samples) - 1) * statistics.stdev(samples) / math.sqrt(len(samples))
    return mean - half, mean + half


def _reaches(ratio: float, factor: float) -> bool:
    return ratio >= factor or math.isclose(ratio, factor, rel_tol=1e-9)


def decide(old: Sequence[float], new: Sequence[float], threshold: Threshold) -> Decision:
    """The verdict on two sets of per-call times (ms) of one cell."""
    ratio = statistics.fmean(new) / statistics.fmean(old)
    if _smallest_p(len(old), len(new)) < threshold.alpha:
        p_value, test = _mann_whitney(old, new), MANN_WHITNEY
        different = p_value < threshold.alpha
    else:
        (old_low, old_high), (new_low, new_high) = _interval(old), _interval(new)
        p_value, test = None, CONFIDENCE_INTERVALS
        different = new_low > old_high or new_high < old_low
    if different and _reaches(ratio, threshold.factor):
        return Decision(SLOWER, ratio, p_value, test)
    if different and _reaches(1 / ratio, threshold.factor):
        return Decision(FASTER, ratio, p_value, test)
    return Decision(WITHIN_NOISE, ratio, p_value, test)


def process_means(record: Record, mode: str) -> tuple[float, ...]:
    """Each process's mean of a record's timing `mode`: its own process first, then each fresh one's (confirmation)."""
    means = [record.timing.block(mode).host_ms.mean]
    if record.confirmation is not None:
        means += [t.block(mode).host_ms.mean for t in record.confirmation.timings if t.block(mode) is not None]
    return tuple(means)


def confirm(calls: Decision, old: Sequence[float], new: Sequence[float], threshold: Threshold) -> Decision:
    """A difference found in one process's calls, judged on per-process means (`old` and `new`: each side's).

    Confirmed where the new side has processes enough to tell: the U test on process means where it can reach alpha;
    else every new process beyond the factor from every old one in the calls' direction, and the new processes closer
    to each other than to any old one (their spread below the smallest gap).
    """
    if len(new) < 2:
        return replace(calls, verdict=UNCONFIRMED)
    if _smallest_p(len(old), len(new)) < threshold.alpha:
        return replace(decide(old, new, threshold), test=PROCESS_MEANS)
    gap = min(n / o if calls.verdict == SLOWER else o / n for n in new for o in old)
    spread = max(new) / min(new)
    return calls if _reaches(gap, threshold.factor) and gap > spread else replace(calls, verdict=UNCONFIRMED)


@dataclass(frozen=True)
class Change:
    """One cell's two measurements side by side: the verdict, the numbers, and what differs between them."""

    cell: Cell
    verdict: str
    old_created: str
    new_created: str
    timing: str | None = None  # the timing mode compared
    old_mean_ms: float | None = None
    new_mean_ms: float | None = None
    old_p50_ms: float | None = None
    new_p50_ms: float | None = None
    ratio: float | None = None  # new mean / old mean
    p_value: float | None = None
    test: str | None = None
    why_not_comparable: str | None = None
    versions: tuple[str, ...] = ()  # "onnxruntime 1.31.1 → 1.32.0", and Python, driver, CUDA, cuDNN
    code: tuple[str, ...] = ()  # "src/infbench/measuring/backends/openvino.py 1f2e... → 9a8b..."
    inputs: tuple[str, ...] = ()  # model files whose digest differs
    how_long: tuple[str, ...] = ()  # "iterations 100 → 200"
    parity: str | None = None  # "passed → failed"
    status: str | None = None  # "ok → error"
    status_regressed: bool = False  # measured before, not now (an error, mismatch, skip or inconsistent record)
    old_processes: tuple[float, ...] = ()  # each process's mean (ms), its first process's first
    new_processes: tuple[float, ...] = ()
    fresh_failed: str | None = None  # where the new measurement's fresh process timed nothing: why
    old_record: str = ""
    new_record: str = ""

    @property
    def relative_change(self) -> float | None:
        return None if self.ratio is None else self.ratio - 1

    @property
    def timed_both(self) -> bool:
        return self.old_mean_ms is not None and self.new_mean_ms is not None

    @property
    def needs_fresh_process(self) -> bool:
        """Beyond the threshold in the new measurement's one process, with code or versions changed: measure it again."""
        return self.verdict == UNCONFIRMED and len(self.new_processes) < 2

    @property
    def regressed(self) -> bool:
        """What fails a regression check: slower beyond the threshold (confirmed, or in one process a side with nothing
        to say otherwise), parity failed where it passed, or a cell measured before and not now."""
        slower_once = self.needs_fresh_process and self.ratio is not None and self.ratio > 1
        return self.verdict == SLOWER or slower_once or self.parity == "passed → failed" or self.status_regressed

    @property
    def listed(self) -> bool:
        """Shown as a row; the rest (within noise, or timed neither time) are counted."""
        if self.parity or self.status or self.verdict in (FASTER, SLOWER, UNCONFIRMED, THE_MACHINE):
            return True
        return self.verdict == NOT_COMPARABLE and self.timed_both

    @property
    def differs(self) -> str:
        """What differs between the two measurements, in words ('' where their versions, code and model files are the same)."""
        return "; ".join((*self.versions, *self.code, *self.inputs, *self.how_long))

    def as_dict(self) -> dict:
        data = asdict(self)
        data |= {"cell": self.cell.fields(), "relative_change": self.relative_change, "differs": self.differs,
                 "regressed": self.regressed}
        return data


def _arrow(old, new) -> str:
    return f"{old} → {new}"


def _version_changes(old: Record, new: Record) -> tuple[str, ...]:
    """Libraries both imported, at different versions; then Python and the GPU's driver, CUDA and cuDNN."""
    found = [f"{lib} {_arrow(old.versions[lib], new.versions[lib])}" for lib in sorted(old.versions.keys() & new.versions.keys())
             if old.versions[lib] != new.versions[lib]]
    for block, key, title in ENVIRONMENT:
        before, after = getattr(getattr(old, block), key, None), getattr(getattr(new, block), key, None)
        if before is not None and after is not None and before != after:
            found.append(f"{title} {_arrow(before, after)}")
    return tuple(found)


def _code_changes(old: Record, new: Record) -> tuple[str, ...]:
    """Source files whose digest differs (a file the other run did not have is 'absent'); records of old runs hold none."""
    if not old.code or not new.code:
        return ()
    return tuple(f"{path} {_arrow(old.code.get(path, 'absent'), new.code.get(path, 'absent'))}"
                 for path in sorted(old.code.keys() | new.code.keys()) if old.code.get(path) != new.code.get(path))


def _input_changes(old: Record, new: Record) -> tuple[str, ...]:
    """Model files (weights, ONNX, engines) whose digest differs: the model was trained or exported again."""
    if old.model_info is None or new.model_info is None:
        return ()
    before, after = old.model_info.artifacts, new.model_info.artifacts
    return tuple(f"{role} {_arrow(before[role].sha256[:12], after[role].sha256[:12])}"
                 for role in sorted(before.keys() & after.keys()) if before[role].sha256 != after[role].sha256)


def _policy(record: Record) -> dict:
    return record.timing.policy if record.timing is not None else {}


def _how_long_changes(old: Record, new: Record) -> tuple[str, ...]:
    before, after = _policy(old), _policy(new)
    return tuple(f"{key} {_arrow(before[key], after[key])}" for key in HOW_LONG
                 if key in before and key in after and before[key] != after[key])


def _parity_change(old: Record, new: Record) -> str | None:
    if old.parity is None or new.parity is None or old.parity.passed == new.parity.passed:
        return None
    return _arrow(*("passed" if p.passed else "failed" for p in (old.parity, new.parity)))


def _model_key(record: Record) -> str | None:
    info = record.model_info
    return None if info is None else f"{info.architecture} {info.image_size}x{info.image_size}, {info.num_classes} classes"


def _gpu_name(record: Record) -> str:
    return record.gpu.name if record.gpu is not None else "none"


def _identity_difference(old: Record, new: Record) -> str | None:
    """Where the two are not measurements of one thing on one kind of machine: another cell, model or CPU."""
    if old.cell != new.cell:
        return f"another cell ({_arrow(old.cell.record_path, new.cell.record_path)})"
    if None not in (_model_key(old), _model_key(new)) and _model_key(old) != _model_key(new):
        return f"model {_arrow(_model_key(old), _model_key(new))}"
    if old.host is None or new.host is None:
        return "the host was not recorded"
    if old.host.cpu != new.host.cpu:
        return f"CPU {_arrow(old.host.cpu, new.host.cpu)}"
    return None


def _setting_difference(old: Record, new: Record) -> str | None:
    """Where two timed measurements were made another way: another GPU, measuring setting or timing policy."""
    if _gpu_name(old) != _gpu_name(new):
        return f"GPU {_arrow(_gpu_name(old), _gpu_name(new))}"
    for key in MEASURING_SETTINGS:
        if old.settings.get(key) != new.settings.get(key):
            return f"{key} {_arrow(old.settings.get(key), new.settings.get(key))}"
    before, after = _policy(old), _policy(new)
    for key in sorted((before.keys() | after.keys()) - set(HOW_LONG)):
        if before.get(key) != after.get(key):
            return f"timing policy {key} {_arrow(before.get(key), after.get(key))}"
    return None


def compared_mode(record: Record) -> str | None:
    """The timing a cell is compared by: device resident where it has it (a GPU cell), else end to end."""
    if record.status != OK or record.timing is None:
        return None
    return "device_resident" if record.timing.device_resident is not None else "end_to_end"


def _timing_difference(old: Record, new: Record) -> str | None:
    """Why the two cannot be compared by their timings: one was not timed, or was timed another way."""
    for when, record in (("before", old), ("now", new)):
        if compared_mode(record) is None:
            return f"not timed {when} ({record.status})"
    mode = compared_mode(new)
    if compared_mode(old) != mode:
        return f"timed {_arrow(compared_mode(old), mode)}"
    if old.timing.methods.get(mode) != new.timing.methods.get(mode):
        return f"the {mode.replace('_', ' ')} timing method changed"
    return None


def _numbers(record: Record, mode: str | None) -> tuple[float | None, float | None]:
    block: TimingBlock | None = record.timing.block(mode) if mode and record.timing is not None else None
    return (block.host_ms.mean, block.host_ms.p50) if block is not None else (None, None)


def shown_status(record: Record, source: str) -> str:
    """A record's status as the tables show it: 'inconsistent' where it contradicts its path or itself."""
    return INCONSISTENT if inconsistencies(record, source) else record.status


def _inconsistency(old: Record, new: Record, old_source: str, new_source: str) -> str | None:
    for when, record, source in (("before", old, old_source), ("now", new, new_source)):
        if problems := inconsistencies(record, source):
            return f"inconsistent record {when} ({'; '.join(problems)})"
    return None


def _same_everything(fields: dict, old: Record, new: Record) -> bool:
    """Both measurements ran the same code (both recorded it) with the same versions, model files and settings."""
    return bool(old.code and new.code) and not any(fields[key] for key in ("versions", "code", "inputs", "how_long"))


def judge(old: Record, new: Record, mode: str, threshold: Threshold, same: bool) -> Decision:
    """The verdict on two comparable measurements: a difference in the calls, then whose it is and whether it holds."""
    calls = decide(old.timing.block(mode).samples_ms, new.timing.block(mode).samples_ms, threshold)
    if calls.verdict == WITHIN_NOISE:
        return calls
    if same:
        return replace(calls, verdict=THE_MACHINE)
    return confirm(calls, process_means(old, mode), process_means(new, mode), threshold)


def compare_records(old: Record, new: Record, threshold: Threshold, old_record: str = "", new_record: str = "") -> Change:
    """The verdict on one cell's two measurements, with what differs between them (`old_record`, `new_record`: the
    paths they were read from, which a consistent record's cell matches)."""
    mode = compared_mode(new) if compared_mode(old) == compared_mode(new) else None
    (old_mean, old_p50), (new_mean, new_p50) = _numbers(old, mode), _numbers(new, mode)
    before, after = shown_status(old, old_record), shown_status(new, new_record)
    fields = {
        "cell": expected_cell(new, new_record), "old_created": old.created_utc, "new_created": new.created_utc,
        "timing": mode, "old_mean_ms": old_mean, "new_mean_ms": new_mean, "old_p50_ms": old_p50, "new_p50_ms": new_p50,
        "versions": _version_changes(old, new), "code": _code_changes(old, new), "inputs": _input_changes(old, new),
        "how_long": _how_long_changes(old, new), "parity": _parity_change(old, new),
        "status": None if before == after else _arrow(before, after), "status_regressed": before == OK and after != OK,
        "old_record": old_record, "new_record": new_record,
    }
    why = (_inconsistency(old, new, old_record, new_record) or _identity_difference(old, new)
           or _timing_difference(old, new) or _setting_difference(old, new))
    if why:
        return Change(verdict=NOT_COMPARABLE, why_not_comparable=why, **fields)
    decision = judge(old, new, mode, threshold, _same_everything(fields, old, new))
    return Change(verdict=decision.verdict, ratio=decision.ratio, p_value=decision.p_value, test=decision.test,
                  old_processes=process_means(old, mode), new_processes=process_means(new, mode),
                  fresh_failed=new.confirmation.failed if new.confirmation is not None else None, **fields)
