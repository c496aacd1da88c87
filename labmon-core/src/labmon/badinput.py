"""Log bad input safely: escaped and clipped, and at most once a minute per topic with a count."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

SHOWN_CHARS = 200
"""How much of anything received from outside a log line may show."""


def shown(value: str | bytes, limit: int = SHOWN_CHARS) -> str:
    """Return `value` escaped onto one line (no control characters or escape sequences), cut to `limit` chars."""
    text = value[: limit * 4].decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    escaped = text[:limit].encode("unicode_escape").decode("ascii")
    if len(escaped) <= limit and len(text) <= limit:
        return escaped
    return f"{escaped[:limit]}... ({len(value)} {'bytes' if isinstance(value, bytes) else 'chars'})"


class Throttle:
    """Let one event per key through every `every` seconds; count the ones held back in between."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def passes(self, key: str) -> int | None:
        """Return how many events of `key` this one stands for (itself and those held back), or None to hold it."""
        now = self._clock()
        with self._lock:
            held = self._held.get(key, 0)
            if now < self._next.get(key, float("-inf")):
                self._held[key] = held + 1
                return None
            self._next[key] = now + self.every
            self._held[key] = 0
            return held + 1


class BadInput:
    """Count payloads that could not be used; log the first per topic at once, then once a minute with a count."""

    def __init__(self, log: logging.Logger, what: str, *, every: float = 60.0) -> None:
        self.count = 0
        self._log = log
        self._what = what
        self._throttle = Throttle(every)

    def report(self, topic: str, reason: str, payload: bytes) -> None:
        """Count one bad payload on `topic` and log it unless that topic was logged within the minute."""
        self.count += 1
        times = self._throttle.passes(topic)
        if times is None:
            return
        again = f" ({times} since the last report)" if times > 1 else ""
        self._log.warning(
            "ignored %s on %s%s: %s; payload %s", self._what, shown(topic), again, shown(reason), shown(payload)
        )
