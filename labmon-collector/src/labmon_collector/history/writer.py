"""The `sqlite` sink: every reading in a local SQLite history (the embedded default), fast to plot."""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path

from labmon.config import check_file
from labmon.hookspecs import Register, hookimpl
from labmon.models import Batch
from labmon.options import Duration
from labmon_collector.sqlitedb import transaction

log = logging.getLogger(__name__)

BUCKET_WIDTHS = (600, 7200)
"""Seconds per downsampled bucket (min, max, mean): 10 minutes for weeks, 2 hours for a year."""

# One series over any range is a range scan of its primary key: (series, t) first, not the cycle time.
TABLES = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, measurer TEXT NOT NULL, instrument TEXT NOT NULL, name TEXT NOT NULL,
    unit TEXT NOT NULL, UNIQUE (measurer, instrument, name)
);
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL, t REAL NOT NULL, value REAL, status TEXT NOT NULL, error TEXT,
    measured_at REAL NOT NULL, PRIMARY KEY (series, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fresh (
    series INTEGER NOT NULL, t REAL NOT NULL, value REAL, status TEXT NOT NULL, error TEXT,
    measured_at REAL NOT NULL, PRIMARY KEY (series, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buckets (
    series INTEGER NOT NULL, width INTEGER NOT NULL, start REAL NOT NULL, n INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, PRIMARY KEY (series, width, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS missing (
    cycle_at REAL NOT NULL, measurer TEXT NOT NULL, PRIMARY KEY (cycle_at, measurer)
);
CREATE TABLE IF NOT EXISTS measurers (
    measurer TEXT PRIMARY KEY, answered INTEGER NOT NULL DEFAULT 0, missing INTEGER NOT NULL DEFAULT 0,
    last_answer REAL
);
CREATE TABLE IF NOT EXISTS disconnected (
    cycle_at REAL NOT NULL, measurer TEXT NOT NULL, PRIMARY KEY (cycle_at, measurer)
);
CREATE TABLE IF NOT EXISTS history_meta (key TEXT PRIMARY KEY, value REAL NOT NULL)
"""
# `fresh` holds the points of the open ten-minute window, moved into `points` when it closes: a cycle then
# writes into a small table, and each series' end of `points` (a page of its own once the file has grown)
# is written once per window instead of once per cycle. `all_points` is both; readers use it.
# `readings` is the first layout's table, as a view: queries written against it keep working. `latest`: each
# series with its newest reading, found by primary-key searches (nothing is rewritten per cycle to keep it).
VIEWS = """
CREATE VIEW IF NOT EXISTS all_points AS SELECT * FROM points UNION ALL SELECT * FROM fresh;
CREATE VIEW IF NOT EXISTS readings AS
    SELECT p.t AS cycle_at, s.measurer, s.instrument, s.name, p.value, s.unit, p.status, p.error, p.measured_at
    FROM all_points p JOIN series s ON s.id = p.series;
CREATE VIEW IF NOT EXISTS latest AS
    SELECT s.id, s.measurer, s.instrument, s.name, s.unit,
        CASE WHEN f.series IS NULL THEN p.t ELSE f.t END AS last_at,
        CASE WHEN f.series IS NULL THEN p.value ELSE f.value END AS last_value,
        CASE WHEN f.series IS NULL THEN p.status ELSE f.status END AS last_status,
        CASE WHEN f.series IS NULL THEN p.error ELSE f.error END AS last_error
    FROM series s
    -- a series' points in `fresh` are newer than those in `points` (only a closed window moves there)
    LEFT JOIN fresh f ON f.series = s.id AND f.t = (SELECT MAX(t) FROM fresh WHERE series = s.id)
    LEFT JOIN points p
        ON f.series IS NULL AND p.series = s.id AND p.t = (SELECT MAX(t) FROM points WHERE series = s.id)
"""
# A closed window's ten-minute buckets come from `fresh` (small, and in the cache), then its points move on.
# `fresh` holds only the open window's points (from the mark on; a batch in a later window closes it first, even
# after a gap) and, while a close is under way, the closed window's not yet moved: its buckets are grouped by
# series alone, in the primary key's order (grouping by the window too cost SQLite a sort of every point). A close
# is done a slice of series at a time (each series' end of `points` and of `buckets` is a page of its own in a
# grown file: the whole close at once cost five cycles' worth), and the width's mark moves once it is done;
# readers count a width's buckets only before its mark.
CLOSE_FRESH = (
    """INSERT OR REPLACE INTO buckets SELECT series, 600, :start, COUNT(*), MIN(value), MAX(value), SUM(value)
        FROM fresh WHERE series BETWEEN :first AND :last AND t >= :start AND t < :start + 600 AND status = 'ok'
        GROUP BY series""",
    "INSERT OR IGNORE INTO points SELECT * FROM fresh WHERE series BETWEEN :first AND :last AND t < :end",
    "DELETE FROM fresh WHERE series BETWEEN :first AND :last AND t < :end",
)
CLOSE_STEPS = {600: 5, 7200: 10}
"""Batches a close is spread over, per width (a batch takes a step of each close under way): within the ten
cycles of a window at the usual one-minute interval. A window that closes before the last one's close is done
(a longer interval) finishes it at once."""
LAST_ID = 2**63 - 1

# Buckets are computed from what is stored, never added to: recomputing a window is idempotent, so a crash
# mid-way or a batch delivered twice cannot count a reading twice. Each width has a mark in history_meta
# (`buckets_through_600`, ...): everything before it is in that width's buckets; what comes after is read
# from the next finer level (ten-minute buckets, then the points), so a two-hour bucket is written once.
FLUSH = {
    600: """INSERT OR REPLACE INTO buckets SELECT series, 600, CAST(t / 600 AS INTEGER) * 600, COUNT(*), MIN(value),
        MAX(value), SUM(value) FROM points WHERE series = ? AND t >= ? AND t < ? AND status = 'ok'
        GROUP BY CAST(t / 600 AS INTEGER)""",
    7200: """INSERT OR REPLACE INTO buckets SELECT series, 7200, CAST(start / 7200 AS INTEGER) * 7200, SUM(n),
        MIN(min), MAX(max), SUM(sum) FROM buckets WHERE series = ? AND width = 600 AND start >= ? AND start < ?
        GROUP BY CAST(start / 7200 AS INTEGER)""",
}

COUNT_ANSWERED = """
INSERT INTO measurers (measurer, answered, last_answer) VALUES (?, 1, ?) ON CONFLICT DO UPDATE
SET answered = answered + 1, last_answer = coalesce(max(last_answer, excluded.last_answer), excluded.last_answer)
"""
COUNT_MISSING = (
    "INSERT INTO measurers (measurer, missing) VALUES (?, 1) ON CONFLICT DO UPDATE SET missing = missing + 1"
)

POINT = "(?, ?, ?, ?, ?, ?)"
POINTS_PER_INSERT = 150
"""Points per INSERT: a statement of many rows costs SQLite less than as many runs of a one-row statement (a
large lab's 10,000 points, 15-30% less). 900 values: under the 999 an SQLite older than 3.32 allows."""

CACHE_KIB = 16384
"""The writer's page cache: room for `fresh` (4-8 MB at 10,000 series), written every cycle; SQLite's default
of 2 MB had it read again each cycle (about a tenth of the sink's CPU on a grown history)."""

RETENTION_EVERY = 60.0
"""Seconds between retention passes; each pass deletes at most RETENTION_CHUNK seconds per series."""
RETENTION_CHUNK = 86400.0


@dataclass(frozen=True)
class HistoryConfig:
    """Options of the SQLite history sink."""

    path: Path = Path("labmon-history.sqlite")
    retention: Duration = Duration(0.0)
    flush_every: Duration = Duration(0.0)
    """Gather the batches of this much lab time in memory and store them in one transaction: each page of the open
    window is written once for them all (a tenth of the wear at 1m and a 10s interval), and a power cut or a
    killed collector loses up to this much history (alerts are not affected). 0: each batch as it comes."""

    def __post_init__(self) -> None:
        check_file("path", self.path)
        if self.retention < 0:
            raise ValueError("retention must be 0s (keep everything) or longer")
        if self.flush_every < 0:
            raise ValueError("flush_every must be 0s (each batch) or longer")


def open_history(path: Path) -> sqlite3.Connection:
    """Open (creating or migrating) a history file and return the connection."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    old = db.execute("SELECT type FROM sqlite_master WHERE name = 'readings'").fetchone()
    if old == ("table",):
        migrate(db)
    _create_tables(db)
    _create_views(db)
    if _meta(db, "latest_view") is None:
        migrate_latest(db)
    return db


def _create_tables(db: sqlite3.Connection) -> None:
    for statement in TABLES.split(";"):
        db.execute(statement)


VIEWS_VERSION = 2
"""Raised when a view's definition changes: a file made before gets its views dropped and made again."""


def _create_views(db: sqlite3.Connection) -> None:
    if _meta(db, "views") != VIEWS_VERSION:
        with _immediate(db):  # another process may be opening the same file
            if _meta(db, "views") != VIEWS_VERSION:
                for name in ("readings", "latest", "all_points"):
                    db.execute(f"DROP VIEW IF EXISTS {name}")
                for statement in VIEWS.split(";"):
                    db.execute(statement)
                db.execute("INSERT OR REPLACE INTO history_meta VALUES ('views', ?)", (VIEWS_VERSION,))


def _meta(db: sqlite3.Connection, key: str) -> float | None:
    row = db.execute("SELECT value FROM history_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else float(row[0])


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """A write transaction of its own, unless one is open already (the first layout's migration)."""
    if db.in_transaction:
        yield
        return
    with transaction(db):
        yield


def bucket_marks(db: sqlite3.Connection) -> dict[int, float]:
    """Return, per bucket width, the time before which every point is in that width's buckets (none: no buckets)."""
    marks = {}
    for key, value in db.execute("SELECT key, value FROM history_meta WHERE key LIKE 'buckets_through_%'"):
        marks[int(key.rsplit("_", 1)[1])] = float(value)
    return marks


def set_mark(db: sqlite3.Connection, width: int, at: float) -> None:
    """Record that every point before `at` is in the buckets of `width`."""
    db.execute("INSERT OR REPLACE INTO history_meta VALUES (?, ?)", (f"buckets_through_{width}", at))


def flush_buckets(db: sqlite3.Connection, series: list[int], width: int, start: float, end: float) -> None:
    """Recompute the buckets of `width` of `series` in [start, end) (boundaries of that width) from the level below."""
    db.executemany(FLUSH[width], [(sid, start, end) for sid in series])


def insert_points(db: sqlite3.Connection, table: str, points: Sequence[tuple[object, ...]]) -> None:
    """Insert (series, t, value, status, error, measured_at) rows into `table`, keeping rows already there."""
    whole = len(points) - len(points) % POINTS_PER_INSERT
    if whole:
        statement = f"INSERT OR IGNORE INTO {table} VALUES {', '.join([POINT] * POINTS_PER_INSERT)}"
        db.executemany(
            statement,
            [list(chain.from_iterable(points[i : i + POINTS_PER_INSERT])) for i in range(0, whole, POINTS_PER_INSERT)],
        )
    db.executemany(f"INSERT OR IGNORE INTO {table} VALUES {POINT}", points[whole:])


def _newest_point(db: sqlite3.Connection) -> float | None:
    """Return the time of the newest point, with one primary-key search per series (not a scan of them all)."""
    (newest,) = db.execute("SELECT MAX(last_at) FROM latest").fetchone()
    return None if newest is None else float(newest)


def _recompute_buckets(db: sqlite3.Connection, series: list[int], *, whole: bool) -> None:
    """Recompute the buckets up to the newest point's window (all of them, or those of its two-hour window); mark them.

    The newest point's window stays open: its points go to `fresh`, and plots read them raw.
    """
    newest = _newest_point(db)
    if newest is None:
        return
    fine, wide = BUCKET_WIDTHS
    marks = {fine: newest // fine * fine, wide: newest // fine * fine // wide * wide}
    since = -math.inf if whole else marks[wide]
    db.executemany("DELETE FROM buckets WHERE series = ? AND start >= ?", [(sid, since) for sid in series])
    for width in BUCKET_WIDTHS:  # finest first: each width is computed from the one below
        flush_buckets(db, series, width, since, marks[width])
        set_mark(db, width, marks[width])
    _freshen(db, series, marks[fine])


def _freshen(db: sqlite3.Connection, series: list[int], mark: float) -> None:
    """Move the points at or after the ten-minute mark into `fresh`, where the sink keeps the open window."""
    db.executemany(
        "INSERT OR IGNORE INTO fresh SELECT * FROM points WHERE series = ? AND t >= ?", [(s, mark) for s in series]
    )
    db.executemany("DELETE FROM points WHERE series = ? AND t >= ?", [(s, mark) for s in series])


def migrate_latest(db: sqlite3.Connection) -> None:
    """Drop the per-cycle latest-reading columns of `series` (the `latest` view replaces them); mark the buckets."""
    with _immediate(db):
        if _meta(db, "latest_view") is not None:
            return  # another process migrated it first
        columns = ("last_at", "last_value", "last_status", "last_error")
        kept = {row[1] for row in db.execute("PRAGMA table_info(series)")} & set(columns)
        if kept and sqlite3.sqlite_version_info >= (3, 35):
            for column in sorted(kept):
                db.execute(f"ALTER TABLE series DROP COLUMN {column}")
        elif kept:  # no DROP COLUMN (Raspberry Pi OS 11 has SQLite 3.34): emptied, so nothing stale looks current
            db.execute(f"UPDATE series SET {' = NULL, '.join(sorted(kept))} = NULL")
        if not bucket_marks(db):  # buckets added to reading by reading hold the open windows too: computed again
            _recompute_buckets(db, [sid for (sid,) in db.execute("SELECT id FROM series")], whole=False)
        db.execute("INSERT INTO history_meta VALUES ('latest_view', 1)")


def migrate(db: sqlite3.Connection) -> None:
    """Move a history of the first layout (key starting with the cycle time) to the series layout, row for row."""
    log.warning("migrating the history to the per-series layout (once; a large file takes a while)")
    with _immediate(db):
        db.execute("ALTER TABLE readings RENAME TO readings_v1")
        _create_tables(db)
        _create_views(db)
        db.execute(
            "INSERT OR IGNORE INTO series (measurer, instrument, name, unit)"
            " SELECT measurer, instrument, name, unit FROM readings_v1 GROUP BY measurer, instrument, name"
        )
        db.execute(
            "INSERT INTO points SELECT s.id, r.cycle_at, r.value, r.status, r.error, r.measured_at"
            " FROM readings_v1 r JOIN series s USING (measurer, instrument, name)"
        )
        (before,) = db.execute("SELECT COUNT(*) FROM readings_v1").fetchone()
        (after,) = db.execute("SELECT COUNT(*) FROM points").fetchone()
        if before != after:
            raise RuntimeError(f"history migration copied {after} of {before} readings; the file is unchanged")
        db.execute("DROP TABLE readings_v1")
        rebuild_summaries(db)
    log.warning("history migrated: %d readings", after)


def rebuild_summaries(db: sqlite3.Connection) -> None:
    """Recompute every bucket (up to the newest point's window) and each measurer's counts from the points."""
    db.execute("DELETE FROM buckets")
    db.execute("DELETE FROM history_meta WHERE key LIKE 'buckets_through_%'")
    db.execute("INSERT OR IGNORE INTO points SELECT * FROM fresh")
    db.execute("DELETE FROM fresh")
    _recompute_buckets(db, [sid for (sid,) in db.execute("SELECT id FROM series")], whole=True)
    db.execute("DELETE FROM measurers")
    db.execute(
        "INSERT INTO measurers (measurer, answered, last_answer) SELECT measurer, COUNT(DISTINCT p.t), MAX(p.t)"
        " FROM all_points p JOIN series s ON s.id = p.series GROUP BY measurer"
    )
    db.execute(
        "INSERT INTO measurers (measurer, missing) SELECT measurer, COUNT(*) FROM missing GROUP BY measurer"
        " ON CONFLICT DO UPDATE SET missing = excluded.missing"
    )


@dataclass(frozen=True)
class Close:
    """A window of one width being closed, a slice of the series per step."""

    width: int
    start: float
    """The width's mark until the close is done."""
    end: float
    """The width's mark after it."""
    series: tuple[int, ...]
    """Every series, in id order."""
    step: int
    """Series per step."""
    done: int = 0


class HistorySink:
    """Stores each batch once: a redelivered batch (at-least-once outbox) is ignored by its key."""

    Config = HistoryConfig

    def __init__(self, config: HistoryConfig) -> None:
        self.config = config
        self._db = open_history(config.path)
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._series: dict[tuple[str, str, str], int] = {}
        self._units: dict[int, str] = {}
        for sid, measurer, instrument, name, unit in self._db.execute(
            "SELECT id, measurer, instrument, name, unit FROM series"
        ):
            self._series[measurer, instrument, name] = sid
            self._units[sid] = unit
        self._marks = bucket_marks(self._db)
        self._closes: dict[int, Close] = {}
        self._retained_at = 0.0
        self._gathered: list[Batch] = []

    def write(self, batch: Batch) -> None:
        """Insert the readings, missing and disconnected measurers in one transaction; then retention.

        Per cycle that is one row per reading and one per answering measurer: the buckets are brought up to
        date once per ten-minute window, the latest readings are read from the points. With `flush_every` the
        batch is gathered, and stored with the others once the oldest gathered is that old.
        """
        self._gathered.append(batch)
        if batch.started_at - self._gathered[0].started_at < self.config.flush_every:
            return
        try:
            self._flush()
        except BaseException:
            self._gathered.pop()  # its delivery failed: the outbox hands it over again
            raise
        if self.config.retention and time.monotonic() - self._retained_at >= RETENTION_EVERY:
            self._retained_at = time.monotonic()
            self.apply_retention(time.time() - self.config.retention)

    def _flush(self) -> None:
        """Store the gathered batches in one transaction."""
        known, units, marks, closes = dict(self._series), dict(self._units), dict(self._marks), dict(self._closes)
        try:  # ids, units, marks and steps of closes made inside a transaction that rolls back were never stored
            with transaction(self._db):
                for gathered in self._gathered:
                    self._store(gathered, gathered.started_at)
        except BaseException:
            self._series, self._units, self._marks, self._closes = known, units, marks, closes
            raise
        self._gathered = []

    def _store(self, batch: Batch, t: float) -> None:
        """Store one batch (inside the flush's transaction)."""
        ids, units = self._series, self._units
        points = []
        answered = []
        renamed: dict[int, str] = {}
        for result in batch.results:
            measurer, at = result.measurer, result.measured_at
            for r in result.readings:
                sid = ids.get((measurer, r.instrument, r.name))
                if sid is None:
                    sid = self._new_series(measurer, r.instrument, r.name, r.unit)
                elif units[sid] != r.unit:
                    renamed[sid] = r.unit
                points.append((sid, t, r.value, r.status, r.error, at))
            if result.readings:
                answered.append((measurer, t))
        # A batch is stored in one transaction under its own cycle time, so its points are either all new or
        # all there already (an outbox redelivery, whose counts must not be counted twice).
        if (
            points
            and not self._db.execute("SELECT 1 FROM all_points WHERE series = ? AND t = ?", points[0][:2]).fetchone()
        ):
            if any(t < close.end for close in self._closes.values()):  # a late batch in a window being closed
                self._close_windows(t, at_once=True)
            mark = self._marks.get(BUCKET_WIDTHS[0])
            late = mark is not None and t < mark  # its window is closed: straight into `points`
            if not late:  # a unit changes with the newest readings, never back with a late one
                self._db.executemany("UPDATE series SET unit = ? WHERE id = ?", [(u, i) for i, u in renamed.items()])
                units.update(renamed)
            insert_points(self._db, "points" if late else "fresh", points)
            self._db.executemany(COUNT_ANSWERED, answered)
            self._keep_buckets(t, sorted({point[0] for point in points}))
        for measurer in batch.missing:
            if self._db.execute("INSERT OR IGNORE INTO missing VALUES (?, ?)", (t, measurer)).rowcount:
                self._db.execute(COUNT_MISSING, (measurer,))
        self._db.executemany("INSERT OR IGNORE INTO disconnected VALUES (?, ?)", [(t, m) for m in batch.disconnected])

    def _keep_buckets(self, t: float, stored: list[int]) -> None:
        """Close each width's windows before `t`'s, a step per batch; recompute `t`'s where it was closed already."""
        if not self._marks:  # a new history: nothing before this batch
            for width in BUCKET_WIDTHS:
                self._mark(width, t // width * width)
            return
        for width in BUCKET_WIDTHS:
            window = t // width * width
            if window < self._marks[width]:  # a late batch (a dead letter retried): its window again, for its series
                flush_buckets(self._db, stored, width, window, window + width)
        self._close_windows(t)

    def _close_windows(self, t: float, *, at_once: bool = False) -> None:
        """Take a step of each close under way and of those `t` starts (all their steps: `at_once`)."""
        through = t
        for width in BUCKET_WIDTHS:  # finest first: each width is computed from the one below, up to its mark
            end, close = through // width * width, self._closes.get(width)
            if close is not None and (at_once or end > close.end):  # or the next window closed before it was done
                self._step(replace(close, step=len(close.series)))
                close = None
            if close is None and end > self._marks[width]:
                series = tuple(sorted(self._series.values()))
                steps = 1 if at_once else CLOSE_STEPS[width]
                close = Close(width, self._marks[width], end, series, -(-len(series) // steps))
            if close is not None:
                self._step(close)
            through = self._marks[width]

    def _step(self, close: Close) -> None:
        """Close the window for the next slice of series; at the last, move the width's mark."""
        todo = close.series[close.done : close.done + close.step]
        last = close.done + len(todo) >= len(close.series)
        if todo and close.width == BUCKET_WIDTHS[0]:  # the closed window's points, in key order
            slice_ = {"start": close.start, "end": close.end, "first": todo[0], "last": LAST_ID if last else todo[-1]}
            for statement in CLOSE_FRESH:
                self._db.execute(statement, slice_)
        elif todo:
            flush_buckets(self._db, list(todo), close.width, close.start, close.end)
        if last:
            self._closes.pop(close.width, None)
            self._mark(close.width, close.end)
        else:
            self._closes[close.width] = replace(close, done=close.done + len(todo))

    def _mark(self, width: int, at: float) -> None:
        set_mark(self._db, width, at)
        self._marks[width] = at

    def _new_series(self, measurer: str, instrument: str, name: str, unit: str) -> int:
        key = (measurer, instrument, name)
        self._db.execute(
            "INSERT OR IGNORE INTO series (measurer, instrument, name, unit) VALUES (?, ?, ?, ?)", (*key, unit)
        )
        sid: int
        (sid,) = self._db.execute(
            "SELECT id FROM series WHERE measurer = ? AND instrument = ? AND name = ?", key
        ).fetchone()
        self._series[key] = sid
        self._units[sid] = unit
        return sid

    def apply_retention(self, cutoff: float) -> int:
        """Delete up to a day per series of what is older than `cutoff`, in short transactions; return rows deleted.

        Runs in the sink's delivery thread, never in the cycle: a long backlog is worked off a day per pass.
        """
        deleted = 0
        for sid in list(self._series.values()):
            with transaction(self._db):
                oldest = self._db.execute("SELECT MIN(t) FROM points WHERE series = ?", (sid,)).fetchone()[0]
                if oldest is None or oldest >= cutoff:
                    continue
                end = min(cutoff, oldest + RETENTION_CHUNK)
                deleted += self._db.execute("DELETE FROM points WHERE series = ? AND t < ?", (sid, end)).rowcount
                # A bucket goes once it has wholly passed the cutoff, so kept buckets stay complete.
                self._db.execute("DELETE FROM buckets WHERE series = ? AND start + width <= ?", (sid, end))
        with transaction(self._db):
            self._db.execute("DELETE FROM fresh WHERE t < ?", (cutoff,))  # small: an old batch delivered late
            self._db.execute("DELETE FROM missing WHERE cycle_at < ?", (cutoff,))
            self._db.execute("DELETE FROM disconnected WHERE cycle_at < ?", (cutoff,))
        return deleted

    def close(self) -> None:
        """Store what is gathered, finish the closes under way (every closed window's buckets); close the database."""
        if self._gathered:
            self._flush()
        if self._closes:
            with transaction(self._db):
                self._close_windows(self._marks[BUCKET_WIDTHS[0]], at_once=True)
        self._db.close()


@hookimpl
def labmon_register_sinks(register: Register) -> None:
    register("sqlite", HistorySink)
