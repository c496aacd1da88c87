"""A durable, bounded, ordered outbox per delivery target."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from labmon import jsontext
from labmon.config import CollectorConfig
from labmon_collector.disk import DiskHealth, attempt
from labmon_collector.reserve import Reserve
from labmon_collector.sqlitedb import open_db, transaction

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    payload TEXT NOT NULL,
    sending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_target ON outbox (target, id);
CREATE TABLE IF NOT EXISTS targets (
    target TEXT PRIMARY KEY,
    dropped INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_at REAL,
    paused TEXT,
    resent INTEGER NOT NULL DEFAULT 0
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
ADDED = {"outbox": "sending", "targets": "resent"}
"""Columns a file made before them lacks (each an INTEGER, 0 by default)."""
MARK_SYNC = "NORMAL"
"""How the "being sent" mark is committed: without an fsync (it must outlive the process, not a power cut; see
`Outbox.sending`). bench/sending.py measures it against "FULL"."""


LIVE_PER_TARGET = 4
"""Items per target whose in-memory form is kept beside the stored text until delivered (a backlog beyond
this is read back from the file: a target that is down for a day must not hold a day of batches in memory)."""


PACK_FROM = 1024
"""Items of this many characters or more (a cycle's batch) are stored deflated: a tenth of the bytes written to
the card (its wear); an alert, small, stays readable text in the file."""


def _packed(text: str) -> str | bytes:
    """Return what is stored for `text`: the text itself, or deflated bytes when it is long."""
    return zlib.compress(text.encode(), 1) if len(text) >= PACK_FROM else text


def _unpacked(stored: str | bytes) -> str:
    """Return the text of a stored item (files written before packing hold text only)."""
    return zlib.decompress(stored).decode() if isinstance(stored, bytes) else stored


HELD_PER_TARGET = 1_000
"""Items per target held in memory while the disk refuses them (written as soon as it takes them again); beyond
this the oldest held are dropped and counted: memory must not run out before the disk comes back."""

Write = Callable[[sqlite3.Connection], object]


@dataclass
class _Held:
    """An item the disk refused, kept in memory (negative id) until written or delivered."""

    id: int
    created: float
    text: str
    live: object
    attempts: int = 0


@dataclass
class _Refused:
    """What the disk refused and the outbox owes it: writes to replay, items held in memory, items done meanwhile."""

    writes: list[Write] = field(default_factory=list)
    held: dict[str, list[_Held]] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    """Stored items delivered or set aside whose removal is among `writes`: never handed out again."""
    moved: dict[int, int] = field(default_factory=dict)
    """Held ids written to the file since, and their stored ids (a courier may hold the item under its old id)."""
    dropped: dict[str, int] = field(default_factory=dict)
    next_id: int = -1


@dataclass(frozen=True)
class Pending:
    """The oldest undelivered item of a target."""

    id: int
    created: float
    attempts: int
    text: str
    live: object = None
    """What was put, as it was put (a cycle's Batch, say), while the same process delivers it; else None."""
    repeat: bool = False
    """A run stopped while sending it (after its notifier was asked, before the delete): it may have gone out."""

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
    resent: int = 0
    """Items sent again after a restart that had been being sent (possibly repeats), since the file was made."""


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


def in_memory_targets(settings: CollectorConfig) -> frozenset[str]:
    """Return the targets whose items a running collector keeps in memory, not in the outbox file: a history that
    gathers batches for `flush_every` (the file gets them at a clean stop; a crash loses them with the history's)."""
    return frozenset(f"sink:{e.name}" for e in settings.sinks if e.type_name == "sqlite" and e.config.flush_every > 0)


class Outbox:
    """Items are written before delivery is tried and deleted only once the target confirms."""

    def __init__(
        self,
        path: Path,
        *,
        max_items: int = 100_000,
        health: DiskHealth | None = None,
        in_memory: frozenset[str] = frozenset(),
        reserve: Reserve | None = None,
    ) -> None:
        self.path = path
        self._reserve = reserve
        """The alert store's room on the full disk: a stop writes in it what was delivered meanwhile."""
        self.max_items = max_items
        self._in_memory = in_memory
        """Targets whose items are kept in memory only, written to the file at a clean stop: a history that
        gathers batches in memory for `flush_every` (losing them if killed) gains nothing from a file's copy,
        which cost two transactions per cycle (the put and the delete), most of a card's wear."""
        self._memory: dict[str, list[_Held]] = {}
        self._memory_delivered: dict[str, int] = {}
        self._db = open_db(path, "FULL", SCHEMA)  # a Pi loses power: a confirmed put must survive it
        self._lock = threading.Lock()
        self._closed = False
        self._live: dict[str, dict[int, object]] = {}
        self._health = health
        """The collector's: with it a full disk holds items in memory instead of raising (tools have none)."""
        self._refused = _Refused()
        with transaction(self._db):  # status lists a target by its row, which its items' puts do not write
            for table, column in ADDED.items():
                if column not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
            self._db.executemany("INSERT OR IGNORE INTO targets (target) VALUES (?)", [(t,) for t in in_memory])
            self._repeats = {item_id for (item_id,) in self._db.execute("SELECT id FROM outbox WHERE sending = 1")}
            """Items the last run was sending when it stopped: sent again, said as possibly repeats."""
            self.resent = dict(self._db.execute("SELECT target, resent FROM targets WHERE resent > 0").fetchall())
            """Per target, the items sent again so (the page and /metrics read it; `status` reads the file)."""

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
        created, dropped, ids = time.time() if now is None else now, 0, []
        with self._lock:
            for target in targets:
                if target in self._in_memory:
                    dropped += self._keep(self._memory, target, created, text, live, "not yet stored")
        targets = [target for target in targets if target not in self._in_memory]
        if not targets:
            return dropped
        stored = _packed(text)  # once for all targets

        def work(db: sqlite3.Connection) -> None:
            nonlocal dropped
            for target in targets:
                db.execute("INSERT OR IGNORE INTO targets (target) VALUES (?)", (target,))
                cursor = db.execute(
                    "INSERT INTO outbox (target, created, payload) VALUES (?, ?, ?)", (target, created, stored)
                )
                dropped += self._trim(db, "outbox", target)
                ids.append(cursor.lastrowid)

        with self._lock:
            if not self._commit(work):
                return dropped + sum(
                    self._keep(self._refused.held, target, created, text, live, "held in memory (the disk is full)")
                    for target in targets
                )
            for target, item_id in zip(targets, ids, strict=True):
                if live is not None and item_id is not None:
                    self._keep_live(target, item_id, live)
        return dropped

    def _keep_live(self, target: str, item_id: int, live: object) -> None:
        kept = self._live.setdefault(target, {})
        kept[item_id] = live
        for old in list(kept)[:-LIVE_PER_TARGET]:
            del kept[old]

    def _keep(
        self, kept: dict[str, list[_Held]], target: str, created: float, text: str, live: object, why: str
    ) -> int:
        """Keep an item in memory after those kept before; return how many old ones it pushed out."""
        refused = self._refused
        held = kept.setdefault(target, [])
        held.append(_Held(refused.next_id, created, text, live))
        refused.next_id -= 1
        excess = max(0, len(held) - HELD_PER_TARGET)
        if excess:
            del held[:excess]
            refused.dropped[target] = refused.dropped.get(target, 0) + excess
            log.error("%d items for %s %s: dropped the oldest", len(held), target, why)
        return excess

    def _commit(self, work: Write, reserve: Reserve | None = None) -> bool:
        """Write what the disk refused before, then `work`, in one transaction (the lock held); False if refused.

        Without a DiskHealth (a command-line tool) a refusal raises, as any error. With `reserve`, the full disk
        refusing it gets the reserve's room.
        """
        refused, moves = self._refused, list[tuple[str, _Held, int]]()

        def write() -> None:
            with transaction(self._db) as db:
                for step in refused.writes:
                    step(db)
                for target, held in refused.held.items():
                    for item in held:
                        cursor = db.execute(
                            "INSERT INTO outbox (target, created, attempts, payload) VALUES (?, ?, ?, ?)",
                            (target, item.created, item.attempts, _packed(item.text)),
                        )
                        moves.append((target, item, int(cursor.lastrowid or 0)))
                work(db)

        if not attempt(self._health, "outbox", write if reserve is None else lambda: reserve.through(write)):
            return False
        for target, item, item_id in moves:
            refused.moved[item.id] = item_id
            if item.live is not None:
                self._keep_live(target, item_id, item.live)
        refused.writes.clear()
        refused.held.clear()
        refused.done.clear()
        return True

    def _write(self, work: Write, *, done: int | None = None) -> None:
        """Write now, or, if the disk refuses, with the next write it takes (`done`: a stored item gone meanwhile)."""
        if not self._commit(work):
            self._refused.writes.append(work)
            if done is not None:
                self._refused.done.add(done)

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
        """Return the oldest undelivered item of `target` (stored ones first, then those held in memory), or None."""
        with self._lock:
            done = self._refused.done
            rows = self._db.execute(
                "SELECT id, created, attempts, payload FROM outbox WHERE target = ? ORDER BY id LIMIT ?",
                (target, len(done) + 1),
            ).fetchall()
            row = next((row for row in rows if row[0] not in done), None)
            if row is not None:
                live = self._live.get(target, {}).get(row[0])
                return Pending(row[0], row[1], row[2], _unpacked(row[3]), live, row[0] in self._repeats)
            held = self._refused.held.get(target) or self._memory.get(target)
            return Pending(held[0].id, held[0].created, held[0].attempts, held[0].text, held[0].live) if held else None

    def _held(self, target: str, item_id: int) -> _Held | None:
        """Return the item `item_id` of `target` kept in memory (None if there is none)."""
        kept = [*self._refused.held.get(target, []), *self._memory.get(target, [])]
        return next((item for item in kept if item.id == item_id), None)

    def _take_held(self, target: str, item_id: int) -> _Held | None:
        """Remove and return the item `item_id` of `target` kept in memory (None if it is no longer kept)."""
        found = self._held(target, item_id)
        for kept in (self._refused.held, self._memory):
            if found is not None and found in kept.get(target, []):
                kept[target].remove(found)
        return found

    def sending(self, item_id: int) -> None:
        """Mark a stored item as being sent, before its notifier is asked: a run stopped before the item's delete
        (killed between the notifier's answer and it, say) sends it again after a restart as possibly a repeat.

        Committed without an fsync (MARK_SYNC): a killed process leaves it in the kernel's page cache, which
        writes it; only a power cut can lose it (then the message may be repeated without being said so). Not
        while the disk refuses the outbox (an item held in memory is gone with the process anyway).
        """
        with self._lock:
            refused = self._refused
            if self._closed or item_id < 0 or refused.writes or refused.held or item_id in refused.done:
                return

            def mark() -> None:
                self._db.execute(f"PRAGMA synchronous={MARK_SYNC}")
                try:
                    self._db.execute("UPDATE outbox SET sending = 1 WHERE id = ?", (item_id,))
                finally:
                    self._db.execute("PRAGMA synchronous=FULL")

            attempt(self._health, "outbox", mark)

    def delivered(self, target: str, item_id: int) -> None:
        """Forget a confirmed item (once closed, nothing: the item is delivered again after a restart)."""
        with self._lock:
            item_id = self._refused.moved.pop(item_id, item_id)
            again = item_id in self._repeats
            count = (
                "UPDATE targets SET delivered = delivered + 1, resent = resent + ?, last_error = NULL,"
                " last_error_at = NULL WHERE target = ?",
                (int(again), target),
            )
            self._live.get(target, {}).pop(item_id, None)
            if self._closed:
                return
            if again:
                self._repeats.discard(item_id)
                self.resent[target] = self.resent.get(target, 0) + 1
            if target in self._in_memory and item_id < 0 and self._take_held(target, item_id) is not None:
                self._memory_delivered[target] = self._memory_delivered.get(target, 0) + 1  # written at close
                return
            if item_id < 0 and self._take_held(target, item_id) is not None:
                self._write(lambda db: db.execute(*count))
                return

            def work(db: sqlite3.Connection) -> None:
                db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
                db.execute(*count)

            self._write(work, done=item_id)

    def failed(self, target: str, item_id: int, error: str, *, answered: bool = True) -> None:
        """Count a failed attempt and remember the error (`answered`: the target said no; else, a timeout say, it
        may have taken the item, whose being-sent mark then stays)."""
        at = time.time()
        with self._lock:
            item_id = self._refused.moved.get(item_id, item_id)
            if self._closed:
                return
            held = self._held(target, item_id)
            if held is not None:
                held.attempts += 1

            def work(db: sqlite3.Connection) -> None:
                # the notifier said no: not sent, unless an earlier run may have sent it
                db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, sending = sending * ? WHERE id = ?",
                    (int(item_id in self._repeats or not answered), item_id),
                )
                db.execute("UPDATE targets SET last_error = ?, last_error_at = ? WHERE target = ?", (error, at, target))

            self._write(work)

    def reject(self, target: str, item_id: int, error: str) -> None:
        """Move an item its target refused for good to the dead letters; beyond the bound the oldest are dropped."""
        at = time.time()
        with self._lock:
            item_id = self._refused.moved.pop(item_id, item_id)
            self._live.get(target, {}).pop(item_id, None)
            if self._closed:
                return
            held = self._take_held(target, item_id) if item_id < 0 else None

            def work(db: sqlite3.Connection) -> None:
                if held is not None:
                    db.execute(
                        "INSERT INTO dead_letters (target, created, attempts, payload, error, rejected_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (target, held.created, held.attempts + 1, _packed(held.text), error, at),
                    )
                db.execute(
                    "INSERT INTO dead_letters SELECT id, target, created, attempts + 1, payload, ?, ? FROM outbox"
                    " WHERE id = ?",
                    (error, at, item_id),
                )
                db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
                db.execute("UPDATE targets SET last_error = ?, last_error_at = ? WHERE target = ?", (error, at, target))
                self._trim(db, "dead_letters", target)

            self._write(work, done=item_id)

    def dead_letters(self) -> list[DeadLetter]:
        """Return every dead letter, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, target, created, attempts, error, rejected_at, payload FROM dead_letters ORDER BY id"
            ).fetchall()
        return [
            DeadLetter(row[0], row[1], row[2], row[3], row[4], row[5], jsontext.load(_unpacked(row[6]))) for row in rows
        ]

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

        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR IGNORE INTO targets (target) VALUES (?)", (target,))
            db.execute("UPDATE targets SET paused = ? WHERE target = ?", (reason, target))

        with self._lock:
            if not self._closed:
                self._write(work)

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
                          (SELECT COUNT(*) FROM dead_letters d WHERE d.target = t.target), t.resent
                   FROM targets t LEFT JOIN outbox o ON o.target = t.target
                   GROUP BY t.target ORDER BY t.target"""
            ).fetchall()
            held = {target: len(items) for target, items in [*self._refused.held.items(), *self._memory.items()]}
            oldest = {target: items[0].created for target, items in self._memory.items() if items}
            delivered, dropped = dict(self._memory_delivered), dict(self._refused.dropped)
        return [
            TargetStatus(
                row[0],
                row[1] + held.get(row[0], 0),
                row[2] if row[2] is not None else oldest.get(row[0]),
                row[3] + delivered.get(row[0], 0),
                row[4] + dropped.get(row[0], 0),
                *row[5:],
            )
            for row in rows
        ]

    def held(self) -> int:
        """Return how many items are held in memory because the disk refused them."""
        with self._lock:
            return sum(len(items) for items in self._refused.held.values())

    def close(self) -> None:
        """Write what the disk refused if it takes it now, then close (a courier mid-delivery leaves its item).

        The items kept in memory for their target and not yet delivered are written (delivered after a
        restart), with the count of those delivered.
        """
        with self._lock:
            for target, items in self._memory.items():
                self._refused.held.setdefault(target, []).extend(items)
            self._memory.clear()
            counts = list(self._memory_delivered.items())
            self._memory_delivered.clear()
            if counts:
                self._refused.writes.append(
                    lambda db: db.executemany(
                        "UPDATE targets SET delivered = delivered + ? WHERE target = ?", [(n, t) for t, n in counts]
                    )
                )
            if self._refused.writes or self._refused.held:
                lost = sum(len(items) for items in self._refused.held.values())
                if not self._commit(lambda db: None):
                    # At least what was delivered meanwhile (its delete, small), in the reserve: else a restart
                    # sends it again, not said a repeat (its mark before sending was refused too).
                    self._refused.held.clear()
                    if self._refused.writes:
                        self._commit(lambda db: None, self._reserve)
                    if lost:
                        log.error("the disk still refuses the outbox: %d items held in memory are lost", lost)
            self._closed = True
            self._db.close()
