"""Measure "what changed before an alert": is a planted cause ranked first, is noise left unnamed, how long it takes.

Writes a synthetic lab in the sink's layout: 50 series at one reading every 10 s for 2 days (white noise,
slow sines, random walks, a few with rare spikes). In the lab with a cause, one series (the room
temperature) rises by `--step` times its reading noise over 3 minutes, 5 minutes before each of 10 unlocks,
and falls back an hour later; the laser's lock series is the alerted one. For each unlock the ranking of
the other 49 series is made at the unlock (`Changes.before`), and timed; beside it, the floor: the bare
queries of the same readings and ten-minute buckets (the reader's `POINTS` / `BUCKETS`: a primary-key
search per window), no ranking;
then as the cycle hands it over (`Held`: the cycle's notifications held, the ranking made in the changes' worker,
sent from there once it is in or DEADLINE has passed): the cycle's own time for its notifications with a new
firing (ranked) and with the same alert as a repeat (nothing to rank), alternating, and the time until the held
notification went out.
The lab without a cause is ranked at the same 10 times: what it names beyond the threshold is counted.
Run: .venv/bin/python bench/changes.py [--step 2] [--series 50]
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

from labmon.models import Alert
from labmon_collector.health.changes import BASELINE, DEADLINE, RECENT, WINDOW, Z_NAMED, Changes
from labmon_collector.health.held import Held, Routed
from labmon_collector.history.reader import BUCKETS, POINTS, bucket_span, point_span
from labmon_collector.history.writer import open_history, rebuild_summaries

STEP = 10.0
END = 1_800_000_000.0
DAYS = 2
LOCK = "table1/laser1/lock_error"
CAUSE = "table1/room/temperature"


def unlock_times() -> list[float]:
    """Return the 10 unlocks: every 2 hours over the second day."""
    return [END - 22 * 3600 + i * 7200 for i in range(10)]


def build(path: Path, series: int, cause_step: float | None) -> None:
    """Write the lab; `cause_step`: how far the cause moves before each unlock (None: no cause)."""
    rng = random.Random(11)
    db = open_history(path)
    db.execute("BEGIN")
    count = int(DAYS * 86400 / STEP)
    start = END - count * STEP
    unlocks = unlock_times()
    keys = [LOCK, CAUSE] + [f"table{i % 4 + 1}/dev{i}/reading" for i in range(series - 2)]
    for n, key in enumerate(keys):
        unit = "K" if key == CAUSE else "V"
        db.execute("INSERT INTO series (measurer, instrument, name, unit) VALUES (?, ?, ?, ?)", [*key.split("/"), unit])
        (sid,) = db.execute("SELECT last_insert_rowid()").fetchone()
        shape, period, walk = n % 4, rng.uniform(2, 12) * 3600, 0.0
        rows = []
        for i in range(count):
            t = start + i * STEP
            noise = rng.gauss(0, 1.0)
            if shape == 1:
                noise += 3 * math.sin(t / period)
            elif shape == 2:
                walk += rng.gauss(0, 0.05)
                noise += walk
            elif shape == 3 and rng.random() < 0.001:
                noise += rng.choice((-8, 8))  # a rare spike
            if key == LOCK:
                noise = 0.1 * noise + (1.0 if any(u <= t < u + 600 for u in unlocks) else 0.0)
            if key == CAUSE and cause_step is not None:
                for u in unlocks:
                    if u - 300 <= t < u + 3600:
                        noise += cause_step * min(1.0, (t - (u - 300)) / 180)
            rows.append((sid, t, noise, "ok", None, t))
        db.executemany("INSERT INTO fresh VALUES (?, ?, ?, ?, ?, ?)", rows)
    rebuild_summaries(db)
    db.execute("COMMIT")
    db.close()


def floor(path: Path, at: float) -> float:
    """Return the seconds the bare queries of the same readings and buckets take."""
    db = sqlite3.connect(path)
    began = time.perf_counter()
    for (sid,) in db.execute("SELECT id FROM series").fetchall():
        db.execute(
            POINTS.format(columns="t, value", rest="WHERE t < :until"), point_span(sid, at - RECENT - WINDOW, at)
        ).fetchall()
        db.execute(BUCKETS.format(columns="b.n, b.sum"), bucket_span(sid, 600, at - BASELINE, at - 600)).fetchall()
    took = time.perf_counter() - began
    db.close()
    return took


def main() -> None:
    """Build both labs, rank at each unlock, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=float, default=2.0, help="the cause's move, in its reading noise")
    parser.add_argument("--series", type=int, default=50)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    with_cause, without = folder / "cause.sqlite", folder / "noise.sqlite"
    build(with_cause, args.series, args.step)
    build(without, args.series, None)
    ranked = Changes(with_cause)
    first, ours, floors, tops, late = 0, [], [], [], 0
    cycles: dict[bool, list[float]] = {True: [], False: []}
    out: list[float] = []
    for at in unlock_times():
        floors.append(floor(with_cause, at))
        began = time.perf_counter()
        found = ranked.before(LOCK, at)
        ours.append(time.perf_counter() - began)
        first += bool(found) and found[0].series == CAUSE
        tops.append(found[0].text() if found else "nothing")
        for new in (True, False):  # the same cycle with a new firing, then with it as a repeat: nothing to rank
            alert = Alert("unlocked", "firing", LOCK, "unlocked", since=at, at=at, repeat=0 if new else 1)
            took, sent, message = cycle(ranked, alert)
            cycles[new].append(took)
            if new:
                out.append(sent)
                late += "not ranked within" in message
    ranked.close()
    quiet = Changes(without)
    named = [len(quiet.before(LOCK, at)) for at in unlock_times()]
    quiet.close()
    print(
        f"{args.series} series x {DAYS} d at {STEP:g} s; the cause moves {args.step:g} sigma 5 min before each unlock"
    )
    print(f"  cause ranked first: {first}/10 unlocks (e.g. {tops[0]})")
    print(f"  without a cause: {sum(named)} series named beyond {Z_NAMED:g} sigma at the 10 unlocks")
    f, o = statistics.median(floors), statistics.median(ours)
    print(
        f"  ranking: median {o * 1000:.1f} ms, max {max(ours) * 1000:.1f} ms;"
        f" floor {f * 1000:.1f} ms; ratio {o / f:.2f}"
    )
    new, repeat = statistics.median(cycles[True]), statistics.median(cycles[False])
    print(
        f"  the cycle's notifications, handed to Held: with a new firing (ranked) median {new * 1e6:.0f} us,"
        f" max {max(cycles[True]) * 1e6:.0f} us; with a repeat (nothing to rank) {repeat * 1e6:.0f} us;"
        f" ratio {new / repeat:.2f}"
    )
    print(
        f"  the held notification sent (worker, deadline {DEADLINE * 1000:.0f} ms) after:"
        f" median {statistics.median(out) * 1000:.1f} ms, max {max(out) * 1000:.1f} ms; sent without it: {late}/10"
    )


def cycle(changes: Changes, alert: Alert) -> tuple[float, float, str]:
    """Hand one cycle's alert to Held as the cycle does; return the cycle's time, the time until it was sent and
    the message sent."""
    sent = threading.Event()
    messages: list[str] = []

    def send(at: float, routed: Routed, notes: object) -> None:
        messages.extend(message.message for _, targets in routed for _, message in targets)
        sent.set()

    held = Held(changes, send)
    began = time.perf_counter()
    held.add(alert.at, [(alert, [("console", alert)])])
    held.recorded()
    took = time.perf_counter() - began
    sent.wait(30)
    return took, time.perf_counter() - began, messages[0]


if __name__ == "__main__":
    main()
