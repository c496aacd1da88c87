"""How often the collector's process looks for garbage cycles: a large lab's cycle makes its readings all at once."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 100_000
"""Net new objects between young collections (Python's default is 700). A cycle of 1000 measurers holds tens of
thousands of objects alive at once (readings, their series keys, rows): at 700 the collector made some 70 young
collections a cycle and walked the whole heap, every series' state, every other cycle: 17-24 ms of a 0.2 s cycle
(2-3 ms at this threshold; measured with gc.callbacks around bench/scale.py's cycles). Reference counting frees
nearly all of them: the higher threshold holds back only the rare cyclic garbage."""


def relax() -> tuple[int, int, int]:
    """Raise the young generation's threshold to YOUNG_THRESHOLD, unless the process set a higher one; return
    the thresholds before, for `restore`."""
    before: tuple[int, int, int] = gc.get_threshold()
    young, middle, old = before
    if 0 < young < YOUNG_THRESHOLD:  # 0: collection is off, as the process wants it
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return before


def restore(before: tuple[int, int, int]) -> None:
    """Put back the thresholds `relax` found, so that a process hosting a collector gets its own back."""
    gc.set_threshold(*before)
