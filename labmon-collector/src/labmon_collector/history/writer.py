"""The `sqlite` sink: every reading in a local SQLite history (the embedded default), fast to plot."""

from __future__ import annotations

import logging
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
from labmon_collector.disk import refused
from labmon_collector.sqlitedb import transaction

log = logging.getLogger(__name__)

BUCKET_WIDTHS = (600, 7200)
"""Seconds per downsampled bucket (min, max, mean): 10 minutes for weeks, 2 hours for a year."""
WINDOW = BUCKET_WIDTHS[0]
"""Seconds per window: the points of a closed window are stored together, series by series, after the last's."""


def window_sql(t: str, width: int = WINDOW) -> str:
    """Return SQL for the start of the window of `width` holding time `t` (a floor, below zero too)."""
    whole = f"CAST({t} / {width} AS INTEGER)"
    return f"(({whole} - ({t} < {whole} * {width})) * {width})"


def window_of(t: float, width: int = WINDOW) -> int:
    """Return the start of the window of `width` holding time `t`."""
    return int(t // width * width)


# The file grows at its end: a closed window's points are keyed (window start, series, t), so each window is
# appended after the last, whole pages of new data that a rollback journal need not copy (the previous layout
# keyed them (series, t): every window close rewrote a page per series, an SD card's main wear). One series
# over a range is a primary-key search per window (`ends` says which is a series' last).
TABLES = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, measurer TEXT NOT NULL, instrument TEXT NOT NULL, name TEXT NOT NULL,
    unit TEXT NOT NULL, UNIQUE (measurer, instrument, name)
);
CREATE TABLE IF NOT EXISTS points (
    start INTEGER NOT NULL, series INTEGER NOT NULL, t REAL NOT NULL, value REAL, status TEXT NOT NULL,
    error TEXT, measured_at REAL NOT NULL, PRIMARY KEY (start, series, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fresh (
    series INTEGER NOT NULL, t REAL NOT NULL, value REAL, status TEXT NOT NULL, error TEXT,
    measured_at REAL NOT NULL, PRIMARY KEY (series, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buckets (
    width INTEGER NOT NULL, start REAL NOT NULL, series INTEGER NOT NULL, n INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, PRIMARY KEY (width, start, series)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ends (series INTEGER PRIMARY KEY, start INTEGER NOT NULL);
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
# `fresh` holds the points of the open ten-minute window, moved into `points` when it closes (with `flush_every`,
# a window's gathered points go there straight). `ends`: each series' last window in `points`.
# `all_points` is both tables (a query of one series through it reads the whole of `points`: the reader searches
# window by window). `readings` is the first layout's table, as a view: queries written against it keep working.
# `latest`: each series with its newest reading, found by primary-key searches.
VIEWS = """
CREATE VIEW IF NOT EXISTS all_points AS
    SELECT series, t, value, status, error, measured_at FROM points UNION ALL SELECT * FROM fresh;
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
    LEFT JOIN ends e ON f.series IS NULL AND e.series = s.id
    LEFT JOIN points p ON p.start = e.start AND p.series = s.id
        AND p.t = (SELECT MAX(t) FROM points WHERE start = e.start AND series = s.id)
"""
STARTS = """ws(start) AS (SELECT :first WHERE :first < :end UNION ALL SELECT start + {step} FROM ws
    WHERE start + {step} < :end)"""
"""Window starts from :first (a boundary) up to :end: a search per window instead of a scan of every series."""
# A closed window's buckets come from its points, in key order; a close moves what `fresh` holds of the window
# into `points` first. `fresh` holds only the open window's points (a batch in a later window closes it first,
# even after a gap) and, while a close is under way, the closed window's not yet moved. A close is done a slice of
# series at a time (the whole close at once cost five cycles' worth on a grown file of 10,000 series), and the
# width's mark moves once it is done; readers count a width's buckets only before its mark.
CLOSE_FRESH = (
    f"""INSERT OR IGNORE INTO points SELECT {window_sql("t")}, series, t, value, status, error, measured_at
        FROM fresh WHERE series BETWEEN :first_series AND :last_series AND t < :end""",
    f"""WITH RECURSIVE {STARTS.format(step=WINDOW)} INSERT INTO ends SELECT p.series, MAX(p.start) FROM ws
        JOIN points p ON p.start = ws.start AND p.series BETWEEN :first_series AND :last_series WHERE true
        GROUP BY p.series ON CONFLICT (series) DO UPDATE SET start = max(start, excluded.start)""",
    "DELETE FROM fresh WHERE series BETWEEN :first_series AND :last_series AND t < :end",
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
    600: f"""WITH RECURSIVE {STARTS.format(step=WINDOW)} INSERT OR REPLACE INTO buckets
        SELECT 600, p.start, p.series, COUNT(*), MIN(value), MAX(value), SUM(value) FROM ws JOIN points p
        ON p.start = ws.start AND p.series BETWEEN :first_series AND :last_series WHERE p.status = 'ok'
        GROUP BY p.start, p.series""",
    7200: f"""WITH RECURSIVE {STARTS.format(step=WINDOW)} INSERT OR REPLACE INTO buckets
        SELECT 7200, {window_sql("b.start", 7200)}, b.series, SUM(n), MIN(min), MAX(max), SUM(sum) FROM ws
        JOIN buckets b ON b.width = 600 AND b.start = ws.start AND b.series BETWEEN :first_series AND :last_series
        GROUP BY 2, 3""",
}

COUNT_ANSWERED = """
INSERT INTO measurers (measurer, answered, last_answer) VALUES (?, 1, ?) ON CONFLICT DO UPDATE
SET answered = answered + 1, last_answer = coalesce(max(last_answer, excluded.last_answer), excluded.last_answer)
"""
COUNT_MISSING = (
    "INSERT INTO measurers (measurer, missing) VALUES (?, 1) ON CONFLICT DO UPDATE SET missing = missing + 1"
)

POINTS_PER_INSERT = 140
"""Points per INSERT: a statement of many rows costs SQLite less than as many runs of a one-row statement (a
large lab's 10,000 points, 15-30% less). 980 values: under the 999 an SQLite older than 3.32 allows."""

CACHE_KIB = 16384
"""The writer's page cache: room for `fresh` (4-8 MB at 10,000 series), written every cycle; SQLite's default
of 2 MB had it read again each cycle (about a tenth of the sink's CPU on a grown history)."""

RETENTION_EVERY = 60.0
"""Seconds between retention passes; each pass deletes at most RETENTION_CHUNK seconds, a window per transaction."""
RETENTION_CHUNK = 86400.0


@dataclass(frozen=True)
class HistoryConfig:
    """Options of the SQLite history sink."""

    path: Path = Path("labmon-history.sqlite")
    retention: Duration = Duration(0.0)
    flush_every: Duration = Duration(0.0)
    """Gather the batches of this much lab time in memory and store them in one transaction, and when a batch starts
    a new window (a whole window then goes straight into `points`): a power cut or a killed collector loses up to
    this much history (alerts are not affected). From a window on, a rollback journal (`journal_for`). 0: each
    batch as it comes."""

    def __post_init__(self) -> None:
        check_file("path", self.path)
        if self.retention < 0:
            raise ValueError("retention must be 0s (keep everything) or longer")
        if self.flush_every < 0:
            raise ValueError("flush_every must be 0s (each batch) or longer")


BUSY_SECONDS = 10.0
"""How long a reader waits for the sink's commit (a rollback journal locks readers out while the file is written)."""


def journal_for(flush_every: float) -> str:
    """Return the history's journal mode for a sink flushing every `flush_every` seconds (see bench/wear.py).

    A flush of whole windows writes mostly new pages at the end of the file, which a rollback journal need not
    copy, while WAL writes every page twice (the WAL, then the file at a checkpoint): 1.3x the data against 2.3x.
    A commit per cycle (or per minute) rewrites the open window's pages each time, which WAL only appends: 37x
    against 62x. A switch from WAL takes effect once no other process has the file open.
    """
    return "DELETE" if flush_every >= WINDOW else "WAL"


def open_history(path: Path, *, journal: str | None = None) -> sqlite3.Connection:
    """Open (creating or migrating) a history file and return the connection; the sink's sets the `journal` mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_SECONDS)
    if journal is not None:
        (mode,) = db.execute(f"PRAGMA journal_mode={journal}").fetchone()
        if mode.upper() != journal:
            log.info("the history keeps its %s journal while another process has it open (%s wanted)", mode, journal)
    old = db.execute("SELECT type FROM sqlite_master WHERE name = 'readings'").fetchone()
    if old == ("table",):
        migrate(db)
    elif db.execute("SELECT 1 FROM sqlite_master WHERE name = 'points'").fetchone():
        migrate_windows(db)
    _create_tables(db)
    _create_views(db)
    if _meta(db, "latest_view") is None:
        migrate_latest(db)
    return db


def _create_tables(db: sqlite3.Connection) -> None:
    for statement in TABLES.split(";"):
        db.execute(statement)


VIEWS_VERSION = 3
"""Raised when a view's definition changes: a file made before gets its views dropped and made again."""
VIEW_NAMES = ("readings", "latest", "all_points")


def _create_views(db: sqlite3.Connection) -> None:
    if _meta(db, "views") != VIEWS_VERSION:
        with _immediate(db):  # another process may be opening the same file
            if _meta(db, "views") != VIEWS_VERSION:
                _drop_views(db)
                for statement in VIEWS.split(";"):
                    db.execute(statement)
                db.execute("INSERT OR REPLACE INTO history_meta VALUES ('views', ?)", (VIEWS_VERSION,))


def _drop_views(db: sqlite3.Connection) -> None:
    for name in VIEW_NAMES:
        db.execute(f"DROP VIEW IF EXISTS {name}")


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


def flush_buckets(
    db: sqlite3.Connection, width: int, start: float, end: float, first: int = 0, last: int = LAST_ID
) -> None:
    """Recompute the buckets of `width` in [start, end) (boundaries of that width) from the level below, for the
    series from `first` to `last`."""
    begin = window_of(start)
    db.execute(FLUSH[width], {"first": begin, "end": end, "first_series": first, "last_series": last})


def insert_points(db: sqlite3.Connection, table: str, points: Sequence[tuple[object, ...]]) -> None:
    """Insert rows (of `table`'s columns) into `table`, keeping rows already there."""
    if not points:
        return
    row = f"({', '.join('?' * len(points[0]))})"
    whole = len(points) - len(points) % POINTS_PER_INSERT
    if whole:
        statement = f"INSERT OR IGNORE INTO {table} VALUES {', '.join([row] * POINTS_PER_INSERT)}"
        db.executemany(
            statement,
            [list(chain.from_iterable(points[i : i + POINTS_PER_INSERT])) for i in range(0, whole, POINTS_PER_INSERT)],
        )
    db.executemany(f"INSERT OR IGNORE INTO {table} VALUES {row}", points[whole:])


def _newest_point(db: sqlite3.Connection) -> float | None:
    """Return the time of the newest point: in `fresh` (small), else in the last window of `points`."""
    (newest,) = db.execute(
        "SELECT MAX(t) FROM (SELECT MAX(t) AS t FROM fresh UNION ALL"
        " SELECT MAX(t) FROM points WHERE start = (SELECT MAX(start) FROM points))"
    ).fetchone()
    return None if newest is None else float(newest)


def _recompute_buckets(db: sqlite3.Connection, *, whole: bool) -> None:
    """Recompute the buckets up to the newest point's window (all of them, or those of its two-hour window); mark them.

    The newest point's window stays open: its points go to `fresh`, and plots read them raw.
    """
    newest = _newest_point(db)
    if newest is None:
        return
    fine, wide = BUCKET_WIDTHS
    marks = {fine: window_of(newest), wide: window_of(newest, wide)}
    (oldest,) = db.execute("SELECT MIN(start) FROM points").fetchone()
    since = window_of(min(oldest, marks[wide]), wide) if whole and oldest is not None else marks[wide]
    for width in BUCKET_WIDTHS:  # finest first: each width is computed from the one below
        db.execute("DELETE FROM buckets WHERE width = ? AND start >= ?", (width, since))
        flush_buckets(db, width, since, marks[width])
        set_mark(db, width, marks[width])
    db.execute(f"INSERT OR IGNORE INTO fresh SELECT {POINT_COLUMNS} FROM points WHERE start >= ?", (marks[fine],))
    db.execute("DELETE FROM points WHERE start >= ?", (marks[fine],))
    db.execute("DELETE FROM ends")
    db.execute("INSERT INTO ends SELECT series, MAX(start) FROM points GROUP BY series")


POINT_COLUMNS = "series, t, value, status, error, measured_at"
Point = tuple[int, float, float | None, str, str | None, float]
"""A row of `fresh`: series, t, value, status, error, measured_at."""
Row = tuple[int, int, float, float | None, str, str | None, float]
"""A row of `points`: its window's start, then a point."""


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
            _recompute_buckets(db, whole=False)
        db.execute("INSERT INTO history_meta VALUES ('latest_view', 1)")


def migrate_windows(db: sqlite3.Connection) -> None:
    """Move a history of the per-series layout (points keyed (series, t)) to the window layout, row for row.

    One transaction: a crash or a full disk mid-way leaves the file as it was (it needs room for a copy).
    """
    if "start" in {row[1] for row in db.execute("PRAGMA table_info(points)")}:
        return
    with _immediate(db):
        if "start" in {row[1] for row in db.execute("PRAGMA table_info(points)")}:
            return  # another process migrated it first
        log.warning("migrating the history to the window layout (once; a large file takes a while)")
        _drop_views(db)
        db.execute("ALTER TABLE points RENAME TO points_v2")
        db.execute("ALTER TABLE buckets RENAME TO buckets_v2")
        _create_tables(db)
        db.execute(f"INSERT INTO points SELECT {window_sql('t')}, {POINT_COLUMNS} FROM points_v2 ORDER BY 1, series, t")
        (before,) = db.execute("SELECT COUNT(*) FROM points_v2").fetchone()
        (after,) = db.execute("SELECT COUNT(*) FROM points").fetchone()
        if before != after:
            raise RuntimeError(f"history migration copied {after} of {before} readings; the file is unchanged")
        db.execute(
            "INSERT INTO buckets SELECT width, start, series, n, min, max, sum FROM buckets_v2"
            " ORDER BY width, start, series"
        )
        db.execute("INSERT INTO ends SELECT series, MAX(start) FROM points GROUP BY series")
        db.execute("DROP TABLE points_v2")
        db.execute("DROP TABLE buckets_v2")
        db.execute("DELETE FROM history_meta WHERE key = 'views'")
    log.warning("history migrated: %d readings", after)


def migrate(db: sqlite3.Connection) -> None:
    """Move a history of the first layout (key starting with the cycle time) to the window layout, row for row."""
    log.warning("migrating the history to the window layout (once; a large file takes a while)")
    with _immediate(db):
        db.execute("ALTER TABLE readings RENAME TO readings_v1")
        _create_tables(db)
        _create_views(db)
        db.execute(
            "INSERT OR IGNORE INTO series (measurer, instrument, name, unit)"
            " SELECT measurer, instrument, name, unit FROM readings_v1 GROUP BY measurer, instrument, name"
        )
        db.execute(
            f"INSERT INTO points SELECT {window_sql('r.cycle_at')}, s.id, r.cycle_at, r.value, r.status, r.error,"
            " r.measured_at FROM readings_v1 r JOIN series s USING (measurer, instrument, name) ORDER BY 1, 2, 3"
        )
        (before,) = db.execute("SELECT COUNT(*) FROM readings_v1").fetchone()
        (after,) = db.execute("SELECT COUNT(*) FROM points").fetchone()
        if before != after:
            raise RuntimeError(f"history migration copied {after} of {before} readings; the file is unchanged")
        db.execute("DROP TABLE readings_v1")
        rebuild_summaries(db)
    log.warning("history migrated: %d readings", after)


def rebuild_summaries(db: sqlite3.Connection) -> None:
    """Recompute every bucket (up to the newest point's window), `ends` and each measurer's counts from the points.

    Points written into `fresh` (by a bench or a test building a history) are moved into their windows first.
    """
    db.execute("DELETE FROM buckets")
    db.execute("DELETE FROM history_meta WHERE key LIKE 'buckets_through_%'")
    db.execute(f"INSERT OR IGNORE INTO points SELECT {window_sql('t')}, {POINT_COLUMNS} FROM fresh ORDER BY 1, 2, 3")
    db.execute("DELETE FROM fresh")
    _recompute_buckets(db, whole=True)
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

    _db: sqlite3.Connection

    def __init__(self, config: HistoryConfig) -> None:
        self.config = config
        self._series: dict[tuple[str, str, str], int] = {}
        self._units: dict[int, str] = {}
        self._marks: dict[int, float] = {}
        self._opened = False
        try:
            self._open()
        except Exception as exc:
            # An upgrade's migration needs room for a copy of the file: a full disk must not keep the collector,
            # and so every alert, from starting. The batches wait in the outbox; each delivery opens it again.
            if not refused(exc):
                raise
            log.error(
                "history %s not opened, the disk refused (%s): its batches wait until it takes writes", config.path, exc
            )
        self._closes: dict[int, Close] = {}
        self._retained_at = 0.0
        self._gathered: list[Batch] = []
        self._whole: list[Row] | None = None
        """A flush's points of a window it knows closed (with `flush_every`), stored straight into `points`."""
        self._whole_keys: set[tuple[int, float]] = set()
        """The first point of each batch in `_whole`: a batch handed over twice is stored once."""

    def _open(self) -> None:
        """Open (creating or migrating) the file and read its series and bucket marks."""
        self._db = open_history(self.config.path, journal=journal_for(self.config.flush_every))
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        for sid, measurer, instrument, name, unit in self._db.execute(
            "SELECT id, measurer, instrument, name, unit FROM series"
        ):
            self._series[measurer, instrument, name] = sid
            self._units[sid] = unit
        self._marks = bucket_marks(self._db)
        self._opened = True

    def write(self, batch: Batch) -> None:
        """Insert the readings, missing and disconnected measurers in one transaction; then retention.

        Per cycle that is one row per reading and one per answering measurer: the buckets are brought up to
        date once per ten-minute window, the latest readings are read from the points. With `flush_every` the
        batch is gathered, and stored with the others once the oldest gathered is that old, or when it starts a
        window: the gathered batches then end theirs, and their points go straight into `points`.
        """
        if not self._opened:
            self._open()  # the disk refusing still: raised, and the courier keeps the batch
        gathered = self._gathered
        if gathered and self.config.flush_every and window_of(batch.started_at) > window_of(gathered[-1].started_at):
            self._flush(closing=batch.started_at)
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

    def _flush(self, closing: float | None = None) -> None:
        """Store the gathered batches in one transaction; with `closing` (a later window's time), close theirs.

        Their window's points go straight into `points`, in key order, unless `fresh` holds some of it already.
        """
        known, units, marks, closes = dict(self._series), dict(self._units), dict(self._marks), dict(self._closes)
        try:  # ids, units, marks and steps of closes made inside a transaction that rolls back were never stored
            with transaction(self._db):
                whole = closing is not None and not self._db.execute("SELECT 1 FROM fresh LIMIT 1").fetchone()
                self._whole = [] if whole else None
                for gathered in self._gathered:
                    self._store(gathered, gathered.started_at)
                if self._whole:
                    insert_points(self._db, "points", sorted(self._whole, key=lambda row: row[:3]))
                if closing is not None:
                    self._close_windows(closing, at_once=True)
        except BaseException:
            self._series, self._units, self._marks, self._closes = known, units, marks, closes
            raise
        finally:
            self._whole = None
            self._whole_keys.clear()
        self._gathered = []

    def _stored(self, sid: int, t: float) -> bool:
        """Return whether the point of `sid` at `t` is stored (or is in this flush's points of a closed window)."""
        if (sid, t) in self._whole_keys:
            return True
        return bool(
            self._db.execute(
                "SELECT 1 FROM fresh WHERE series = ? AND t = ?"
                " UNION ALL SELECT 1 FROM points WHERE start = ? AND series = ? AND t = ?",
                (sid, t, window_of(t), sid, t),
            ).fetchone()
        )

    def _store(self, batch: Batch, t: float) -> None:
        """Store one batch (inside the flush's transaction)."""
        ids, units = self._series, self._units
        points: list[Point] = []
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
        if points and not self._stored(points[0][0], t):
            if any(t < close.end for close in self._closes.values()):  # a late batch in a window being closed
                self._close_windows(t, at_once=True)
            mark = self._marks.get(BUCKET_WIDTHS[0])
            late = mark is not None and t < mark  # its window is closed: straight into `points`
            if not late:  # a unit changes with the newest readings, never back with a late one
                self._db.executemany("UPDATE series SET unit = ? WHERE id = ?", [(u, i) for i, u in renamed.items()])
                units.update(renamed)
            start = window_of(t)
            if late:
                insert_points(self._db, "points", sorted(((start, *point) for point in points), key=lambda r: r[:3]))
                self._db.executemany(
                    "INSERT INTO ends VALUES (?, ?) ON CONFLICT DO UPDATE SET start = max(start, excluded.start)",
                    [(point[0], start) for point in points],
                )
            elif self._whole is not None:
                self._whole.extend((start, *point) for point in points)
                self._whole_keys.add(points[0][:2])
            else:
                insert_points(self._db, "fresh", points)
            self._db.executemany(COUNT_ANSWERED, answered)
            self._keep_buckets(t)
        for measurer in batch.missing:
            if self._db.execute("INSERT OR IGNORE INTO missing VALUES (?, ?)", (t, measurer)).rowcount:
                self._db.execute(COUNT_MISSING, (measurer,))
        self._db.executemany("INSERT OR IGNORE INTO disconnected VALUES (?, ?)", [(t, m) for m in batch.disconnected])

    def _keep_buckets(self, t: float) -> None:
        """Close each width's windows before `t`'s, a step per batch; recompute `t`'s where it was closed already."""
        if not self._marks:  # a new history: nothing before this batch
            for width in BUCKET_WIDTHS:
                self._mark(width, window_of(t, width))
            return
        for width in BUCKET_WIDTHS:
            window = window_of(t, width)
            if window < self._marks[width]:  # a late batch (a dead letter retried): its window again
                flush_buckets(self._db, width, window, window + width)
        self._close_windows(t)

    def _close_windows(self, t: float, *, at_once: bool = False) -> None:
        """Take a step of each close under way and of those `t` starts (all their steps: `at_once`)."""
        through = t
        for width in BUCKET_WIDTHS:  # finest first: each width is computed from the one below, up to its mark
            end, close = window_of(through, width), self._closes.get(width)
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
        if todo:
            first, final = todo[0], LAST_ID if last else todo[-1]
            if close.width == BUCKET_WIDTHS[0]:  # the closed window's points, in key order, then its buckets
                at = {"first": window_of(close.start), "end": close.end, "first_series": first, "last_series": final}
                for statement in CLOSE_FRESH:
                    self._db.execute(statement, at)
            flush_buckets(self._db, close.width, close.start, close.end, first, final)
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
        """Delete up to a day of what is older than `cutoff`, a window per transaction; return the rows deleted.

        Runs in the sink's delivery thread, never in the cycle: a long backlog is worked off a day per pass. The
        oldest windows are at the start of the file's order: each is a range of the primary key.
        """
        deleted, first = 0, None
        while True:
            with transaction(self._db):
                (oldest,) = self._db.execute("SELECT MIN(start) FROM points").fetchone()
                first = oldest if first is None else first
                if oldest is None or oldest >= cutoff or oldest >= first + RETENTION_CHUNK:
                    break
                if oldest + WINDOW <= cutoff:
                    deleted += self._db.execute("DELETE FROM points WHERE start = ?", (oldest,)).rowcount
                    self._db.execute("DELETE FROM ends WHERE start <= ?", (oldest,))
                else:
                    deleted += self._db.execute(
                        "DELETE FROM points WHERE start = ? AND t < ?", (oldest, cutoff)
                    ).rowcount
                # A bucket goes with the last of its points (wholly before the cutoff and the points kept).
                (kept,) = self._db.execute("SELECT MIN(start) FROM points").fetchone()
                bound = cutoff if kept is None else min(cutoff, kept)
                for width in BUCKET_WIDTHS:
                    self._db.execute("DELETE FROM buckets WHERE width = ? AND start <= ?", (width, bound - width))
            if oldest + WINDOW > cutoff:
                break
        with transaction(self._db):
            self._db.execute("DELETE FROM fresh WHERE t < ?", (cutoff,))  # small: an old batch delivered late
            self._db.execute("DELETE FROM missing WHERE cycle_at < ?", (cutoff,))
            self._db.execute("DELETE FROM disconnected WHERE cycle_at < ?", (cutoff,))
        return deleted

    def close(self) -> None:
        """Store what is gathered, finish the closes under way (every closed window's buckets); close the database."""
        if not self._opened:
            return
        if self._gathered:
            self._flush()
        if self._closes:
            with transaction(self._db):
                self._close_windows(self._marks[BUCKET_WIDTHS[0]], at_once=True)
        self._db.close()


@hookimpl
def labmon_register_sinks(register: Register) -> None:
    register("sqlite", HistorySink)
