"""SQLite files the collector keeps: WAL, and real transactions (autocommit mode, explicit BEGIN IMMEDIATE)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

T = TypeVar("T")


def open_db(
    path: Path, synchronous: Literal["FULL", "NORMAL"], schema: str, *, page_size: int | None = None
) -> sqlite3.Connection:
    """Open (creating) a WAL database at `path` for use from several threads, with `schema` applied.

    `page_size`: the file's pages, made so (rebuilt) when it is not open elsewhere, else left for the next open.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    if page_size is not None and db.execute("PRAGMA page_size").fetchone()[0] != page_size:
        _repage(db, page_size)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db


def _repage(db: sqlite3.Connection, page_size: int) -> None:
    """Rebuild the file with pages of `page_size` (a WAL file's size is fixed: out of WAL, VACUUM, back)."""
    db.execute("PRAGMA busy_timeout = 0")  # another process has it open: not now, and not waiting at start-up
    try:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute(f"PRAGMA page_size = {int(page_size)}")
        db.execute("VACUUM")
    except sqlite3.OperationalError:
        pass
    db.execute("PRAGMA busy_timeout = 10000")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one transaction: all of it is committed (one fsync), or none of it on an exception.

    `with db:` does not do this in autocommit mode (isolation_level=None): there every statement commits.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:  # SQLite rolls back itself on some errors (a full disk may): its error is the one raised
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class Fresh:
    """Query results kept while they hold: until another connection writes the file (its `PRAGMA data_version`
    changes) or this one drops them when it writes their tables.

    One look at the version serves each kept result once: a cycle that reads several of them (silences, then
    acks) looks once, and what it gets is as of that look. Not thread-safe: the caller holds the lock it uses
    around the connection.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._version: int | None = None
        self._kept: dict[str, Any] = {}
        self._served: set[str] = set()
        """The results given out since the last look: asking for one of them again looks again."""

    def get(self, key: str, query: Callable[[], T], *, look: bool = False) -> T:
        """Return what `query` gave when last run for `key`, running it again if the file changed since; `look`:
        look at the file's version even if the last look could serve `key` (a cycle's first read)."""
        self.version(key, look=look)
        if key not in self._kept:
            self._kept[key] = query()
        result: T = self._kept[key]
        return result

    def version(self, key: str, *, look: bool = False) -> int:
        """Return the file's `PRAGMA data_version` as of the last look, served to `key` as `get` serves a result:
        for a cache of the caller's own, reread when the version changes (the caller's own writes do not)."""
        if look or key in self._served or self._version is None:
            self._served.clear()
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._version = version
                self._kept.clear()
        self._served.add(key)
        assert self._version is not None
        return self._version

    def drop(self, key: str) -> None:
        """Forget what was kept for `key` (this connection changed it)."""
        self._kept.pop(key, None)


def table_names(path: Path) -> set[str]:
    """Return the tables and views in the SQLite file `path` without changing it; ValueError if it is not one."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            return {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path} is not an SQLite file: {exc}") from None
