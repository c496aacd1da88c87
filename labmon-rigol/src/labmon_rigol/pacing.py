"""Ask a scope again and again until something happens, paced by how long it took last time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

EARLY = 0.8
"""The first ask after this share of the last wait: acquisitions and frames take about as long each time."""
SHARE = 0.05
"""After that, ask again after this share of the time waited so far: at most 5% late, few asks."""
SOONEST = 0.0005
"""Never ask again sooner than this (seconds)."""


class Pacer:
    """Learns how long an event (an acquisition, a new screen) takes and spaces the asks accordingly."""

    def __init__(self) -> None:
        self.last: float | None = None

    def pause(self, elapsed: float) -> float:
        """Return how long to wait before the next ask, `elapsed` seconds into the wait."""
        if self.last is not None and elapsed < EARLY * self.last:
            return EARLY * self.last - elapsed
        return max(SOONEST, SHARE * elapsed)

    def until(self, ask: Callable[[], T], done: Callable[[T], bool], since: float, timeout: float) -> T | None:
        """Ask until `done` says so and return that answer; None if `timeout` seconds pass from `since` first."""
        while True:
            answer = ask()
            elapsed = time.monotonic() - since
            if done(answer):
                self.last = elapsed
                return answer
            if elapsed >= timeout:
                return None
            time.sleep(min(self.pause(elapsed), timeout - elapsed))
