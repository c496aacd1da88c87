"""A durable, bounded, ordered outbox per delivery target, and the thread that drains it."""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labmon.kinds import PermanentError, RetryLater

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
"""


@dataclass(frozen=True)
class Pending:
    """The oldest undelivered item of a target."""

    id: int
    created: float
    attempts: int
    payload: dict[str, Any]


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


class Outbox:
    """Items are written before delivery is tried and deleted only once the target confirms."""

    def __init__(self, path: Path, *, max_items: int = 100_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_items = max_items
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a Pi loses power: a confirmed put must survive it
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._closed = False

    def put(self, target: str, payload: dict[str, Any], now: float | None = None) -> int:
        """Append an item; past the bound drop the oldest, count them and return how many were dropped."""
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO targets (target) VALUES (?)", (target,))
            self._db.execute(
                "INSERT INTO outbox (target, created, payload) VALUES (?, ?, ?)",
                (target, time.time() if now is None else now, json.dumps(payload)),
            )
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE target = ?", (target,)).fetchone()
            excess = count - self.max_items
            if excess > 0:
                self._db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE target = ? ORDER BY id LIMIT ?)",
                    (target, excess),
                )
                self._db.execute("UPDATE targets SET dropped = dropped + ? WHERE target = ?", (excess, target))
                log.warning("outbox for %s is full (%d items): dropped the %d oldest", target, self.max_items, excess)
            return max(0, excess)

    def oldest(self, target: str) -> Pending | None:
        """Return the oldest undelivered item of `target`, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, created, attempts, payload FROM outbox WHERE target = ? ORDER BY id LIMIT 1", (target,)
            ).fetchone()
        return None if row is None else Pending(row[0], row[1], row[2], json.loads(row[3]))

    def delivered(self, target: str, item_id: int) -> None:
        """Forget a confirmed item (once closed, nothing: the item is delivered again after a restart)."""
        with self._transaction() as db:
            if db is not None:
                db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
                db.execute("UPDATE targets SET delivered = delivered + 1 WHERE target = ?", (target,))

    def failed(self, target: str, item_id: int, error: str) -> None:
        """Count a failed attempt and remember the error."""
        with self._transaction() as db:
            if db is not None:
                db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))
                db.execute(
                    "UPDATE targets SET last_error = ?, last_error_at = ? WHERE target = ?",
                    (error, time.time(), target),
                )

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
            with self._db:
                yield self._db

    def status(self) -> list[TargetStatus]:
        """Return every target's backlog, oldest item time, counters and last error."""
        with self._lock:
            rows = self._db.execute(
                """SELECT t.target, COUNT(o.id), MIN(o.created), t.delivered, t.dropped,
                          t.last_error, t.last_error_at, t.paused
                   FROM targets t LEFT JOIN outbox o ON o.target = t.target
                   GROUP BY t.target ORDER BY t.target"""
            ).fetchall()
        return [TargetStatus(*row) for row in rows]

    def close(self) -> None:
        """Close the database; a courier still inside a delivery then leaves its item for next time."""
        with self._lock:
            self._closed = True
            self._db.close()


def backoff(attempts: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Return a full-jitter exponential delay for the given number of failed attempts."""
    return random.uniform(base / 2, min(cap, base * 2 ** max(0, attempts - 1)))


class Courier(threading.Thread):
    """Drains one target's outbox in order: retries with backoff, pauses on a permanent error."""

    def __init__(
        self,
        outbox: Outbox,
        target: str,
        deliver: Callable[[dict[str, Any]], None],
        *,
        retry_base: float = 1.0,
        retry_cap: float = 300.0,
    ) -> None:
        super().__init__(name=f"courier-{target}", daemon=True)
        self.outbox = outbox
        self.target = target
        self._deliver = deliver
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.idle = threading.Event()
        self.failing = False
        self.outbox.pause(target, None)  # a restart after fixing the config resumes a paused target

    def nudge(self) -> None:
        """Say that a new item is waiting."""
        self._wake.set()
        self.idle.clear()

    def stop(self, grace: float = 5.0) -> None:
        """Give the backlog `grace` seconds to drain (unless the target is failing), then stop; the rest stays."""
        if self.is_alive() and not self.failing:
            self.idle.wait(grace)
        self._stopping.set()
        self._wake.set()
        self.join(1.0)

    def run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before looking, so a nudge that comes after the look is not lost
            item = self.outbox.oldest(self.target)
            if item is None:
                self.idle.set()
                self._wake.wait()
                continue
            self.idle.clear()
            delay = self._attempt(item)
            if delay is None:
                return
            if delay:
                self._stopping.wait(delay)

    def _attempt(self, item: Pending) -> float | None:
        """Try one delivery; return the delay before the next attempt, or None to stop for good."""
        try:
            self._deliver(item.payload)
        except PermanentError as exc:
            log.error(
                "delivery to %s failed for good: %s; delivery paused with its items kept: fix the config and restart",
                self.target,
                exc,
            )
            self.failing = True
            self.outbox.failed(self.target, item.id, f"permanent: {exc}")
            self.outbox.pause(self.target, str(exc))
            return None
        except RetryLater as exc:
            self.failing = True
            self.outbox.failed(self.target, item.id, str(exc))
            log.warning("%s asks to wait %.1fs: %s", self.target, exc.after, exc)
            return exc.after
        except Exception as exc:
            self.failing = True
            self.outbox.failed(self.target, item.id, f"{type(exc).__name__}: {exc}")
            delay = backoff(item.attempts + 1, base=self._retry_base, cap=self._retry_cap)
            log.warning(
                "delivery to %s failed (attempt %d): %s; retrying in %.1fs", self.target, item.attempts + 1, exc, delay
            )
            return delay
        self.failing = False
        self.outbox.delivered(self.target, item.id)
        return 0.0
