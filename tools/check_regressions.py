"""Compare two runs cell by cell and fail when one regressed: a gate for CI of a model or runtime upgrade.

    python tools/check_regressions.py OLD NEW [--factor 1.1] [--alpha 0.002] [--allow CELL_PATTERN ...]

OLD and NEW are run folders, each holding summary.json and the records it cites (a results/ folder,
or a committed one such as docs/results/cpu-2core). Prints the comparison as results/changes.md
holds it. Exit status 1 when a cell regressed:

- slower beyond the threshold: confirmed in a fresh process, or measured in one process a side with
  nothing to say otherwise ("unconfirmed"; a fresh process that did not confirm it, or the same code
  and versions on both sides, "the machine", do not fail);
- failed the parity check where it passed before;
- measured in OLD (status ok) and not in NEW: an error, a mismatch, a skip, an inconsistent record
  (one that contradicts its path or itself), or missing from NEW.

0 otherwise; 2 on bad input (a folder that does not exist, holds no records, or holds records of
another model or input size), with one line saying which.

--allow CELL_PATTERN (repeatable) lets the named cells regress without failing: a shell-style pattern
(fnmatch: *, ?, [...]) matched against the cell as MACHINE/MODEL/BACKEND/VARIANT/PRECISION_bsBATCH,
its record's path under records/, such as 'local/resnet50/openvino/latency/fp32_bs1',
'*/tensorrt/*' or 'local/*/*/*/int8_bs*'. Allowed regressions are still printed.
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
import sys
from pathlib import Path

from infbench.errors import BenchError
from infbench.planning.cells import Cell
from infbench.report.baseline import Comparison, compare, read_run
from infbench.report.whatchanged import cell_text, document, verdict_text
from infbench.results.changes import Threshold

REGRESSED, BAD_INPUT = 1, 2


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path, help="the baseline run's folder")
    parser.add_argument("new", type=Path, help="the run to check")
    parser.add_argument("--factor", type=float, default=Threshold.factor,
                        help="smallest ratio of the means that counts as a change (default %(default)s)")
    parser.add_argument("--alpha", type=float, default=Threshold.alpha,
                        help="p below which the Mann-Whitney U test counts a change as real (default %(default)s)")
    parser.add_argument("--allow", action="append", default=[], metavar="CELL_PATTERN",
                        help="a cell allowed to regress, as MACHINE/MODEL/BACKEND/VARIANT/PRECISION_bsBATCH; shell-style "
                             "wildcards; repeatable")
    args = parser.parse_args(argv)
    if args.factor < 1 or not 0 < args.alpha < 1:
        parser.error("--factor must be 1 or more, --alpha between 0 and 1")
    return args


def regressions(comparison: Comparison) -> list[tuple[Cell, str]]:
    """Every regressed cell with what regressed: the verdicts of the pairs, then the cells missing from NEW."""
    found = [(c.cell, f"{cell_text(c, True)}: {verdict_text(c)}") for c in comparison.regressed]
    return found + [(cell, f"{cell.name}: measured before, missing now") for cell in comparison.missing]


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    threshold = Threshold(args.factor, args.alpha)
    try:
        old, new = read_run(args.old), read_run(args.new)
        comparison = compare(old, new, threshold)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    print(document(comparison.changes, threshold, old.name, new.name, comparison.unpaired(old.name, new.name)))
    failed = False
    for cell, text in regressions(comparison):
        allowed = any(fnmatch.fnmatchcase(cell.name, pattern) for pattern in args.allow)
        print(f"{'allowed' if allowed else 'regressed'}: {text}", file=sys.stderr)
        failed = failed or not allowed
    return REGRESSED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
