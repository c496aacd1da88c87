"""A cycle's notifications held, without holding the cycle, until what changed before its new alerts is ranked.

A cycle that raises a new alert hands its routed notifications here and goes on. The rankings are made in the
changes' worker; once all of the cycle's are in, or its DEADLINE has passed, its notifications go out (from the
worker or a timer thread), each new alert saying what changed before it, or that it was not ranked in time.
Cycles go out in the order they came: one still held holds those after it, so a resolution never overtakes its
firing, and no alert is sent twice or dropped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace

from labmon.models import Alert
from labmon_collector.alerting.events import Note
from labmon_collector.health.changes import DEADLINE, Change, Changes, before_text

log = logging.getLogger(__name__)

Routed = list[tuple[Alert, list[tuple[str, Alert]]]]
"""A cycle's alerts, each with its notifiers and the alert as it reads there."""
Send = Callable[[float, Routed, list[Note]], None]
"""What sends a cycle's notifications (its time, the notifications, the notes for the alert history)."""


@dataclass
class Cycle:
    """One cycle's notifications and the rankings they wait for."""

    at: float
    routed: Routed
    rankings: dict[int, Future[list[Change]]]
    deadline: float
    """Monotonic time after which the rankings not in are not waited for."""
    recorded: bool
    """Whether the cycle's own alert history is written (its notes go after it)."""
    late: bool = False
    """Whether its deadline has passed (its timer said so)."""

    def due(self) -> bool:
        """Return whether the cycle can go out: its history written, and its rankings in or late."""
        return self.recorded and (self.late or all(f.done() for f in self.rankings.values()))


def ranked(alert: Alert) -> bool:
    """Return whether a notification of `alert` says what changed before it: a first firing, not a repeat."""
    return alert.state == "firing" and not alert.repeat and not alert.labels.keys() & {"escalated", "acknowledged_by"}


class Held:
    """Holds each cycle's notifications until its rankings are in or late; sends them in cycle order."""

    def __init__(self, changes: Changes, send: Send, deadline: float = DEADLINE) -> None:
        self._changes = changes
        self._send = send
        self._deadline = deadline
        self._queue: deque[Cycle] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        """Told when the sending thread is done: a stop waits for one that another thread is running."""
        self._sending = False
        """Whether a thread is sending (one at a time, in order)."""
        self._asked = self._everything = False

    def add(self, at: float, routed: Routed) -> None:
        """Take a cycle's notifications: with new alerts, ranked in the worker and sent once `recorded` says the
        cycle's alert history is written and the rankings are in or late; else sent now unless one is held."""
        if not routed:
            return
        new = [i for i, (alert, _) in enumerate(routed) if ranked(alert)]
        cycle = Cycle(at, routed, {}, time.monotonic() + self._deadline, recorded=not new)
        if new:  # the timer first: started while the worker is idle, not waiting on it for the interpreter
            timer = threading.Timer(self._deadline, self._expire, (cycle,))
            timer.daemon = True
            timer.start()
        cycle.rankings = {i: self._changes.submit(routed[i][0]) for i in new}
        self._queue.append(cycle)
        for future in cycle.rankings.values():
            future.add_done_callback(lambda _: self.release())
        self.release()  # nothing to rank, none held before it: out now, as the cycle's other notifications

    def recorded(self) -> None:
        """Note that the cycle's alert history is written; send what is due."""
        if not self._queue:  # most cycles: nothing held, nothing to send (only this thread adds to the queue)
            return
        for cycle in list(self._queue):
            cycle.recorded = True
        self.release()

    def _expire(self, cycle: Cycle) -> None:
        cycle.late = True
        self.release()

    def release(self, *, everything: bool = False) -> None:
        """Send the cycles that are due, oldest first, up to the first that is not (all of them: `everything`).

        One thread sends at a time; a call meanwhile (another thread's, or a cancelled ranking's callback in
        the sender's own) makes it look again rather than wait or send a cycle twice.
        """
        with self._lock:
            self._asked, self._everything = True, self._everything or everything
            if self._sending:
                return
            self._sending = True
        while True:
            with self._lock:
                if not self._asked:
                    self._sending = False
                    self._idle.notify_all()
                    return
                self._asked, all_ = False, self._everything
                self._everything = False
            while self._queue and (all_ or self._queue[0].due()):
                cycle = self._queue[0]
                routed, notes = self._annotated(cycle)
                try:
                    self._send(cycle.at, routed, notes)
                except Exception:  # sent as far as it got; the worker or timer must go on for the next cycles
                    log.exception("the notifications of cycle at %s could not all be queued", cycle.at)
                self._queue.popleft()

    def close(self) -> None:
        """Wait for the held cycles' rankings until their deadlines, then send every held cycle; return once sent."""
        for cycle in list(self._queue):
            cycle.recorded = True
            for future in cycle.rankings.values():
                with contextlib.suppress(Exception):  # late or failed: said in the message
                    future.result(max(0.0, cycle.deadline - time.monotonic()))
        self.release(everything=True)
        # A ranking's callback or the timer may be sending (release then only asks it to go on): the collector
        # sends its groups and closes the outbox next, so what that thread still sends must be in by then.
        with self._idle:
            self._idle.wait_for(lambda: not self._sending)

    def _annotated(self, cycle: Cycle) -> tuple[Routed, list[Note]]:
        """Return the cycle's notifications, each new alert saying what changed before it, and the notes."""
        out: Routed = []
        notes: list[Note] = []
        for i, (alert, targets) in enumerate(cycle.routed):
            future = cycle.rankings.get(i)
            text = "" if future is None else self._text(future)
            if text:
                notes.append((alert.rule, alert.series, "before", text))
                targets = [(name, _with(message, alert, text)) for name, message in targets]
            out.append((alert, targets))
        return out, notes

    def _text(self, future: Future[list[Change]]) -> str:
        if not future.done():
            future.cancel()  # not begun: dropped (one under way finishes unread)
            return f"before it: not ranked within {self._deadline:g} s"
        error = future.exception()
        if error is not None:
            return f"before it: not ranked, the history could not be read ({error})"
        return before_text(future.result())


def _with(message: Alert, alert: Alert, text: str) -> Alert:
    """Return a notifier's message of `alert` with `text` after the alert's own message (before a notifier's note)."""
    said = message.message
    rest = said[len(alert.message) :] if said.startswith(alert.message) else ""
    return replace(message, message=f"{alert.message}; {text}{rest}", labels={**message.labels, "before": text})
