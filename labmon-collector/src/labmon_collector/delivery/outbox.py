"""A durable, bounded, ordered outbox per delivery target."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from labmon import jsontext
from labmon_collector.sqlitedb import open_db, transaction

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_target ON outbox (target, id);
CREATE TABLE IF NOT EXISTS targets (
    target TEXT PRIMARY KEY,
    dropped INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_at REAL,
    paused TEXT
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
"""


LIVE_PER_TARGET = 4
"""Items per target whose in-memory form is kept beside the stored text until delivered (a backlog beyond
this is read back from the file: a target that is down for a day must not hold a day of batches in memory)."""


@dataclass(frozen=True)
class Pending:
    """The oldest undelivered item of a target."""

    id: int
    created: float
    attempts: int
    text: str
    live: object = None
    """What was put, as it was put (a cycle's Batch, say), while the same process delivers it; else None."""

    @cached_property
    def payload(self) -> dict[str, Any]:
        """Return the stored item (parsed when first asked: a fresh item is usually delivered from `live`)."""
        parsed: dict[str, Any] = jsontext.load(self.text)
        return parsed


@dataclass(frozen=True)
class TargetStatus:
    """What `labmon status` shows for one target."""

    target: str
    backlog: int
    oldest: float | None
    delivered: int
    dropped: int
    last_error: str | None
    last_error_at: float | None
    paused: str | None
    dead: int


@dataclass(frozen=True)
class DeadLetter:
    """An item its target rejected for good, set aside so that delivery goes on."""

    id: int
    target: str
    created: float
    attempts: int
    error: str
    rejected_at: float
    payload: dict[str, Any]


class Outbox:
    """Items are written before delivery is tried and deleted only once the target confirms."""

    def __init__(self, path: Path, *, max_items: int = 100_000) -> None:
        self.path = path
        self.max_items = max_items
        self._db = open_db(path, "FULL", SCHEMA)  # a Pi loses power: a confirmed put must survive it
        self._lock = threading.Lock()
        self._closed = False
        self._live: dict[str, dict[int, object]] = {}

    def put(self, target: str, payload: dict[str, Any], now: float | None = None, *, live: object = None) -> int:
        """Append an item; past the bound drop the oldest, count them and return how many were dropped.

        `live`, the item's in-memory form, is handed to this process's courier as `Pending.live`, sparing it
        the parse of the stored text; the text is what survives a restart.
        """
        return self._insert([target], json.dumps(payload), now, live)

    def put_all(
        self, targets: list[str], payload: dict[str, Any], now: float | None = None, *, live: object = None
    ) -> int:
        """Append the same batch for every target in one transaction (serialised once, its values all finite)."""
        return self._insert(targets, jsontext.dump(payload), now, live)

    def _insert(self, targets: list[str], text: str, now: float | None, live: object) -> int:
        """Append `text` for every target; past the bound drop the oldest and return how many were dropped."""
        created, dropped = time.time() if now is None else now, 0
        with self._lock, transaction(self._db):
            for target in targets:
                self._db.execute("INSERT OR IGNORE INTO targets (target) VALUES (?)", (target,))
                cursor = self._db.execute(
                    "INSERT INTO outbox (target, created, payload) VALUES (?, ?, ?)", (target, created, text)
                )
                dropped += self._trim(self._db, "outbox", target)
                if live is not None and cursor.lastrowid is not None:
                    kept = self._live.setdefault(target, {})
                    kept[cursor.lastrowid] = live
                    for old in list(kept)[:-LIVE_PER_TARGET]:
                        del kept[old]
        return dropped

    def _trim(self, db: sqlite3.Connection, table: Literal["outbox", "dead_letters"], target: str) -> int:
        """Drop the oldest items of `target` in `table` beyond the bound, count them as dropped; return how many."""
        count: int
        (count,) = db.execute(f"SELECT COUNT(*) FROM {table} WHERE target = ?", (target,)).fetchone()
        excess = count - self.max_items
        if excess > 0:
            db.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE target = ? ORDER BY id LIMIT ?)",
                (target, excess),
            )
            db.execute("UPDATE targets SET dropped = dropped + ? WHERE target = ?", (excess, target))
            what = "outbox" if table == "outbox" else "dead letters"
            log.warning("%s for %s full (%d items): dropped the %d oldest", what, target, self.max_items, excess)
        return max(0, excess)

    def oldest(self, target: str) -> Pending | None:
        """Return the oldest undelivered item of `target`, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, created, attempts, payload FROM outbox WHERE target = ? ORDER BY id LIMIT 1", (target,)
            ).fetchone()
            live = self._live.get(target, {}).get(row[0]) if row is not None else None
        return None if row is None else Pending(row[0], row[1], row[2], row[3], live)

    def delivered(self, target: str, item_id: int) -> None:
        """Forget a confirmed item (once closed, nothing: the item is delivered again after a restart)."""
        with self._transaction() as db:
            self._live.get(target, {}).pop(item_id, None)
            if db is not None:
                db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
                db.execute(
                    "UPDATE targets SET delivered = delivered + 1, last_error = NULL, last_error_at = NULL"
                    " WHERE target = ?",
                    (target,),
                )

    def failed(self, target: str, item_id: int, error: str) -> None:
        """Count a failed attempt and remember the error."""
        with self._transaction() as db:
            if db is not None:
                db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))
                db.execute(
                    "UPDATE targets SET last_error = ?, last_error_at = ? WHERE target = ?",
                    (error, time.time(), target),
                )

    def reject(self, target: str, item_id: int, error: str) -> None:
        """Move an item its target refused for good to the dead letters; beyond the bound the oldest are dropped."""
        with self._transaction() as db:
            self._live.get(target, {}).pop(item_id, None)
            if db is not None:
                db.execute(
                    "INSERT INTO dead_letters SELECT id, target, created, attempts + 1, payload, ?, ? FROM outbox"
                    " WHERE id = ?",
                    (error, time.time(), item_id),
                )
                db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
                db.execute(
                    "UPDATE targets SET last_error = ?, last_error_at = ? WHERE target = ?",
                    (error, time.time(), target),
                )
                self._trim(db, "dead_letters", target)

    def dead_letters(self) -> list[DeadLetter]:
        """Return every dead letter, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, target, created, attempts, error, rejected_at, payload FROM dead_letters ORDER BY id"
            ).fetchall()
        return [DeadLetter(row[0], row[1], row[2], row[3], row[4], row[5], jsontext.load(row[6])) for row in rows]

    def requeue(self, ids: list[int]) -> int:
        """Put dead letters back at the end of their target's queue; return how many."""
        with self._transaction() as db:
            if db is None:
                return 0
            marks = ", ".join("?" * len(ids))
            db.execute(
                f"INSERT INTO outbox (target, created, payload) SELECT target, created, payload FROM dead_letters"
                f" WHERE id IN ({marks}) ORDER BY id",
                ids,
            )
            return db.execute(f"DELETE FROM dead_letters WHERE id IN ({marks})", ids).rowcount

    def drop(self, ids: list[int]) -> int:
        """Forget dead letters for good; return how many."""
        with self._transaction() as db:
            if db is None:
                return 0
            marks = ", ".join("?" * len(ids))
            return db.execute(f"DELETE FROM dead_letters WHERE id IN ({marks})", ids).rowcount

    def pause(self, target: str, reason: str | None) -> None:
        """Stop (reason) or resume (None) delivery to a target; its items are kept either way."""
        with self._transaction() as db:
            if db is not None:
                db.execute("INSERT OR IGNORE INTO targets (target) VALUES (?)", (target,))
                db.execute("UPDATE targets SET paused = ? WHERE target = ?", (reason, target))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection | None]:
        """Yield the database inside a transaction, or None once the outbox is closed."""
        with self._lock:
            if self._closed:
                yield None
                return
            with transaction(self._db) as db:
                yield db

    def status(self) -> list[TargetStatus]:
        """Return every target's backlog, oldest item time, counters and last error."""
        with self._lock:
            rows = self._db.execute(
                """SELECT t.target, COUNT(o.id), MIN(o.created), t.delivered, t.dropped,
                          t.last_error, t.last_error_at, t.paused,
                          (SELECT COUNT(*) FROM dead_letters d WHERE d.target = t.target)
                   FROM targets t LEFT JOIN outbox o ON o.target = t.target
                   GROUP BY t.target ORDER BY t.target"""
            ).fetchall()
        return [TargetStatus(*row) for row in rows]

    def close(self) -> None:
        """Close the database; a courier still inside a delivery then leaves its item for next time."""
        with self._lock:
            self._closed = True
            self._db.close()
