"""The subsets the workflow takes of a split (training images, held-out accuracy, the parity set, int8
calibration and validation): seeded, covering the classes as evenly as the data allows, whatever
order the split is in, and said with the classes each covers."""

from __future__ import annotations

import random
from dataclasses import dataclass


def representative_order(items: list, seed: int) -> list:
    """`items` ([path, class] pairs) in an order whose every prefix covers the classes as evenly as the data allows.

    Each class's items are sorted by path and shuffled with `seed`; the order then takes one item of
    each class in turn (the classes in a fresh seeded order every round), and goes on with the classes
    that have items left once a class runs out. The order depends on the items and the seed only,
    not on the order they come in, so a manifest grouped by class gives the same subsets as a shuffled one.
    """
    rng = random.Random(seed)
    by_class: dict[str, list] = {}
    for item in sorted(items, key=lambda item: (str(item[1]), str(item[0]))):
        by_class.setdefault(str(item[1]), []).append(item)
    queues = list(by_class.values())
    for queue in queues:
        rng.shuffle(queue)
    order = []
    while queues:
        rng.shuffle(queues)
        order += [queue.pop() for queue in queues]
        queues = [queue for queue in queues if queue]
    return order


def subset(items: list, n: int | None, seed: int) -> list:
    """`n` of `items` drawn with `seed`, every class as evenly as the data allows (all of them where n is None or larger).

    Every subset the workflow takes of a split (training images, held-out accuracy, the parity set,
    calibration and validation images) is taken here.
    """
    order = representative_order(items, seed)
    return order if n is None else order[:n]


@dataclass(frozen=True)
class Coverage:
    """Which of the data's classes a subset of images holds, and why it lacks any."""

    what: str  # "training images"
    images: int
    classes: int  # how many the data has
    missing: tuple[str, ...]  # the data's classes the subset holds no image of
    why: str = ""  # why they are missing

    @property
    def sentence(self) -> str:
        """'400 training images covering 10 of 10 classes'."""
        return f"{self.images} {self.what} covering {self.classes - len(self.missing)} of {self.classes} classes"

    @property
    def warning(self) -> str | None:
        """The classes the subset lacks and why, or None where it covers them all."""
        if not self.missing:
            return None
        shown = ", ".join(self.missing[:10]) + (f" and {len(self.missing) - 10} more" if len(self.missing) > 10 else "")
        return (f"the {self.images} {self.what} cover {self.classes - len(self.missing)} of {self.classes} classes, none of "
                f"{shown} ({self.why})")

    def card(self) -> dict:
        """The coverage as a model card holds it."""
        entry = {"images": self.images, "classes_covered": self.classes - len(self.missing), "classes": self.classes}
        return entry | ({"warning": self.warning} if self.missing else {})

    def log(self, logger) -> None:
        """Warn where the subset lacks classes (its sentence is part of the caller's own log line)."""
        if self.missing:
            logger.warning("warning: %s", self.warning)


def coverage(chosen: list, pool: list, classes: list[str], what: str, asked: tuple[str, int | None]) -> Coverage:
    """The class coverage of `chosen`, drawn from `pool` with `subset`; `asked` is the setting's key and value that capped it.

    A class is missing because the pool holds none of it, or because the cap asked for fewer images
    than the pool has classes (`subset` covers them all otherwise).
    """
    present, in_pool = {str(c) for _, c in chosen}, {str(c) for _, c in pool}
    missing = tuple(c for c in classes if c not in present)
    absent = [c for c in missing if c not in in_pool]
    key, n = asked
    reasons = []
    if len(absent) < len(missing):
        of = f"the data's {len(classes)} classes" if not absent else f"the {len(in_pool)} classes of the images they are drawn from"
        reasons.append(f"{key} is {n}, fewer than {of}")
    if absent:
        reasons.append(f"the images they are drawn from hold none of {', '.join(absent[:10])}"
                       + (f" and {len(absent) - 10} more" if len(absent) > 10 else ""))
    return Coverage(what, len(chosen), len(classes), missing, "; ".join(reasons))


def draw(manifest: dict, split: str, n: int | None, what: str, key: str) -> tuple[list, Coverage]:
    """`n` images of a manifest's split (all where `n` is None), drawn with data.seed by `subset`, and their class
    coverage; `key` is the setting that asked for `n`."""
    chosen = subset(manifest[split], n, manifest["seed"])
    return chosen, coverage(chosen, manifest[split], manifest["classes"], what, (key, n))
