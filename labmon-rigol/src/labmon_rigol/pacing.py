"""Ask a scope again and again until something happens, paced by how long it took before."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

SHARE = 0.05
"""Past the expected time, ask again after this share of the time waited so far: at most 5% late, few asks."""
SOONER = 0.8
"""Done by the first ask at the expected time: it may have been sooner, so expect it this much sooner next time."""
SOONEST = 0.0005
"""Never wait less than this (seconds) before asking again."""
QUICK = 0.002
"""An event expected within this (seconds) is asked for straight again: a few asks cost less than a wake-up."""


class Pacer:
    """Learns how long an event (an acquisition, a new screen) takes, and asks first when it is due.

    What it learns is when it last asked and heard "not yet": a lower bound, so a late wake-up or a slow
    answer on a busy machine never makes it expect later and later.
    """

    def __init__(self) -> None:
        self.expected: float | None = None

    def pause(self, elapsed: float) -> float:
        """Return how long to wait before the next ask, `elapsed` seconds into the wait."""
        expected = self.expected
        if expected is not None and expected < QUICK:
            return 0.0  # a wake-up on a busy machine can take longer than the event
        if expected is not None and elapsed < expected:
            return expected - elapsed
        return max(SOONEST, SHARE * elapsed)

    def until(self, ask: Callable[[], T], done: Callable[[T], bool], since: float, timeout: float) -> T | None:
        """Ask until `done` says so and return that answer; None if `timeout` seconds pass from `since` first."""
        not_yet = None  # when it was last asked for and not done, at or past the expected time
        while True:
            asked = time.monotonic() - since
            answer = ask()
            elapsed = time.monotonic() - since
            if done(answer):
                self._learn(asked, not_yet)
                return answer
            if elapsed >= timeout:
                return None
            if self.expected is None or asked >= self.expected:
                not_yet = asked
            pause = self.pause(elapsed)
            if pause:
                time.sleep(min(pause, timeout - elapsed))

    def _learn(self, asked: float, not_yet: float | None) -> None:
        if not_yet is not None:
            self.expected = not_yet
        elif self.expected is not None:
            self.expected *= SOONER
        else:
            self.expected = asked
