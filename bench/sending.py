"""Time one notification's way through the outbox with the "being sent" mark, beside the same without it.

A notification is put (durable, fsync'd), handed to its courier, marked as being sent (labmon: committed without
an fsync, MARK_SYNC = "NORMAL"; "fsync'd mark": the same commit with synchronous=FULL) and deleted once
delivered. The floor is the same without the mark. Rounds alternate floor, labmon and the fsync'd mark in one run.
Run: .venv/bin/python bench/sending.py [--items 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from labmon_collector.delivery import outbox as module
from labmon_collector.delivery.outbox import Outbox

ALERT = {"rule": "laser-unlocked", "state": "firing", "series": "t1/laser1/lock_error", "message": "x" * 200}


def one_round(directory: Path, name: str, mark: str | None, items: int) -> float:
    """Return the median ms of put, oldest, (mark,) delivered for `items` notifications."""
    box = Outbox(directory / f"{name}.sqlite")
    module.MARK_SYNC = mark or "NORMAL"
    times = []
    for _ in range(items):
        started = time.perf_counter()
        box.put("notifier:discord", ALERT)
        item = box.oldest("notifier:discord")
        assert item is not None
        if mark is not None:
            box.sending(item.id)
        box.delivered("notifier:discord", item.id)
        times.append(time.perf_counter() - started)
    box.close()
    module.MARK_SYNC = "NORMAL"
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    found: dict[str, list[float]] = {"floor": [], "labmon": [], "fsync'd mark": []}
    with tempfile.TemporaryDirectory() as tmp:
        for number in range(args.rounds):
            for name, mark in (("floor", None), ("labmon", "NORMAL"), ("fsync'd mark", "FULL")):
                found[name].append(one_round(Path(tmp), f"{number}-{name[:5]}", mark, args.items))
    floor = statistics.median(found["floor"])
    print(f"one notification through the outbox (median of {args.rounds} rounds of {args.items})")
    for name, figures in found.items():
        ms = statistics.median(figures)
        print(f"  {name:<14} {ms:6.3f} ms   {ms / floor:4.2f}x the floor")


if __name__ == "__main__":
    main()
