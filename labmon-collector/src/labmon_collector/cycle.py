"""One round of inquiries and the replies gathered for it."""

from __future__ import annotations

import os
import threading

from labmon.messages import Inquiry
from labmon.models import Batch, Result


class Cycle:
    """Accepts exactly one result per measurer, matched by inquiry id."""

    def __init__(self, number: int, started_at: float, measurers: list[str], sender: str = "") -> None:
        self.number = number
        self.started_at = started_at
        self.inquiry = Inquiry(os.urandom(16).hex(), started_at, sender)  # as unguessable as a uuid4, a fifth the cost
        """One inquiry for every measurer: each reads only its own topic, and a large lab encodes it once."""
        self.sent_at = started_at
        """When the inquiry went out, on the collector's own clock (set when it is published)."""
        self.measurers = list(dict.fromkeys(measurers))
        self._asked = set(self.measurers)
        self.results: dict[str, Result] = {}
        self._open = threading.Lock()
        """Held until every measurer answered: released once, by the last answer's thread (a lock: the cheapest
        hand-off to the waiting cycle, which an Event's condition and waiter lock made two of)."""
        if self.measurers:
            self._open.acquire()

    def answers(self, result: Result) -> bool:
        """Return whether `result` answers this cycle's inquiry and is the first such answer."""
        return (
            result.inquiry_id == self.inquiry.id
            and result.measurer not in self.results
            and result.measurer in self._asked
        )

    def keep(self, result: Result) -> None:
        """Keep `result`, which `answers` this cycle (both under the caller's lock)."""
        self.results[result.measurer] = result
        if len(self.results) == len(self._asked):
            self._open.release()

    def wait(self, timeout: float) -> bool:
        """Wait until every measurer answered, or `timeout` seconds; return whether all did. Once per cycle."""
        return self._open.acquire(timeout=timeout)

    def batch(self, unjudged: set[str]) -> Batch:
        """Return what was gathered, in the configured measurer order; silent `unjudged` ones are disconnected."""
        order = self.measurers
        silent = [m for m in order if m not in self.results]
        return Batch(
            cycle=self.number,
            started_at=self.started_at,
            results=tuple(self.results[m] for m in order if m in self.results),
            missing=tuple(m for m in silent if m not in unjudged),
            disconnected=tuple(m for m in silent if m in unjudged),
        )
