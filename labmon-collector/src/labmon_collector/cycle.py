"""One round of inquiries and the replies gathered for it."""

from __future__ import annotations

import threading
import uuid

from labmon.messages import Inquiry
from labmon.models import Batch, Result


class Cycle:
    """Accepts exactly one result per measurer, matched by inquiry id."""

    def __init__(self, number: int, started_at: float, measurers: list[str]) -> None:
        self.number = number
        self.started_at = started_at
        self.inquiries = {m: Inquiry(uuid.uuid4().hex, started_at) for m in measurers}
        self.results: dict[str, Result] = {}
        self.complete = threading.Event()
        if not measurers:
            self.complete.set()

    def accept(self, result: Result) -> bool:
        """Keep `result` if it answers this cycle's inquiry and is the first such answer."""
        inquiry = self.inquiries.get(result.measurer)
        if inquiry is None or inquiry.id != result.inquiry_id or result.measurer in self.results:
            return False
        self.results[result.measurer] = result
        if len(self.results) == len(self.inquiries):
            self.complete.set()
        return True

    def batch(self, unjudged: set[str]) -> Batch:
        """Return what was gathered, in the configured measurer order; silent `unjudged` ones are disconnected."""
        order = list(self.inquiries)
        silent = [m for m in order if m not in self.results]
        return Batch(
            cycle=self.number,
            started_at=self.started_at,
            results=tuple(self.results[m] for m in order if m in self.results),
            missing=tuple(m for m in silent if m not in unjudged),
            disconnected=tuple(m for m in silent if m in unjudged),
        )
