"""The `sqlite` sink: every reading in a local SQLite history (the embedded default)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from labmon.hookspecs import Register, hookimpl
from labmon.models import Batch

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    cycle_at REAL NOT NULL,
    measurer TEXT NOT NULL,
    instrument TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    unit TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    measured_at REAL NOT NULL,
    PRIMARY KEY (cycle_at, measurer, instrument, name)
);
CREATE TABLE IF NOT EXISTS missing (
    cycle_at REAL NOT NULL,
    measurer TEXT NOT NULL,
    PRIMARY KEY (cycle_at, measurer)
);
CREATE TABLE IF NOT EXISTS disconnected (
    cycle_at REAL NOT NULL,
    measurer TEXT NOT NULL,
    PRIMARY KEY (cycle_at, measurer)
);
"""


@dataclass(frozen=True)
class HistoryConfig:
    """Options of the SQLite history sink."""

    path: Path = Path("labmon-history.sqlite")


class HistorySink:
    """Stores each batch once: a redelivered batch (at-least-once outbox) is ignored by its key."""

    Config = HistoryConfig

    def __init__(self, config: HistoryConfig) -> None:
        config.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(config.path, check_same_thread=False)
        self._db.executescript(SCHEMA)

    def write(self, batch: Batch) -> None:
        """Insert the batch's readings, missing and disconnected measurers in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (batch.started_at, m, r.instrument, r.name, r.value, r.unit, r.status, r.error, at)
                    for m, r, at in batch.rows()
                ],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO missing VALUES (?, ?)", [(batch.started_at, m) for m in batch.missing]
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO disconnected VALUES (?, ?)", [(batch.started_at, m) for m in batch.disconnected]
            )

    def close(self) -> None:
        """Close the database."""
        self._db.close()


@hookimpl
def labmon_register_sinks(register: Register) -> None:
    register("sqlite", HistorySink)
