"""Alert state, last valid readings and silences, kept in SQLite so a restart changes nothing."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from labmon.rule_config import selector_covers
from labmon.times import MAX_DURATION
from labmon_collector.disk import DiskHealth, attempt
from labmon_collector.reserve import Reserve
from labmon_collector.sqlitedb import Fresh, open_db, transaction

State = Literal["inactive", "pending", "firing"]
FACT = "INSERT OR REPLACE INTO collector VALUES (?, ?)"
PAGE_SIZE = 1024
PULSE = frozenset({"last_cycle_at", "last_cycle", "valid_as_of"})
"""Facts that change every cycle: when nothing else changed, written once per BEAT cycles (an SD card's wear)."""
BEAT = 6
"""Cycles between writes of the pulse alone: 8 kB a cycle was 70 MB a day at a 10 s interval, about as much as the
history itself. `labmon status` allows for it (a killed collector is told BEAT intervals later); a killed
collector restarts knowing its steady series valid up to BEAT intervals earlier than they were."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_state (
    rule TEXT NOT NULL, series TEXT NOT NULL, state TEXT NOT NULL, since REAL NOT NULL,
    cleared_since REAL, notified_at REAL, repeats INTEGER NOT NULL, last_value REAL,
    unit TEXT NOT NULL, error TEXT NOT NULL, PRIMARY KEY (rule, series)
);
-- last_valid_at NULL: valid in the cycle of the `valid_as_of` fact, so a steady series is not rewritten each cycle
CREATE TABLE IF NOT EXISTS series_valid (series TEXT PRIMARY KEY, last_valid_at REAL);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT, selector TEXT NOT NULL, starts REAL NOT NULL,
    ends REAL NOT NULL, comment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collector (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS acks (
    rule TEXT NOT NULL, series TEXT NOT NULL, by TEXT NOT NULL, comment TEXT NOT NULL, at REAL NOT NULL,
    announced INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (rule, series)
);
CREATE TABLE IF NOT EXISTS escalated (
    rule TEXT NOT NULL, series TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (rule, series)
);
CREATE TABLE IF NOT EXISTS held_back (
    notifier TEXT NOT NULL, rule TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (notifier, rule)
);
"""


@dataclass
class SeriesState:
    """Where one rule stands for one series."""

    state: State = "inactive"
    since: float = 0.0
    cleared_since: float | None = None
    notified_at: float | None = None
    repeats: int = 0
    last_value: float | None = None
    unit: str = ""
    error: str = ""


STATE_FIELDS = tuple(f.name for f in fields(SeriesState))
NOTIFIED = STATE_FIELDS.index("notified_at")


def _row(state: SeriesState) -> tuple[Any, ...]:
    return tuple(getattr(state, name) for name in STATE_FIELDS)


@dataclass(frozen=True)
class Silence:
    """Alerts whose series match `selector` notify nobody until `ends`."""

    id: int
    selector: str
    starts: float
    ends: float
    comment: str

    def covers(self, series: str) -> bool:
        """Return whether this silence matches `series`."""
        return selector_covers(self.selector, series)


@dataclass(frozen=True)
class Ack:
    """Someone acknowledged the firing alert of `rule` on `series`: it stops repeating until it resolves."""

    rule: str
    series: str
    by: str
    comment: str
    at: float
    announced: bool = False

    def text(self) -> str:
        """Return who acknowledged it and why, as notifiers and `labmon status` say it."""
        return f"acknowledged by {self.by}" + (f": {self.comment}" if self.comment else "")


def _text(value: Any) -> str:
    """Return `value` as json.dumps writes it; a finite number, None or an empty dict or list without the encoder
    (a cycle notes several, mostly these)."""
    kind = type(value)
    if (kind is float and math.isfinite(value)) or kind is int:
        return repr(value)
    if value is None:
        return "null"
    if not value and (kind is dict or kind is list):
        return "{}" if kind is dict else "[]"
    return json.dumps(value)


def _number(text: str | None) -> float | None:
    """Return the number a fact's JSON text holds, None for no text or null."""
    return None if text is None or text == "null" else float(text)


class AlertStore:
    """One SQLite file beside the outbox; the collector writes it, `labmon silence` and `status` too."""

    def __init__(self, path: Path, health: DiskHealth | None = None) -> None:
        # NORMAL skips an fsync per cycle (1 ms of a cycle's 1.4) and still survives a killed process; a
        # power cut may lose the last cycle's state: at worst one notification is repeated. The outbox,
        # which must not lose what it accepted, stays FULL.
        # Pages of 1 kB: a cycle's commit (the cycle's time, a page's worth of facts) is a WAL frame that
        # dirties a quarter of the 4 kB the card writes, instead of two 4 kB pages for a 4 kB page's frame.
        self.reserve = Reserve(path.parent) if health is not None else None
        """The collector's room on the full disk for a commit that records a told alert (made here if there is room),
        and for opening its files on a disk full to the last byte."""
        opened_in_reserve = self.reserve is not None and self.reserve.room_to_open()
        self._db = open_db(path, "NORMAL", SCHEMA, page_size=PAGE_SIZE)
        self._lock = threading.Lock()
        self._migrate()
        # What the file holds, so that a save writes only what changed (a large lab's cost per cycle).
        self._saved_states: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._saved_valid: dict[str, float | None] = {}
        self._noted: dict[str, str] = {}
        """The facts as the file holds them: a note writes only those that changed."""
        self._fresh = Fresh(self._db)
        """The silences and acks as last read: each cycle reads them, `labmon silence`/`ack` rarely change them.
        Its looks at the file's version also tell whether another writer changed what the caches above hold."""
        self._version: int | None = None
        """The file's `PRAGMA data_version` when the caches above were last known true: another writer changes it."""
        self._other_wrote("open")
        self._unnoted: dict[str, str] = {}
        """Facts left for a later note's transaction: a save's cycle time, the pulse between beats."""
        self._health = health
        """The collector's: a write the full disk refuses is counted and left for the next cycle, never raised."""
        if self.reserve is not None and not opened_in_reserve:
            self.reserve.fill()
        self._riders: set[str] = set()
        """Facts given to `later`: like the pulse, they wait for a commit made for something else, or the beat."""
        self._beating = False
        """Whether this process notes the cycles (the collector's own): its `facts` are then current."""
        self._owed: list[Callable[[sqlite3.Connection], object]] = []
        """Writes the full disk refused (acks, escalations, held-back counts), in order: done first in the next
        commit the disk takes; until then `acks` reads them from `_owed_acks`."""
        self._owed_acks: dict[tuple[str, str], Ack | None] = {}
        """The acks as the owed writes leave them (None: ended), over what the file holds."""
        self._firing: set[tuple[str, str]] | None = None
        """The firing alerts of the last save, stored or not (a full disk): what an ack made here may cover."""

    def _migrate(self) -> None:
        """Move the first layout's series_seen (a row rewritten per series per cycle) into series_valid."""
        with self._lock, transaction(self._db):
            if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'series_seen'").fetchone():
                self._db.execute("INSERT OR IGNORE INTO series_valid SELECT series, last_valid_at FROM series_seen")
                self._db.execute("DROP TABLE series_seen")

    def load(self) -> tuple[dict[tuple[str, str], SeriesState], dict[str, float]]:
        """Return the saved states (by rule and series) and each series' last valid time."""
        with self._lock:
            self._saved_states, valid = self._saved()
            as_of = self._db.execute("SELECT value FROM collector WHERE key = 'valid_as_of'").fetchone()
        self._saved_valid = dict(valid)
        current: float | None = json.loads(as_of[0]) if as_of else None
        seen: dict[str, float] = {}
        for series, at in valid.items():
            known = current if at is None else at
            if known is not None:
                seen[series] = known
        return {key: SeriesState(*row) for key, row in self._saved_states.items()}, seen

    def save(
        self, states: dict[tuple[str, str], SeriesState], seen: dict[str, float], now: float | None = None
    ) -> None:
        """Store the states that are not inactive and each series' last valid time, in one transaction.

        Only what changed since the last save is written. A series valid at `now` (this cycle) is stored
        as "valid as of the saved cycle", so a steady lab writes almost nothing per cycle and a restart
        still knows every series' last valid time. When nothing else changed, that cycle's time waits for the
        collector's `note` of the same cycle, written with it (a killed collector between the two, a few ms,
        restarts knowing the steady series valid one cycle earlier).
        """
        self._other_wrote("save")
        self._firing = {key for key, state in states.items() if state.state == "firing"}
        rows = {key: _row(state) for key, state in states.items() if state.state != "inactive"}
        changed = [(*key, *row) for key, row in rows.items() if self._saved_states.get(key) != row]
        ended = [key for key in self._saved_states if key not in rows]
        saved = self._saved_valid
        moved = [
            (series, stored)
            for series, at in seen.items()
            if saved.get(series, -1.0) != (stored := None if at == now else at)
        ]
        forgotten = [(series,) for series in saved.keys() - seen.keys()]
        marks = ", ".join("?" * (2 + len(STATE_FIELDS)))
        as_of = {} if now is None else {"valid_as_of": _text(now)}
        if not (changed or ended or moved or forgotten):
            self._unnoted.update(as_of)
            return

        def work(db: sqlite3.Connection) -> None:
            db.executemany(f"INSERT OR REPLACE INTO alert_state VALUES ({marks})", changed)
            db.executemany("DELETE FROM alert_state WHERE rule = ? AND series = ?", ended)
            db.executemany("INSERT OR REPLACE INTO series_valid VALUES (?, ?)", moved)
            db.executemany("DELETE FROM series_valid WHERE series = ?", forgotten)
            db.executemany(FACT, facts.items())

        facts = self._changed(as_of)
        if not self._commit(work, told=self._told(rows)):
            return  # the next save writes what changed since the last one that went through
        self._written(facts)
        # only once committed: a failed save changes nothing
        self._saved_states = rows
        saved.update(moved)
        for (series,) in forgotten:
            del saved[series]

    def _told(self, rows: dict[tuple[str, str], tuple[Any, ...]]) -> bool:
        """Return whether saving `rows` records a notification: an alert told (firing, a repeat), a told one ended."""
        before = {key: row[NOTIFIED] for key, row in self._saved_states.items()}
        after = {key: row[NOTIFIED] for key, row in rows.items()}
        return any(before.get(key) != after.get(key) for key in before.keys() | after.keys())

    def note(self, **facts: Any) -> None:
        """Record facts about the running collector (last cycle time, clean stop, ...) for `labmon status`.

        Only the facts that changed are written, with what a save left for it, in one transaction (or none).
        """
        self._other_wrote("note")
        rows = self._changed({key: _text(value) for key, value in facts.items()})
        if "last_cycle_at" in facts:
            self._beating = True
        if rows.keys() <= PULSE | self._riders and not self._beat_due(rows):
            self._unnoted.update(rows)
            return
        if rows and self._commit(lambda db: db.executemany(FACT, rows.items())):
            self._written(rows)

    def later(self, **facts: Any) -> None:
        """Leave facts for the next commit that writes anything (the pulse's at the latest), never one of their own."""
        self._riders.update(facts)
        self._unnoted.update({key: _text(value) for key, value in facts.items()})

    def _other_wrote(self, reader: Literal["open", "save", "note"]) -> None:
        """Reread what the file holds if another connection wrote it since (a `labmon collector --once`
        beside the service): what this one would skip as unchanged is then written again.

        One look at the file's version (`Fresh`, made as the cycle reads the silences) serves the cycle's acks,
        save and note (a look each was a fifth of a small lab's cycle); a change another writer makes during a
        cycle is seen by the next one.
        """
        with self._lock:
            version = self._fresh.version(reader)
            if version != self._version:
                self._version = version
                self._noted = dict(self._db.execute("SELECT key, value FROM collector").fetchall())
                self._saved_states, self._saved_valid = self._saved()

    def _saved(self) -> tuple[dict[tuple[str, str], tuple[Any, ...]], dict[str, float | None]]:
        """Return the states and last valid times the file holds (with the lock held)."""
        rows = self._db.execute("SELECT * FROM alert_state").fetchall()
        valid = dict(self._db.execute("SELECT series, last_valid_at FROM series_valid").fetchall())
        return {(row[0], row[1]): tuple(row[2:]) for row in rows}, valid

    def _beat_due(self, rows: dict[str, str]) -> bool:
        """Return whether the pulse in `rows` is BEAT intervals newer than the one in the file (or there is none)."""
        now, then = (_number(d.get("last_cycle_at")) for d in (rows, self._noted))
        interval = _number(self._noted.get("interval")) or 0.0
        return now is None or then is None or now - then >= BEAT * interval

    def lag(self) -> float:
        """Return how far behind the running collector's cycle time the `facts` seen here may be, in intervals."""
        return 0.0 if self._beating else float(BEAT)

    def _changed(self, facts: dict[str, str]) -> dict[str, str]:
        """Return the facts (JSON texts), with those a save left, that differ from what the file holds."""
        return {key: text for key, text in (self._unnoted | facts).items() if self._noted.get(key) != text}

    def _written(self, rows: dict[str, str]) -> None:
        """Mark facts as in the file (once committed: a transaction that rolled back wrote nothing)."""
        self._noted.update(rows)
        self._unnoted = {key: text for key, text in self._unnoted.items() if key not in rows}

    def _commit(self, work: Callable[[sqlite3.Connection], object], *, owe: bool = False, told: bool = False) -> bool:
        """Run the owed writes and `work` in one transaction; return False if the disk refused it (only with a
        DiskHealth): then `work` is owed too if `owe` (else its caller writes what it meant with its next call).

        `told`: the transaction records a notification; the full disk refusing it gets the reserve's room (a run
        that does not know an alert was told never resolves it).
        """

        done = 0

        def write() -> None:
            nonlocal done
            with self._lock, transaction(self._db):
                for owed in self._owed:
                    owed(self._db)
                done = len(self._owed)
                work(self._db)

        reserve = self.reserve if told else None
        if attempt(self._health, "alert state", write if reserve is None else lambda: reserve.through(write)):
            with self._lock:
                del self._owed[:done]  # an ack made meanwhile, refused, is still owed
                if not self._owed:
                    self._owed_acks = {}
            return True
        if owe:
            with self._lock:
                self._owed.append(work)
        return False

    def facts(self) -> dict[str, Any]:
        """Return what `note` recorded (with the pulse not yet written, in the collector's own process)."""
        with self._lock:
            rows = dict(self._db.execute("SELECT key, value FROM collector").fetchall())
        return {key: json.loads(value) for key, value in (rows | self._unnoted).items()}

    def hold(self, notifier: str, rule: str) -> None:
        """Count one message of `rule` that the hourly cap kept from `notifier`."""
        self._commit(
            lambda db: db.execute(
                "INSERT INTO held_back VALUES (?, ?, 1) ON CONFLICT DO UPDATE SET count = count + 1", (notifier, rule)
            ),
            owe=True,
        )

    def held_back(self) -> dict[str, dict[str, int]]:
        """Return, per notifier and rule, how many messages the cap has held back since the last one sent."""
        held: dict[str, dict[str, int]] = {}
        with self._lock:
            for notifier, rule, count in self._db.execute("SELECT notifier, rule, count FROM held_back"):
                held.setdefault(notifier, {})[rule] = count
        return held

    def release(self, notifier: str) -> None:
        """Forget the held-back counts of `notifier`: a message has told them."""
        self._commit(lambda db: db.execute("DELETE FROM held_back WHERE notifier = ?", (notifier,)), owe=True)

    def add_silence(self, selector: str, starts: float, ends: float, comment: str) -> int:
        """Silence `selector` from `starts` to `ends`; return the silence's id."""
        with self._lock, transaction(self._db):
            cursor = self._db.execute(
                "INSERT INTO silences (selector, starts, ends, comment) VALUES (?, ?, ?, ?)",
                (selector, starts, ends, comment),
            )
            self._fresh.drop("silences")
        return int(cursor.lastrowid or 0)

    def silences(self, now: float) -> list[Silence]:
        """Return the silences in force at `now` (one stored endless by an older labmon ends in 10 years)."""

        def read() -> tuple[float, list[tuple[int, str, float, float, str]]]:
            query = "SELECT id, selector, starts, ends, comment FROM silences WHERE ends > ? ORDER BY id"
            return now, self._db.execute(query, (now,)).fetchall()

        with self._lock:  # a cycle's first read: its look serves the cycle's acks, save and note
            read_at, rows = self._fresh.get("silences", read, look=True)
            if now < read_at:  # an earlier time than read for (a test's clock): the silences ended by then are left out
                self._fresh.drop("silences")
                read_at, rows = self._fresh.get("silences", read)
        ceiling = now + MAX_DURATION
        return [
            Silence(i, selector, starts, min(ends, ceiling), text)
            for i, selector, starts, ends, text in rows
            if starts <= now < ends
        ]

    def remove_silence(self, silence_id: int) -> bool:
        """End a silence now; return whether it existed."""
        with self._lock, transaction(self._db):
            self._fresh.drop("silences")
            return self._db.execute("DELETE FROM silences WHERE id = ?", (silence_id,)).rowcount > 0

    def acknowledge(self, selector: str, by: str, comment: str, now: float) -> list[Ack]:
        """Acknowledge every firing alert whose series `selector` matches (as a silence does); return the new acks.

        An alert already acknowledged keeps its first ack; the collector reads them at its next cycle. In the
        collector's own store the firing alerts are those of its last save, and an ack the full disk refuses
        is kept in memory and written when it takes writes again (the disk's own alert is acknowledged so).
        """
        if self._firing is not None:
            firing = sorted(self._firing)
        else:
            with self._lock:
                firing = self._db.execute("SELECT rule, series FROM alert_state WHERE state = 'firing'").fetchall()
        known = self.acks()
        added = [
            Ack(rule, series, by, comment, now)
            for rule, series in firing
            if selector_covers(selector, series) and (rule, series) not in known
        ]
        rows = [(a.rule, a.series, a.by, a.comment, a.at) for a in added]

        def work(db: sqlite3.Connection) -> None:
            self._fresh.drop("acks")  # in the transaction, under the lock: no read in between keeps the old
            db.executemany("INSERT OR IGNORE INTO acks (rule, series, by, comment, at) VALUES (?, ?, ?, ?, ?)", rows)

        if rows and not self._commit(work, owe=True):
            self._owe_acks({(a.rule, a.series): a for a in added})
        return added

    def acks(self) -> dict[tuple[str, str], Ack]:
        """Return the acknowledgements in force, by rule and series (a dict of the caller's own)."""

        def read() -> dict[tuple[str, str], Ack]:
            rows = self._db.execute("SELECT rule, series, by, comment, at, announced FROM acks").fetchall()
            return {
                (rule, series): Ack(rule, series, by, comment, at, bool(told))
                for rule, series, by, comment, at, told in rows
            }

        with self._lock:
            acks = dict(self._fresh.get("acks", read))
            owed = dict(self._owed_acks)
        for key, ack in owed.items():
            if ack is None:
                acks.pop(key, None)
            else:
                acks[key] = ack
        return acks

    def announced(self, rule: str, series: str) -> None:
        """Record that the notifiers were told of the ack of `rule` on `series`."""
        if not self._change_acks("UPDATE acks SET announced = 1 WHERE rule = ? AND series = ?", rule, series):
            ack = self.acks().get((rule, series))
            self._owe_acks({(rule, series): None if ack is None else replace(ack, announced=True)})

    def end_ack(self, rule: str, series: str) -> None:
        """Forget the ack of `rule` on `series`: the alert resolved."""
        if not self._change_acks("DELETE FROM acks WHERE rule = ? AND series = ?", rule, series):
            self._owe_acks({(rule, series): None})

    def _change_acks(self, statement: str, rule: str, series: str) -> bool:
        """Change one ack (owed if the full disk refuses it); return whether it was written."""

        def work(db: sqlite3.Connection) -> None:
            self._fresh.drop("acks")  # in the transaction, under the lock: no read in between keeps the old
            db.execute(statement, (rule, series))

        return self._commit(work, owe=True)

    def _owe_acks(self, acks: dict[tuple[str, str], Ack | None]) -> None:
        """Keep acks as the refused writes leave them, for `acks` to read until the disk takes those writes."""
        with self._lock:
            self._owed_acks.update(acks)

    def escalate(self, rule: str, series: str, at: float) -> None:
        """Record that the firing alert of `rule` on `series` went to its `escalate_to` notifiers at `at`."""
        self._commit(
            lambda db: db.execute("INSERT OR REPLACE INTO escalated VALUES (?, ?, ?)", (rule, series, at)), owe=True
        )

    def escalated(self) -> dict[tuple[str, str], float]:
        """Return when each escalated alert was escalated, by rule and series."""
        with self._lock:
            rows = self._db.execute("SELECT rule, series, at FROM escalated").fetchall()
        return {(rule, series): at for rule, series, at in rows}

    def forget_escalation(self, rule: str, series: str) -> None:
        """Forget the escalation of `rule` on `series`: the alert resolved."""
        self._commit(
            lambda db: db.execute("DELETE FROM escalated WHERE rule = ? AND series = ?", (rule, series)), owe=True
        )

    def close(self) -> None:
        """Write what a save left for a note; close the database."""
        if self._unnoted:
            self.note()
        with self._lock:
            self._db.close()
