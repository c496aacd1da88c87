"""SQLite files the collector keeps: WAL, and real transactions (autocommit mode, explicit BEGIN IMMEDIATE)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Literal


def open_db(path: Path, synchronous: Literal["FULL", "NORMAL"], schema: str) -> sqlite3.Connection:
    """Open (creating) a WAL database at `path` for use from several threads, with `schema` applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one transaction: all of it is committed (one fsync), or none of it on an exception.

    `with db:` does not do this in autocommit mode (isolation_level=None): there every statement commits.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def table_names(path: Path) -> set[str]:
    """Return the tables and views in the SQLite file `path` without changing it; ValueError if it is not one."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            return {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path} is not an SQLite file: {exc}") from None
