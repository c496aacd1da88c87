"""Open the collector's own SQLite files the same way: WAL, created with their folder, one writer at a time."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def open_db(path: Path, schema: str, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open (creating) `path` in autocommit mode with WAL and the given `synchronous` level; apply `schema`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db


def table_names(path: Path) -> set[str]:
    """Return the tables and views in the SQLite file `path` without changing it; ValueError if it is not one."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            return {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path} is not an SQLite file: {exc}") from None
