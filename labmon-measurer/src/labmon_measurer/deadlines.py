"""End each round of reads whose instruments ran out of time, from one thread per measurer."""

from __future__ import annotations

import threading
import time

from labmon_measurer.sampling import Round


class Deadlines:
    """Wakes at the watched round's next deadline, and between rounds every `idle` seconds.

    Starting a round therefore never has to wake this thread: a round's first deadline comes at least `idle`
    (the shortest instrument timeout) after it began, so no later than the idle wake.
    """

    def __init__(self, idle: float) -> None:
        self._idle = idle
        self._changed = threading.Condition()
        self._round: Round | None = None
        self._wakes_at = 0.0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="read-deadlines", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def watch(self, reads: Round) -> None:
        """Make `reads` the round to end at its deadlines; call it before `reads.begin()`, which may answer at once."""
        deadline = reads.next_deadline()
        with self._changed:
            self._round = reads
            if deadline is not None and deadline < self._wakes_at:
                self._changed.notify()  # it sleeps past this round's deadline (rare: see the class)

    def stop(self) -> None:
        """Stop watching (the round in progress, if any, is no longer ended by its deadlines)."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._stopping:
                    return
                reads, now = self._round, time.monotonic()
                deadline = None if reads is None else reads.next_deadline()
                if deadline is None or deadline > now:
                    self._wakes_at = now + self._idle if deadline is None else deadline
                    self._changed.wait(self._wakes_at - now)
                    continue
            assert reads is not None
            reads.expire()  # outside the lock: ending the round answers, which may watch the next one
