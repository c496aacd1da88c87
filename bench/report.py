"""Time `labmon report`'s health figures over 7 days of 500 series at one reading every 10 s, beside a bare scan.

Builds (once; reused while it exists) a history in the sink's layout: each series noise around 0 with a
bound at 1, a few excursions a day (30 s to 10 min), two bursts of error readings a day and a 30-minute
restart gap. Then, alternating, the floor (one bare `SELECT COUNT(*), SUM(value > 1) ... GROUP BY status`
per series over the raw points: the cheapest answer to "how long out of bounds", with no excursions, no
gaps, no days) and `health()` for all series (per day and per week, excursions, unknown time), over the 7 days
to a time in the last, open window (as `labmon report` asks at any moment). Before timing, the history is brought
to the state a running collector leaves it in: each closed two-hour window summarised by the code the collector
runs as a window closes (`summarize`; once, kept in the file). `--raw` times the report without the summaries.
Run: .venv/bin/python bench/report.py [--series 500] [--days 7] [--step 10] [--rounds 3] [--file PATH] [--raw]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC
from pathlib import Path

from labmon.rule_config import RuleConfig
from labmon_collector.health.report import health
from labmon_collector.health.summaries import WIDTH, closed_through, key, open_summaries, summarize
from labmon_collector.history.reader import POINTS, History, point_span
from labmon_collector.history.writer import open_history, rebuild_summaries

RESTART = (2.5 * 86400, 1800.0)
"""Where in the range (seconds from its start) the collector was stopped, and for how long."""
RULE = RuleConfig(name="lock", select="*/laser/lock", above=1.0)
ASKED = 1234.5
"""The report is asked this long before the newest reading: its 7 days begin and end inside windows."""


def build(path: Path, series: int, days: int, step: float, end: float) -> None:
    """Write the synthetic lab: excursions, error bursts and one restart gap per series."""
    db = open_history(path)
    rng = random.Random(7)
    count = int(days * 86400 / step)
    start = end - count * step
    began = time.perf_counter()
    db.execute("BEGIN")
    for s in range(series):
        db.execute("INSERT INTO series (measurer, instrument, name, unit) VALUES (?, 'laser', 'lock', 'V')", (f"t{s}",))
        sid = db.execute("SELECT last_insert_rowid()").fetchone()[0]
        kind = [0] * count  # 0 within bounds, 1 out, 2 an error reading, 3 not stored (the restart)
        for spans, mark in ((4 * days, 1), (2 * days, 2)):
            for _ in range(spans):
                first = rng.randrange(count)
                length = int(rng.uniform(30, 600 if mark == 1 else 120) / step) + 1
                kind[first : first + length] = [mark] * len(kind[first : first + length])
        gap = int(RESTART[0] / step)
        kind[gap : gap + int(RESTART[1] / step)] = [3] * int(RESTART[1] / step)
        rows = [
            (sid, start + i * step, None, "error", "timeout", start + i * step)
            if k == 2
            else (sid, start + i * step, rng.gauss(0, 0.1) + 2.0 * k, "ok", None, start + i * step)
            for i, k in enumerate(kind)
            if k != 3
        ]
        db.executemany("INSERT INTO fresh VALUES (?, ?, ?, ?, ?, ?)", rows)
        if s % 50 == 49:
            print(f"  series {s + 1}/{series} ({time.perf_counter() - began:.0f} s)", flush=True)
    rebuild_summaries(db)
    db.execute("COMMIT")
    db.close()
    print(f"built {series} series x {count:,} readings in {time.perf_counter() - began:.0f} s", flush=True)


def summarise(path: Path, step: float) -> None:
    """Summarise every closed window as the collector does when each closes (once: kept in the file)."""
    history, db = History(path), open_summaries(path)
    if not history.query("SELECT 1 FROM health_summaries WHERE bounds = ? LIMIT 1", (key(RULE),)):
        began = time.perf_counter()
        [(first,)] = history.query("SELECT MIN(start) FROM points", ())
        start = first // WIDTH * WIDTH
        while start + WIDTH <= closed_through(history):
            summarize(db, history, [RULE], start, step)
            start += WIDTH
        print(f"summarised the closed windows in {time.perf_counter() - began:.0f} s", flush=True)
    history.close()
    db.close()


def floor(path: Path, since: float, until: float) -> float:
    """Return the seconds a bare per-series scan of the raw points takes."""
    db = sqlite3.connect(path)
    ids = [sid for (sid,) in db.execute("SELECT id FROM series")]
    began = time.perf_counter()
    for sid in ids:
        db.execute(
            POINTS.format(columns="status, COUNT(*), SUM(value > 1)", rest="WHERE t < :until GROUP BY status"),
            point_span(sid, since, until),
        ).fetchall()
    took = time.perf_counter() - began
    db.close()
    return took


def labmon(path: Path, since: float, until: float) -> float:
    """Return the seconds `health()` takes for every series, per day and per week."""
    history = History(path)
    began = time.perf_counter()
    found = health(history, [RULE], since, until, UTC)
    took = time.perf_counter() - began
    history.close()
    assert found and all(item.days for item in found)
    return took


def _rename(path: Path, table: str, to: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"ALTER TABLE {table} RENAME TO {to}")


def main() -> None:
    """Build if needed; alternate floor and labmon; print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--step", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--file", type=Path, default=None)
    parser.add_argument("--raw", action="store_true", help="time the report without the summaries")
    args = parser.parse_args()
    path = args.file or Path(tempfile.gettempdir()) / f"labmon-report-{args.series}x{args.days}d-{args.step:g}s.sqlite"
    end = 1_800_000_000.0  # a fixed end: the file is reused between runs
    if not path.exists():
        build(path, args.series, args.days, args.step, end)
    summarise(path, args.step)
    if args.raw:  # set aside while timing, kept for the next run
        _rename(path, "health_summaries", "health_summaries_aside")
    until = end - ASKED
    since = until - args.days * 86400
    floors, ours = [], []
    for _ in range(args.rounds):
        floors.append(floor(path, since, until))
        ours.append(labmon(path, since, until))
    if args.raw:
        _rename(path, "health_summaries_aside", "health_summaries")
    f, o = statistics.median(floors), statistics.median(ours)
    print(f"{args.series} series x {args.days} d at {args.step:g} s, median of {args.rounds} rounds")
    print(f"  floor (bare scan of the raw points, per series): {f:.3f} s")
    what = "from the points alone" if args.raw else "summaries of the closed windows + the points of the rest"
    print(f"  labmon health (days, weeks, excursions, unknown; {what}): {o:.3f} s   ratio {o / f:.2f}")


if __name__ == "__main__":
    main()
