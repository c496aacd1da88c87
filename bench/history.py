"""Time the status page's history queries on a big history, beside a bare indexed SQLite range query.

Builds (once; reused while it exists) a history of N series x D days at one reading a minute in the
sink's own layout, then times, for ranges of 1 h, 24 h, 7 d, 30 d and 1 y ending now, what the series
page asks (`History.plot`: raw readings up to 6 h, min/max/mean buckets beyond) and the floor: a bare
`SELECT t, value` of one series between two times (the reader's `POINTS`: a primary-key search per
window) on the same file, the cheapest way SQLite can return that range. Medians over rounds, each round
a different series. Then three retention passes on a copy of the file, as the sink runs them in its
delivery thread, and the migration of a 1 M-reading history of the first layout.
Run: .venv/bin/python bench/history.py [--series 20] [--days 365] [--rounds 15] [--file PATH]
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from labmon_collector.history.reader import POINTS, History, point_span
from labmon_collector.history.writer import HistoryConfig, HistorySink, open_history, rebuild_summaries

RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "1y": 365 * 86400}
STEP = 60.0


def build(path: Path, series: int, days: int, end: float) -> None:
    """Write `series` sine-plus-noise series of `days` days at one reading a minute, 0.1 % of them errors."""
    db = open_history(path)
    rng = random.Random(1)
    count = int(days * 86400 / STEP)
    start = end - count * STEP
    began = time.perf_counter()
    db.execute("BEGIN")
    for s in range(series):
        db.execute(
            "INSERT INTO series (measurer, instrument, name, unit) VALUES (?, 'sim', ?, 'V')", (f"t{s % 4}", f"r{s}")
        )
        sid = db.execute("SELECT last_insert_rowid()").fetchone()[0]
        rows: list[tuple[int, float, float | None, str, str | None, float]] = []
        for i in range(count):
            t = start + i * STEP
            if rng.random() < 0.001:
                rows.append((sid, t, None, "error", "timeout", t))
            else:
                rows.append((sid, t, math.sin(t / 3600.0) + rng.gauss(0, 0.05), "ok", None, t))
        db.executemany("INSERT INTO fresh VALUES (?, ?, ?, ?, ?, ?)", rows)
        print(f"  series {s + 1}/{series}: {count} readings ({time.perf_counter() - began:.0f} s)", flush=True)
    rebuild_summaries(db)
    db.execute("COMMIT")
    db.close()
    print(f"built {series * count:,} readings in {time.perf_counter() - began:.0f} s", flush=True)


def timed(call: Callable[..., object], *args: object) -> float:
    began = time.perf_counter()
    call(*args)
    return (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--file", type=Path, default=Path(tempfile.gettempdir()) / "labmon-bench-history.sqlite")
    args = parser.parse_args()
    end = 1_790_000_000.0
    if not args.file.exists():
        print(f"building {args.file} ({args.series} series x {args.days} days, 1/min)", flush=True)
        build(args.file, args.series, args.days, end)
    history = History(args.file)
    ids = [s.id for s in history.series()]
    raw = sqlite3.connect(args.file)  # the floor: the same file, nothing of labmon
    (rows,) = raw.execute("SELECT COUNT(*) FROM all_points").fetchone()
    print(f"{args.file}: {len(ids)} series, {rows:,} readings, {args.file.stat().st_size / 1e6:.0f} MB")

    def floor(sid: int, since: float, until: float) -> None:
        raw.execute(POINTS.format(columns="t, value", rest=""), point_span(sid, since, until)).fetchall()

    rng = random.Random(2)
    print(f"{'range':>6} {'points':>7} {'page ms':>9} {'floor ms':>9} {'ratio':>7}  (median of {args.rounds})")
    for name, span in RANGES.items():
        page, bare = [], []
        for _ in range(args.rounds):
            sid = rng.choice(ids)
            bare.append(timed(floor, sid, end - span, end))
            page.append(timed(history.plot, sid, end - span, end))
        points = len(history.plot(ids[0], end - span, end).t)
        p, f = statistics.median(page), statistics.median(bare)
        print(f"{name:>6} {points:>7} {p:>9.2f} {f:>9.2f} {p / f:>7.2f}")
    history.close()
    raw.close()
    retention(args.file, end)
    migration(args.file.with_suffix(".v1.sqlite"), series=20, minutes=52_560)


def migration(path: Path, series: int, minutes: int) -> None:
    """Time the one-off migration of a history of the first layout (key starting with the cycle time)."""
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE readings (cycle_at REAL NOT NULL, measurer TEXT NOT NULL, instrument TEXT NOT NULL,"
        " name TEXT NOT NULL, value REAL, unit TEXT NOT NULL, status TEXT NOT NULL, error TEXT,"
        " measured_at REAL NOT NULL, PRIMARY KEY (cycle_at, measurer, instrument, name));"
        "CREATE TABLE missing (cycle_at REAL NOT NULL, measurer TEXT NOT NULL, PRIMARY KEY (cycle_at, measurer));"
    )
    rows = (
        (m * STEP, f"t{s % 4}", "sim", f"r{s}", math.sin(m / 60), "V", "ok", None, m * STEP)
        for m in range(minutes)
        for s in range(series)
    )
    db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    began = time.perf_counter()
    HistorySink(HistoryConfig(path=path)).close()
    print(f"migration of {series * minutes:,} readings of the first layout: {time.perf_counter() - began:.1f} s")
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()


def retention(path: Path, end: float) -> None:
    """Time three retention passes on a copy (each deletes the oldest day of every series)."""
    copy = path.with_suffix(".retention.sqlite")
    shutil.copyfile(path, copy)
    sink = HistorySink(HistoryConfig(path=copy))
    for number in range(1, 4):
        began = time.perf_counter()
        deleted = sink.apply_retention(end - 300 * 86400)
        print(f"retention pass {number}: {deleted:,} readings in {(time.perf_counter() - began) * 1000:.0f} ms")
    sink.close()
    for leftover in copy.parent.glob(copy.name + "*"):
        leftover.unlink()


if __name__ == "__main__":
    main()
