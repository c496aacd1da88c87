"""A clean stop sends every held cycle, even one that another thread (the changes' worker, a timer) is sending."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from labmon.models import Alert
from labmon_collector.alerting.events import Note
from labmon_collector.health.changes import Changes
from labmon_collector.health.held import Held, Routed

END = 1_800_000_000.0
LOCK = "table1/laser1/lock_error"


def repeat(n: int) -> Routed:
    """A cycle's notification that is not ranked (a repeat): it goes out at once, from the thread that adds it."""
    alert = Alert("unlocked", "firing", LOCK, "still unlocked", since=END, at=END, repeat=n)
    return [(alert, [("console", alert)])]


def test_close_returns_only_once_a_cycle_another_thread_is_sending_and_those_behind_it_are_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = Changes(tmp_path / "absent.sqlite")
    inside, go = threading.Event(), threading.Event()
    sent: list[float] = []

    def send(at: float, routed: Routed, notes: list[Note]) -> None:
        if at == END:  # the first cycle's sender is held up (a plot being drawn, say)
            inside.set()
            go.wait(30)
        sent.append(at)

    held = Held(changes, send)
    sender = threading.Thread(target=held.add, args=(END, repeat(1)))  # as the worker's release would
    sender.start()
    assert inside.wait(30)
    held.add(END + 60, repeat(2))  # the next cycle's: queued behind the one being sent
    release = held.release

    def releasing(*, everything: bool = False) -> None:
        release(everything=everything)
        go.set()  # the sender goes on only once close() has asked for everything

    monkeypatch.setattr(held, "release", releasing)
    held.close()  # a clean stop: the collector then sends its groups and closes the outbox
    assert sent == [END, END + 60]
    sender.join(30)
    changes.close()
