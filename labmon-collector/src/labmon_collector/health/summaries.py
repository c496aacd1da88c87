"""Health summaries: each watched series' timeline per closed two-hour window, kept as the collector runs.

A report, badge, strip or digest joins the summaries of the windows it covers and computes the rest (the open
window, the edges of its range, windows without a summary) from the stored points, as it did before: the same
timeline either way. A window's timeline is the whole one's cut at its edges because a window holds whole buckets
of either width; what the cut cannot know, the hysteresis state carried in from before, is kept open (BETWEEN)
until the join.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from labmon.config import CollectorConfig
from labmon.rule_config import RuleConfig
from labmon_collector.health.timeline import BETWEEN, GOOD, UNKNOWN, Segment, bounds, carried, runs, timeline
from labmon_collector.history.reader import BUCKETS, History, bucket_span
from labmon_collector.history.writer import BUCKET_WIDTHS, HistoryConfig

log = logging.getLogger(__name__)

WIDTH = BUCKET_WIDTHS[-1]
"""Seconds per summarised window: one two-hour bucket, so no bucket straddles two windows."""
TABLE = """CREATE TABLE IF NOT EXISTS health_summaries (
    series INTEGER NOT NULL, bounds TEXT NOT NULL, step REAL NOT NULL, start REAL NOT NULL,
    readings INTEGER NOT NULL, segments TEXT NOT NULL, PRIMARY KEY (series, bounds, step, start)
) WITHOUT ROWID"""
"""One row per series, bounds, step and window: `readings` is the window's two-hour bucket's count of valid
readings when it was summarised (a batch stored later, or retention, changes it: the row is not used then);
`segments` the window's timeline as text ("start,end,state;...", the same floats back)."""
READ = """SELECT start, readings, segments FROM health_summaries
    WHERE series = ? AND bounds = ? AND step = ? AND start >= ? AND start + ? <= ?"""
STEP_SAMPLE = 200
"""Readings whose median spacing is taken as a series' step (the collector's interval when it was recorded)."""
STEP_DIGITS = 2
"""Significant digits a step is rounded to: the same step at a window's close and at a later report (a cycle's
start jitters by milliseconds), so the report finds the window's summary."""
CHECK = 60.0
"""Seconds between the summariser's looks for closed windows."""
PER_PASS = 2
"""Windows summarised per look at the most (the newest first): a restart's backfill spread over many looks."""
BACKFILL = 8 * 86400.0
"""How far back a collector summarises the closed windows it finds without a summary (a week's report)."""


def step_of(history: History, series: int, until: float, fallback: float) -> float:
    """Return the usual spacing of a series' readings before `until` (`fallback` with fewer than two), rounded."""
    import numpy as np

    steps = np.diff(np.sort(np.array(history.times_before(series, until, STEP_SAMPLE), np.float64)))
    steps = steps[steps > 0]
    return float(f"{float(np.median(steps)) if len(steps) else fallback:.{STEP_DIGITS}g}")


def key(rule: RuleConfig) -> str:
    """Return the bounds and hysteresis that decide a rule's timeline, as the summaries' key."""
    b = bounds(rule)
    return ",".join(repr(b[k]) for k in ("glo", "ghi", "blo", "bhi"))


def judged(history: History, series: int, rule: RuleConfig, since: float, until: float, step: float) -> list[Segment]:
    """Return the timeline of [since, until) with its start left open (BETWEEN) where the hysteresis decides it.

    Before its first reading on either side of the band, a series between bound and clear is in or out as it
    was before `since`, which this stretch cannot know: the join decides, as the whole timeline would.
    """
    found = timeline(history, series, rule, since, until, step)
    b = bounds(rule)
    first = next((state for _, _, state in found if state != UNKNOWN), None)
    if first != GOOD or (b["ghi"], b["blo"]) == (b["bhi"], b["glo"]):
        return found  # no band, or out first: nothing was judged by a state from before
    decided = _first_agreement(found, timeline(history, series, _without_band(rule), since, until, step))
    opened: list[Segment] = []
    for start, end, state in found:
        if start < decided and state == GOOD:
            opened.append((start, min(end, decided), BETWEEN))
            if end > decided:
                opened.append((decided, end, state))
        else:
            opened.append((start, end, state))
    return opened


def _without_band(rule: RuleConfig) -> RuleConfig:
    """Return the rule with its bound moved to its `clear`: a value in the band counts out, whatever came before."""
    if rule.above is not None:
        return replace(rule, above=rule.clear, clear=None)
    return replace(rule, below=rule.clear, clear=None)


def _first_agreement(ours: list[Segment], strict: list[Segment]) -> float:
    """Return the first time both timelines know and agree on (a reading outside the band): inf if none."""
    i = j = 0
    while i < len(ours) and j < len(strict):
        (s1, e1, a), (s2, e2, b) = ours[i], strict[j]
        if a == b and a != UNKNOWN and max(s1, s2) < min(e1, e2):
            return max(s1, s2)
        if e1 <= e2:
            i += 1
        else:
            j += 1
    return math.inf


def encode(segments: list[Segment]) -> str:
    """Return segments as text (repr: the same floats back)."""
    return ";".join(f"{s!r},{e!r},{state}" for s, e, state in segments)


def segments(history: History, series: int, rule: RuleConfig, since: float, until: float, step: float) -> list[Segment]:
    """Return the series' timeline under `rule` over [since, until): that of the whole windows it touches, clipped.

    Each closed window's comes from its summary while that still holds; the others' (the open window, windows
    without a summary) from the stored points: the same timeline either way.
    """
    import numpy as np

    first, last = float(math.floor(since / WIDTH) * WIDTH), float(math.ceil(until / WIDTH) * WIDTH)
    stored = _stored(history, series, rule, first, last, step) if since < until else {}
    parts: list[str] = []
    done = first
    for start in [*sorted(stored), last]:
        if done < start:  # the windows up to here without a summary, from the points at once
            parts.append(encode(_computed(history, series, rule, done, start, step, opened=done > first)))
        if start in stored:
            parts.append(stored[start])
            done = start + WIDTH
    if not parts:
        return []
    joined = np.fromstring(",".join(parts).replace(";", ","), sep=",").reshape(-1, 3)  # one parse: quick
    state = carried(joined[:, 2].astype(np.int8))
    kept = (joined[:, 1] > since) & (joined[:, 0] < until)
    start, end, state = np.maximum(joined[kept, 0], since), np.minimum(joined[kept, 1], until), state[kept]
    return list(zip(*runs(start, end, state), strict=True))


def _computed(
    history: History, series: int, rule: RuleConfig, since: float, until: float, step: float, *, opened: bool
) -> list[Segment]:
    """Return a stretch's timeline from the points; its start left open if a stretch comes before it."""
    return (judged if opened else timeline)(history, series, rule, since, until, step)


def _stored(
    history: History, series: int, rule: RuleConfig, first: float, last: float, step: float
) -> dict[float, str]:
    """Return the summaries of the windows in [first, last) whose readings are still those summarised, by start."""
    if not history.query("SELECT 1 FROM sqlite_master WHERE name = 'health_summaries'", ()):
        return {}
    rows = history.query(READ, (series, key(rule), step, first, WIDTH, last))
    if not rows:
        return {}
    counts = _counts(history, series, first, last - WIDTH)
    return {start: text for start, readings, text in rows if counts.get(start, 0) == readings}


def _counts(history: History, series: int, first: float, last: float) -> dict[float, int]:
    """Return the valid readings of the series' two-hour buckets starting in [first, last], by start."""
    return dict(history.query(BUCKETS.format(columns="b.n"), bucket_span(series, WIDTH, first, last)))


def summarize(db: sqlite3.Connection, history: History, rules: list[RuleConfig], start: float, interval: float) -> int:
    """Write the summaries of the closed window from `start` for each series each rule selects; return the rows.

    What the collector runs as a window closes (after the history's two-hour mark has passed it).
    """
    rows = []
    for rule in rules:
        for info in history.series(rule.select):
            counted = _counts(history, info.id, start, start).get(start, 0)  # read before the timeline: a
            step = step_of(history, info.id, start + WIDTH, interval)  # batch stored meanwhile makes it not match
            found = judged(history, info.id, rule, start, start + WIDTH, step)
            if found != [(start, start + WIDTH, UNKNOWN)]:  # not a row per series for the time before it began
                rows.append((info.id, key(rule), step, start, counted, encode(found)))
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany("INSERT OR REPLACE INTO health_summaries VALUES (?, ?, ?, ?, ?, ?)", rows)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return len(rows)


def open_summaries(path: Path) -> sqlite3.Connection:
    """Open the history file at `path` for writing summaries (creating their table)."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    db.execute(TABLE)
    return db


def closed_through(history: History) -> float:
    """Return the time before which every window is closed in the history (its two-hour buckets written)."""
    rows = history.query("SELECT value FROM history_meta WHERE key = ?", (f"buckets_through_{WIDTH}",))
    return float(rows[0][0]) if rows else -math.inf


class Summarizer:
    """Summarises each window of the collector's history as it closes, in a thread of its own (never the cycle)."""

    def __init__(self, settings: CollectorConfig, clock: Callable[[], float]) -> None:
        from labmon_collector.health.report import watched

        config = next((e.config for e in settings.sinks if isinstance(e.config, HistoryConfig)), None)
        self._path = None if config is None else config.path
        self._retention = 0.0 if config is None else float(config.retention)
        self._rules = watched(settings.rules)
        self._interval = settings.interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done: set[tuple[str, float]] = set()
        """(bounds, window start) summarised."""

    def start(self) -> None:
        """Start the thread (none without a history or a rule to judge by)."""
        if self._path is not None and self._rules:
            self._thread = threading.Thread(target=self._run, name="labmon-health-summaries", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread (after the window it is on)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        assert self._path is not None
        history: History | None = None
        db: sqlite3.Connection | None = None
        while not self._stop.wait(CHECK):
            try:
                if history is None and self._path.exists():
                    history, db = History(self._path), open_summaries(self._path)
                    self._done = set(history.query("SELECT DISTINCT bounds, start FROM health_summaries", ()))
                if history is not None and db is not None:
                    self.catch_up(db, history, self._clock())
            except Exception:  # a busy or damaged file, or a bug: the windows are tried again at the next look
                log.exception("health summaries could not be written; trying again")
        if history is not None and db is not None:
            history.close()
            db.close()

    def catch_up(self, db: sqlite3.Connection, history: History, now: float) -> int:
        """Summarise up to PER_PASS closed windows of the last BACKFILL not summarised yet, the newest first."""
        closed = closed_through(history)
        oldest: float = math.floor((now - BACKFILL) / WIDTH) * WIDTH
        if self._retention:  # a window the sink's retention may begin deleting within a window's time: not kept
            oldest = max(oldest, now - self._retention + WIDTH)
        written = windows = 0
        start = closed - WIDTH
        while start >= oldest and windows < PER_PASS and not self._stop.is_set():
            todo = [rule for rule in self._rules if (key(rule), start) not in self._done]
            if todo:
                written += summarize(db, history, todo, start, self._interval)
                self._done |= {(key(rule), start) for rule in todo}
                windows += 1
            start -= WIDTH
        if windows and self._retention:
            db.execute("DELETE FROM health_summaries WHERE start < ?", (oldest,))
        return written
