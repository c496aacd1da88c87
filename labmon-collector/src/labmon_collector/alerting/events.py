"""The alert history: every state change of every rule and series, and who was told, as it happens."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from labmon.models import Alert
from labmon.times import iso
from labmon_collector.alerting.alertstore import SeriesState
from labmon_collector.disk import DiskHealth, attempt
from labmon_collector.sqlitedb import open_db, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, rule TEXT NOT NULL, series TEXT NOT NULL, kind TEXT NOT NULL,
    value REAL, unit TEXT NOT NULL, threshold REAL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);
CREATE INDEX IF NOT EXISTS events_by_series ON events (series, at);
"""
KEPT_WHILE_REFUSED = 10_000
"""Events kept in memory while the disk refuses them, written with the next that it takes; beyond, the oldest go."""


Note = tuple[str, str, str, str]
"""What the engine did beside changing a state: (rule, series, kind, detail), e.g. acknowledged, held back."""


@dataclass(frozen=True)
class Event:
    """One change: pending, firing, resolved, cleared (pending that never fired), silenced, notified, held back."""

    id: int
    at: float
    rule: str
    series: str
    kind: str
    value: float | None
    unit: str
    threshold: float | None
    detail: str

    def line(self, stamp: Callable[[float], str] = iso) -> str:
        """Return the event as one line of text (its time as `stamp` writes it), for `labmon alerts` and status."""
        value = "" if self.value is None else f"{self.value:g} {self.unit}".strip()
        return f"{stamp(self.at)}  {self.kind:<9} {self.rule:<20} {self.series:<32} {value:<14} {self.detail}".rstrip()


def recent_lines(data_dir: Path, count: int = 5) -> list[str]:
    """Return the newest `count` events of the collector whose `data_dir` this is, oldest first, as text."""
    path = data_dir / "events.sqlite"
    if not path.exists():
        return []
    log = EventLog(path)
    found = log.query(limit=count)
    log.close()
    return ["recent alert history (labmon alerts CONFIG for more)"] + [f"  {e.line()}" for e in reversed(found)]


class EventLog:
    """An SQLite file beside the alert state; the collector appends, the page and `labmon alerts` read."""

    def __init__(self, path: Path, health: DiskHealth | None = None) -> None:
        # NORMAL, as the alert state: a power cut may lose the last cycle's events, never corrupt the file.
        self._db = open_db(path, "NORMAL", SCHEMA)
        self._lock = threading.Lock()
        self._appending = threading.Lock()  # the cycle and the ranking worker both append; one keeps the unwritten
        self._health = health
        self._unwritten: list[tuple[float, str, str, str, float | None, str, float | None, str]] = []

    def record(
        self,
        before: Mapping[tuple[str, str], str],
        after: dict[tuple[str, str], SeriesState],
        routed: list[tuple[Alert, list[str]]],
        now: float,
        notes: Sequence[Note] = (),
    ) -> None:
        """Append the state changes between `before` and `after` one evaluation, the engine's notes, the routing."""
        told = {(alert.rule, alert.series) for alert, _ in routed} | {(rule, series) for rule, series, _, _ in notes}
        rows: list[tuple[float, str, str, str, float | None, str, float | None, str]] = []
        for (rule, series), state in after.items():
            old = before.get((rule, series), "inactive")
            if state.state == old:
                continue
            kind: str = state.state if state.state != "inactive" else ("resolved" if old == "firing" else "cleared")
            rows.append((now, rule, series, kind, state.last_value, state.unit, None, ""))
            if state.state == "firing" and (rule, series) not in told:
                rows.append((now, rule, series, "silenced", state.last_value, state.unit, None, "not notified"))
        rows += [(now, rule, series, kind, None, "", None, detail) for rule, series, kind, detail in notes]
        for alert, names in routed:
            change, detail = ("notified", ", ".join(names)) if names else ("held back", "no notifier took it")
            rows.append((now, alert.rule, alert.series, change, alert.value, alert.unit, alert.threshold, detail))
        with self._appending:
            rows = self._unwritten + rows
            if not rows:
                return

            def write() -> None:
                with self._lock, transaction(self._db):
                    self._db.executemany(
                        "INSERT INTO events (at, rule, series, kind, value, unit, threshold, detail)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        rows,
                    )

            if not attempt(self._health, "alert history", write):
                self._unwritten = rows[-KEPT_WHILE_REFUSED:]
                return
            self._unwritten = []

    def query(
        self, *, since: float = 0.0, until: float | None = None, rule: str = "", series: str = "", limit: int = 500
    ) -> list[Event]:
        """Return the newest events first, from `since` to `until`, whose rule and series contain the given text."""
        sql = "SELECT * FROM events WHERE at >= ? AND at <= ? AND instr(rule, ?) > 0 AND instr(series, ?) > 0"
        args = (since, float("inf") if until is None else until, rule, series, limit)
        with self._lock:
            rows = self._db.execute(f"{sql} ORDER BY at DESC, id DESC LIMIT ?", args).fetchall()
        return [Event(*row) for row in rows]

    def count(self, *, since: float = 0.0, rule: str = "", series: str = "") -> int:
        """Return how many events `query` would find without a limit."""
        sql = "SELECT COUNT(*) FROM events WHERE at >= ? AND instr(rule, ?) > 0 AND instr(series, ?) > 0"
        with self._lock:
            (total,) = self._db.execute(sql, (since, rule, series)).fetchone()
        return int(total)

    def firing_periods(self, series: str, since: float) -> list[tuple[str, float, float | None]]:
        """Return (rule, start, end or None if still firing) of every firing period of `series` after `since`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rule, kind, at FROM events WHERE series = ? AND kind IN ('firing', 'resolved') ORDER BY at, id",
                (series,),
            ).fetchall()
        periods: list[tuple[str, float, float | None]] = []
        open_: dict[str, float] = {}
        for rule, kind, at in rows:
            if kind == "firing":
                open_[rule] = at
            elif rule in open_:
                start = open_.pop(rule)
                if at >= since:
                    periods.append((rule, start, at))
        periods.extend((rule, start, None) for rule, start in open_.items())
        return periods

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
