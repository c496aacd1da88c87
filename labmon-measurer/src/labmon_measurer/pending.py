"""The inquiries waiting for an answer: the newest of each sender, the collector's before anyone else's."""

from __future__ import annotations

from labmon.messages import Inquiry

MAX_SENDERS = 64
"""Senders remembered at once: a flood under ever new names displaces only the oldest stranger."""


class Pending:
    """Keeps the newest inquiry per sender; `take` gives the collector's first, then the others oldest first.

    With one slot for everyone, a stranger publishing inquiries faster than a slow instrument reads
    displaced the collector's every time, and the collector found the measurer missing. Not thread-safe:
    the measurer holds its lock around every call.
    """

    def __init__(self, first: str) -> None:
        self.first = first
        self._waiting: dict[str, Inquiry] = {}

    def add(self, inquiry: Inquiry) -> bool:
        """Queue `inquiry`; return whether it displaced one that was never answered."""
        displaced = self._waiting.pop(inquiry.sender, None) is not None
        if len(self._waiting) >= MAX_SENDERS:
            stranger = next(sender for sender in self._waiting if sender != self.first)
            del self._waiting[stranger]
            displaced = True
        self._waiting[inquiry.sender] = inquiry
        return displaced

    def take(self) -> Inquiry | None:
        """Return the next inquiry to answer (the collector's if one waits), or None."""
        if self.first in self._waiting:
            return self._waiting.pop(self.first)
        if not self._waiting:
            return None
        return self._waiting.pop(next(iter(self._waiting)))
