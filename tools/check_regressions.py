"""Compare two runs cell by cell and fail when one regressed: a gate for CI of a model or runtime upgrade.

    python tools/check_regressions.py OLD NEW [--factor 1.1] [--alpha 0.002]

OLD and NEW are run folders, each holding summary.json and the records it cites (a results/ folder,
or a committed one such as docs/results/cpu-2core). Prints the comparison as results/changes.md
holds it. Exit status: 1 when a cell that can be compared is slower beyond the threshold, or failed
the parity check where it passed before; 0 otherwise; 2 on bad input (a folder that does not exist,
holds no records, or holds records of another model or input size), with one line saying which.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from infbench.errors import BenchError  # noqa: E402
from infbench.report.baseline import compare, read_run  # noqa: E402
from infbench.report.changes import Threshold  # noqa: E402
from infbench.report.whatchanged import cell_text, document, verdict_text  # noqa: E402

REGRESSED, BAD_INPUT = 1, 2


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path, help="the baseline run's folder")
    parser.add_argument("new", type=Path, help="the run to check")
    parser.add_argument("--factor", type=float, default=Threshold.factor,
                        help="smallest ratio of the means that counts as a change (default %(default)s)")
    parser.add_argument("--alpha", type=float, default=Threshold.alpha,
                        help="p below which the Mann-Whitney U test counts a change as real (default %(default)s)")
    args = parser.parse_args(argv)
    if args.factor < 1 or not 0 < args.alpha < 1:
        parser.error("--factor must be 1 or more, --alpha between 0 and 1")
    return args


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
    regressed = comparison.regressed
    for change in regressed:
        print(f"regressed: {cell_text(change, True)}: {verdict_text(change)}", file=sys.stderr)
    return REGRESSED if regressed else 0


if __name__ == "__main__":
    sys.exit(main())
