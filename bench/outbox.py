"""Time one outbox put (a cycle's batch, durable on return) beside a bare SQLite insert-and-commit floor.

Both use WAL with synchronous=FULL on the same disk, so the floor is one fsync'd commit of one row:
a put that is one transaction costs about that; one that commits each statement costs a multiple.
Run: .venv/bin/python bench/outbox.py [--puts 300]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from labmon_collector.delivery.outbox import Outbox

PAYLOAD = {"cycle": 1, "started_at": 0.0, "results": [], "missing": ["table1"], "note": "x" * 2000}


def median_ms(step: Callable[[], object], puts: int) -> float:
    """Return the median time of `puts` calls of `step`, in milliseconds."""
    times = []
    for _ in range(puts):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=300)
    puts = parser.parse_args().puts
    with tempfile.TemporaryDirectory() as tmp:
        floor_db = sqlite3.connect(Path(tmp) / "floor.sqlite", isolation_level=None)
        floor_db.execute("PRAGMA journal_mode=WAL")
        floor_db.execute("PRAGMA synchronous=FULL")
        floor_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)")
        text = json.dumps(PAYLOAD)

        def floor() -> None:
            floor_db.execute("BEGIN")
            floor_db.execute("INSERT INTO t (payload) VALUES (?)", (text,))
            floor_db.execute("COMMIT")

        outbox = Outbox(Path(tmp) / "outbox.sqlite")
        floor_ms = median_ms(floor, puts)
        put_ms = median_ms(lambda: outbox.put("sink:history", PAYLOAD), puts)
        outbox.close()
    print(f"one durable put (median of {puts})")
    print(f"  labmon outbox put   {put_ms:6.3f} ms   {put_ms / floor_ms:4.2f}x the floor")
    print(f"  bare insert+commit  {floor_ms:6.3f} ms   (floor)")


if __name__ == "__main__":
    main()
