"""Judging LoadGen's accuracy log: each held-out image answered once, with the reference's answer, as the parity gate judges.

In AccuracyOnly mode LoadGen asks for every sample of the library once and writes each answer's
bytes to mlperf_log_accuracy.json (`qsl_idx`: the sample, `data`: the output as hex). A loop that
drops an answer, answers twice, or hands a sample another sample's output fails here: the first two
by count, the last by its outputs against the reference (the logits' error bound, cosine, top-1 on
decisive images and accuracy on the labels, `infbench.model.parity.compare`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from infbench.model.parity import Tolerance, compare
from infbench.results.records import Parity
from infbench.results.serving_records import AccuracyCheck, LoadGenRun


def read_answers(path: Path, samples: int, classes: int) -> tuple[dict[int, np.ndarray], dict[str, int]]:
    """The one well-formed answer of each sample, and how many were missing, given twice or of the wrong size."""
    entries = json.loads(path.read_text())
    seen: dict[int, list[np.ndarray | None]] = {}
    for entry in entries:
        raw = bytes.fromhex(entry["data"])
        output = np.frombuffer(raw, dtype=np.float32) if len(raw) == classes * 4 else None
        seen.setdefault(int(entry["qsl_idx"]), []).append(output)
    answers = {index: found[0] for index, found in seen.items() if len(found) == 1 and found[0] is not None}
    counts = {
        "missing": sum(1 for index in range(samples) if index not in seen),
        "duplicated": sum(1 for found in seen.values() if len(found) > 1),
        "malformed": sum(1 for found in seen.values() if len(found) == 1 and found[0] is None),
    }
    return answers, counts


def judge(run: LoadGenRun, path: Path, eval_set: dict[str, np.ndarray], tolerance: Tolerance) -> AccuracyCheck:
    """The accuracy run's verdict: every sample answered once, and the answers within the precision's tolerance."""
    reference, labels = eval_set["reference"], eval_set["labels"]
    samples, classes = reference.shape
    answers, counts = read_answers(path, samples, classes)
    failures = []
    if problem := run.responses.problem():
        failures.append(problem)
    if counts["missing"] or counts["duplicated"] or counts["malformed"]:
        failures.append(f"of {samples} samples, {counts['missing']} got no answer, {counts['duplicated']} more than one and "
                        f"{counts['malformed']} one of the wrong size")
    parity = None
    if answers:
        indices = sorted(answers)
        outputs = np.stack([answers[i] for i in indices])
        parity = Parity(**compare(outputs, reference[indices], labels[indices], tolerance))
        if not parity.passed:
            failures.append("the answers differ from the reference: " + "; ".join(parity.failures))
    return AccuracyCheck(passed=not failures, failures=failures, samples=samples, answered=len(answers), parity=parity,
                         run=run, **counts)
