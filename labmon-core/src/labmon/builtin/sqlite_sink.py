"""The `sqlite` sink: every reading in a local SQLite history (the embedded default), fast to plot."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from labmon.config import check_file
from labmon.hookspecs import Register, hookimpl
from labmon.models import Batch, Reading
from labmon.options import Duration

log = logging.getLogger(__name__)

BUCKET_WIDTHS = (600, 7200)
"""Seconds per downsampled bucket (min, max, mean): 10 minutes for weeks, 2 hours for a year."""

# One series over any range is a range scan of its primary key: (series, t) first, not the cycle time.
TABLES = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, measurer TEXT NOT NULL, instrument TEXT NOT NULL, name TEXT NOT NULL,
    unit TEXT NOT NULL, last_at REAL, last_value REAL, last_status TEXT, last_error TEXT,
    UNIQUE (measurer, instrument, name)
);
CREATE TABLE IF NOT EXISTS points (
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
)
"""
# The first layout's table, as a view: queries written against it keep working.
VIEW = """
CREATE VIEW IF NOT EXISTS readings AS
    SELECT p.t AS cycle_at, s.measurer, s.instrument, s.name, p.value, s.unit, p.status, p.error, p.measured_at
    FROM points p JOIN series s ON s.id = p.series
"""

UPSERT_BUCKET = """
INSERT INTO buckets VALUES (?, ?, ?, 1, ?, ?, ?)
ON CONFLICT DO UPDATE SET n = n + 1, min = min(min, excluded.min), max = max(max, excluded.max),
    sum = sum + excluded.sum
"""

RETENTION_EVERY = 60.0
"""Seconds between retention passes; each pass deletes at most RETENTION_CHUNK seconds per series."""
RETENTION_CHUNK = 86400.0


@dataclass(frozen=True)
class HistoryConfig:
    """Options of the SQLite history sink."""

    path: Path = Path("labmon-history.sqlite")
    retention: Duration = Duration(0.0)

    def __post_init__(self) -> None:
        check_file("path", self.path)
        if self.retention < 0:
            raise ValueError("retention must be 0s (keep everything) or longer")


def open_history(path: Path) -> sqlite3.Connection:
    """Open (creating or migrating) a history file and return the connection."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    old = db.execute("SELECT type FROM sqlite_master WHERE name = 'readings'").fetchone()
    if old == ("table",):
        migrate(db)
    _create_tables(db)
    db.execute(VIEW)
    return db


def _create_tables(db: sqlite3.Connection) -> None:
    for statement in TABLES.split(";"):
        db.execute(statement)


def migrate(db: sqlite3.Connection) -> None:
    """Move a history of the first layout (key starting with the cycle time) to the series layout, row for row."""
    log.warning("migrating the history to the per-series layout (once; a large file takes a while)")
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ALTER TABLE readings RENAME TO readings_v1")
        _create_tables(db)
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
    """Recompute every bucket, each series' latest reading and each measurer's counts from the points."""
    db.execute("DELETE FROM buckets")
    for width in BUCKET_WIDTHS:
        db.execute(
            "INSERT INTO buckets SELECT series, ?, CAST(t / ? AS INTEGER) * ?, COUNT(*), MIN(value), MAX(value),"
            " SUM(value) FROM points WHERE status = 'ok' GROUP BY series, CAST(t / ? AS INTEGER)",
            (width, width, width, width),
        )
    db.execute(
        "UPDATE series SET (last_at, last_value, last_status, last_error) = (SELECT t, value, status, error"
        " FROM points WHERE series = series.id ORDER BY t DESC LIMIT 1)"
    )
    db.execute("DELETE FROM measurers")
    db.execute(
        "INSERT INTO measurers (measurer, answered, last_answer) SELECT measurer, COUNT(DISTINCT p.t), MAX(p.t)"
        " FROM points p JOIN series s ON s.id = p.series GROUP BY measurer"
    )
    db.execute(
        "INSERT INTO measurers (measurer, missing) SELECT measurer, COUNT(*) FROM missing GROUP BY measurer"
        " ON CONFLICT DO UPDATE SET missing = excluded.missing"
    )


class HistorySink:
    """Stores each batch once: a redelivered batch (at-least-once outbox) is ignored by its key."""

    Config = HistoryConfig

    def __init__(self, config: HistoryConfig) -> None:
        self.config = config
        self._db = open_history(config.path)
        self._series: dict[tuple[str, str, str], int] = {
            (m, i, n): sid for sid, m, i, n in self._db.execute("SELECT id, measurer, instrument, name FROM series")
        }
        self._retained_at = 0.0

    def write(self, batch: Batch) -> None:
        """Insert the readings, buckets, missing and disconnected measurers in one transaction; then retention."""
        t = batch.started_at
        rows: dict[int, tuple[str, Reading, float]] = {}
        known = dict(self._series)  # ids made inside a transaction that rolls back were never stored
        try:
            self._store(batch, t, rows)
        except BaseException:
            self._series = known
            raise
        if self.config.retention and time.monotonic() - self._retained_at >= RETENTION_EVERY:
            self._retained_at = time.monotonic()
            self.apply_retention(time.time() - self.config.retention)

    def _store(self, batch: Batch, t: float, rows: dict[int, tuple[str, Reading, float]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            for measurer, r, at in batch.rows():
                rows.setdefault(self._series_id(measurer, r.instrument, r.name, r.unit), (measurer, r, at))
            # A batch is stored in one transaction under its own cycle time, so its points are either all new or
            # all there already (an outbox redelivery, whose summaries must not be counted twice).
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO points VALUES (?, ?, ?, ?, ?, ?)",
                [(sid, t, r.value, r.status, r.error, at) for sid, (_, r, at) in rows.items()],
            )
            if self._db.total_changes > before:
                self._summarise(t, rows)
            for measurer in batch.missing:
                if self._db.execute("INSERT OR IGNORE INTO missing VALUES (?, ?)", (t, measurer)).rowcount:
                    self._count(measurer, "missing", None)
            self._db.executemany(
                "INSERT OR IGNORE INTO disconnected VALUES (?, ?)", [(t, m) for m in batch.disconnected]
            )

    def _summarise(self, t: float, rows: dict[int, tuple[str, Reading, float]]) -> None:
        """Update each series' latest reading, its buckets and each answering measurer's count."""
        self._db.executemany(
            "UPDATE series SET unit = ?, last_at = ?, last_value = ?, last_status = ?, last_error = ?"
            " WHERE id = ? AND (last_at IS NULL OR last_at <= ?)",
            [(r.unit, t, r.value, r.status, r.error, sid, t) for sid, (_, r, _) in rows.items()],
        )
        self._db.executemany(
            UPSERT_BUCKET,
            [
                (sid, width, t // width * width, r.value, r.value, r.value)
                for sid, (_, r, _) in rows.items()
                if r.value is not None and r.status == "ok"
                for width in BUCKET_WIDTHS
            ],
        )
        for measurer in {measurer for measurer, _, _ in rows.values()}:
            self._count(measurer, "answered", t)

    def _count(self, measurer: str, column: str, answer: float | None) -> None:
        self._db.execute(
            f"INSERT INTO measurers (measurer, {column}, last_answer) VALUES (?, 1, ?) ON CONFLICT DO UPDATE"
            f" SET {column} = {column} + 1,"
            " last_answer = coalesce(max(last_answer, excluded.last_answer), last_answer, excluded.last_answer)",
            (measurer, answer),
        )

    def _series_id(self, measurer: str, instrument: str, name: str, unit: str) -> int:
        key = (measurer, instrument, name)
        if key not in self._series:
            self._db.execute(
                "INSERT OR IGNORE INTO series (measurer, instrument, name, unit) VALUES (?, ?, ?, ?)", (*key, unit)
            )
            (self._series[key],) = self._db.execute(
                "SELECT id FROM series WHERE measurer = ? AND instrument = ? AND name = ?", key
            ).fetchone()
        return self._series[key]

    def apply_retention(self, cutoff: float) -> int:
        """Delete up to a day per series of what is older than `cutoff`, in short transactions; return rows deleted.

        Runs in the sink's delivery thread, never in the cycle: a long backlog is worked off a day per pass.
        """
        deleted = 0
        for sid in list(self._series.values()):
            with self._db:
                oldest = self._db.execute("SELECT MIN(t) FROM points WHERE series = ?", (sid,)).fetchone()[0]
                if oldest is None or oldest >= cutoff:
                    continue
                end = min(cutoff, oldest + RETENTION_CHUNK)
                deleted += self._db.execute("DELETE FROM points WHERE series = ? AND t < ?", (sid, end)).rowcount
                # A bucket goes once it has wholly passed the cutoff, so kept buckets stay complete.
                self._db.execute("DELETE FROM buckets WHERE series = ? AND start + width <= ?", (sid, end))
        with self._db:
            self._db.execute("DELETE FROM missing WHERE cycle_at < ?", (cutoff,))
            self._db.execute("DELETE FROM disconnected WHERE cycle_at < ?", (cutoff,))
        return deleted

    def close(self) -> None:
        """Close the database."""
        self._db.close()


@hookimpl
def labmon_register_sinks(register: Register) -> None:
    register("sqlite", HistorySink)
