"""Read configured instruments concurrently; a failing or hung instrument yields error readings."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from labmon.config import PluginEntry
from labmon.models import WHOLE_INSTRUMENT, Reading, trusted_reading
from labmon.times import format_duration

log = logging.getLogger(__name__)

Ended = Callable[["InstrumentRunner", list[Reading] | None, Exception | None, float], None]
"""Told in the runner's thread how a read ended: the runner, its readings or its exception, how long it took."""
Answer = Callable[[list[Reading], dict[str, float]], None]
"""Given every instrument's readings and how long each read that ended in time took, by instrument name."""
HUNG = "previous read still running; the instrument seems hung"
NO_THREAD = "could not start a thread to read it"
INLINE_BUDGET, OVER_BUDGET = 0.05, 3
"""An instrument that says it is `in_process` gets a thread of its own for good after OVER_BUDGET reads in a row
took longer than INLINE_BUDGET seconds (not after one: a loaded machine may hold up any thread that long)."""


class InstrumentRunner:
    """Owns one instrument: opens it on first use, reads it in a thread of its own, reopens it after a failure.

    An instrument that says it is `in_process` (it computes its readings: no I/O, no waiting) is read in the
    caller's thread instead (`inline`), once opened in its own thread, until it outgrows INLINE_BUDGET: that
    saves two thread switches per answer.
    """

    def __init__(self, entry: PluginEntry) -> None:
        self.entry = entry
        self._instrument: Any = None
        self._go = threading.Lock()  # released to start a read, or to let the thread close the instrument
        self._go.acquire()
        self._lock = threading.Lock()
        self._ended: Ended | None = None
        self._busy = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self.inline = False
        """Whether the last read showed the instrument open, `in_process` and within INLINE_BUDGET."""
        self._over_budget = 0
        """Reads in a row that took longer than INLINE_BUDGET; at OVER_BUDGET, the instrument is read in its thread."""

    def start(self, ended: Ended) -> bool:
        """Start a read that ends by calling `ended` in this runner's thread; False if the last is still running.

        Raises RuntimeError, having changed nothing, if the runner's thread cannot start (the system is out of them).
        """
        with self._lock:
            if self._busy or self._closing:
                return False
            if self._thread is None:  # daemon: a hung instrument must not keep the process from exiting
                thread = threading.Thread(target=self._run, name=f"instrument-{self.entry.name}", daemon=True)
                start_thread(thread)
                self._thread = thread
            self._busy, self._ended = True, ended
        self._go.release()
        return True

    def _run(self) -> None:
        while True:
            self._go.acquire()
            if self._closing:
                break
            readings, error, took = self._timed_read()
            with self._lock:
                ended, self._ended, self._busy = self._ended, None, False
            try:
                if ended is not None:  # may start the next read: `_go` is released before this thread waits on it
                    ended(self, readings, error, took)
            except Exception:  # a bug must not end the thread: the instrument would never be read again
                log.exception("handling the end of a read of %s failed", self.entry.name)
            if self._closing:
                break
        self._discard()

    def read_here(self) -> tuple[list[Reading] | None, Exception | None, float] | None:
        """Read an `inline` instrument in the calling thread: its readings or exception, and how long it took;
        None if its last read (in its thread, past a deadline) is still running."""
        with self._lock:
            if self._busy or self._closing:
                return None
            self._busy = True
        try:
            return self._timed_read()
        finally:
            with self._lock:
                self._busy = False
                closed_meanwhile = self._closing
            if closed_meanwhile:  # close() left waking the thread to whoever was reading
                self._go.release()

    def _timed_read(self) -> tuple[list[Reading] | None, Exception | None, float]:
        opened, started = self._instrument, time.monotonic()
        readings, error = None, None
        try:
            readings = self._read()
        except Exception as exc:
            error = exc
        took = time.monotonic() - started
        declared = getattr(self._instrument or opened, "in_process", False) is True
        if self._over_budget < OVER_BUDGET:  # once outgrown, for good
            self._over_budget = self._over_budget + 1 if declared and took > INLINE_BUDGET else 0
            if self._over_budget == OVER_BUDGET:
                log.warning(
                    "instrument %s says it is in_process, but %d reads in a row took longer than %.0f ms "
                    "(the last %.0f ms): from now on it is read in a thread of its own",
                    self.entry.name,
                    OVER_BUDGET,
                    INLINE_BUDGET * 1000,
                    took * 1000,
                )
        self.inline = declared and self._over_budget < OVER_BUDGET and self._instrument is not None
        return readings, error, took

    def _read(self) -> list[Reading]:
        try:
            if self._instrument is None:
                self._instrument = self.entry.cls(self.entry.config)
            readings = self._instrument.read()
            if not isinstance(readings, list) or not all(isinstance(r, Reading) for r in readings):
                raise TypeError(f"plugin bug: read() returned {type(readings).__name__}, not a list of Reading")
        except Exception:
            self._discard()
            raise
        name = self.entry.name  # trusted_reading, not dataclasses.replace: a fifth of the cost per reading
        return [trusted_reading(r.name, r.value, r.unit, r.status, r.error, name) for r in readings]

    def _discard(self) -> None:
        instrument, self._instrument = self._instrument, None
        if instrument is not None:
            try:
                instrument.close()
            except Exception:
                log.exception("closing instrument %s failed", self.entry.name)

    def close(self) -> None:
        """Close the instrument once any running read has ended, waiting at most the instrument's timeout."""
        with self._lock:
            self._closing = True
            thread, busy = self._thread, self._busy
        if thread is None:
            return  # never read: nothing was opened
        if not busy:
            self._go.release()
        thread.join(self.entry.timeout)


class Round:
    """One read of every instrument at once: `answer` gets the readings when the last read ends or runs out of time.

    No thread waits for the reads: the last one to end answers, in its own thread, then calls `then`; one still
    running at its deadline is ended by `expire`, which someone must call (`read_all`, the measurer's Deadlines).
    """

    def __init__(self, runners: list[InstrumentRunner], answer: Answer, then: Callable[[], None] | None = None) -> None:
        begun = time.monotonic()
        self._runners = runners
        self._answer = answer
        self._then = then
        self._lock = threading.Lock()
        self._deadlines = {runner: begun + runner.entry.timeout for runner in runners}
        """The reads still running (or not yet started), with when each runs out of time."""
        self._outcomes: dict[InstrumentRunner, list[Reading]] = {}
        self._took: dict[str, float] = {}
        self._beginner: int | None = None
        self._answered_in_begin = False

    def begin(self) -> bool:
        """Start every read; return whether the round answered already, here (then `then` is not called).

        An instrument whose last read is still running, or whose thread cannot start, gets an error reading at
        once: the round always answers, once, and only one chain of answers goes on (a raise here would leave
        the started reads to call `then` while the caller went on to the next inquiry itself).
        """
        self._beginner = threading.get_ident()
        if not self._runners:
            self._finish()
        here = [runner for runner in self._runners if runner.inline]
        for runner in self._runners:
            if runner not in here:  # `here`: `inline` may change meanwhile
                self._start(runner)
        for runner in here:  # after starting the others: they read meanwhile
            outcome = runner.read_here()
            if outcome is None:
                self._settle(runner, [_failed(runner.entry.name, HUNG)])
            else:
                self._ended(runner, *outcome)
        with self._lock:
            self._beginner = None
            return self._answered_in_begin

    def _start(self, runner: InstrumentRunner) -> None:
        """Start `runner`'s read, or settle it with an error reading if it cannot start."""
        try:
            started = runner.start(self._ended)
        except RuntimeError as exc:
            log.error("instrument %s: %s: %s", runner.entry.name, NO_THREAD, exc)
            self._settle(runner, [_failed(runner.entry.name, f"{NO_THREAD}: {exc}")])
            return
        if not started:
            self._settle(runner, [_failed(runner.entry.name, HUNG)])

    def next_deadline(self) -> float | None:
        """Return when the next running read runs out of time (monotonic), or None once the round has answered."""
        with self._lock:
            return min(self._deadlines.values(), default=None)

    def expire(self) -> None:
        """Give every read past its deadline an error reading (answering if it was the last)."""
        now = time.monotonic()
        with self._lock:
            late = [runner for runner, deadline in self._deadlines.items() if deadline <= now]
        for runner in late:
            error = f"no answer within {format_duration(runner.entry.timeout)} (instrument timeout)"
            self._settle(runner, [_failed(runner.entry.name, error)])

    def _ended(
        self, runner: InstrumentRunner, readings: list[Reading] | None, error: Exception | None, took: float
    ) -> None:
        if error is not None:
            log.warning("instrument %s failed: %s: %s", runner.entry.name, type(error).__name__, error)
            readings = [_failed(runner.entry.name, f"{type(error).__name__}: {error}")]
        assert readings is not None
        self._settle(runner, readings, took)

    def _settle(self, runner: InstrumentRunner, readings: list[Reading], took: float | None = None) -> None:
        with self._lock:
            if self._deadlines.pop(runner, None) is None:
                return  # ended after its deadline: the round has its error reading already
            self._outcomes[runner] = readings
            if took is not None:
                self._took[runner.entry.name] = took
            if self._deadlines:
                return
        self._finish()

    def _finish(self) -> None:
        with self._lock:  # answered during begin, in its thread: begin's caller goes on (no recursion per round)
            here = self._answered_in_begin = self._beginner == threading.get_ident()
        self._answer([reading for runner in self._runners for reading in self._outcomes[runner]], self._took)
        if not here and self._then is not None:
            self._then()


def start_thread(thread: threading.Thread) -> None:
    """Start `thread`: the one place the runners start theirs (a test makes it fail, as a system out of threads)."""
    thread.start()


def read_all(runners: list[InstrumentRunner]) -> list[Reading]:
    """Read every instrument at once, each within its own timeout; never raise."""
    answered = threading.Event()
    found: list[Reading] = []

    def answer(readings: list[Reading], _took: dict[str, float]) -> None:
        found.extend(readings)
        answered.set()

    reading = Round(runners, answer)
    reading.begin()
    while (deadline := reading.next_deadline()) is not None and not answered.wait(
        max(0.0, deadline - time.monotonic())
    ):
        reading.expire()
    answered.wait()  # set by now: the round answers before it has no deadline left
    return found


def _failed(instrument: str, error: str) -> Reading:
    return replace(Reading.failed(WHOLE_INSTRUMENT, error), instrument=instrument)
