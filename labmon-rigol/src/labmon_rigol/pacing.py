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
"""Never ask again sooner than this (seconds)."""


class Pacer:
    """Learns how long an event (an acquisition, a new screen) takes, and asks first when it is due.

    What it learns is the last time the event was seen not yet done: a lower bound, so a late wake-up on
    a busy machine never makes it expect later and later.
    """

    def __init__(self) -> None:
        self.expected: float | None = None

    def pause(self, elapsed: float) -> float:
        """Return how long to wait before the next ask, `elapsed` seconds into the wait."""
        if self.expected is not None and elapsed < self.expected:
            return self.expected - elapsed
        return max(SOONEST, SHARE * elapsed)

    def until(self, ask: Callable[[], T], done: Callable[[T], bool], since: float, timeout: float) -> T | None:
        """Ask until `done` says so and return that answer; None if `timeout` seconds pass from `since` first."""
        not_yet = None  # when it was last seen not done, at or past the expected time
        while True:
            answer = ask()
            elapsed = time.monotonic() - since
            if done(answer):
                self._learn(elapsed, not_yet)
                return answer
            if elapsed >= timeout:
                return None
            if self.expected is None or elapsed >= self.expected:
                not_yet = elapsed
            time.sleep(min(self.pause(elapsed), timeout - elapsed))

    def _learn(self, elapsed: float, not_yet: float | None) -> None:
        if not_yet is not None:
            self.expected = not_yet
        elif self.expected is not None:
            self.expected *= SOONER
        else:
            self.expected = elapsed
