"""Open the collector's own SQLite files the same way: WAL, created with their folder, one writer at a time."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_db(path: Path, schema: str, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open (creating) `path` in autocommit mode with WAL and the given `synchronous` level; apply `schema`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db
