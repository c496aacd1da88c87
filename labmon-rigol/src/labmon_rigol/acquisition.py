"""Read many traces of one channel: a new acquisition each (`single`) or each new frame of the screen (`screen`).

Imported when a scope is opened (numpy), not with `labmon --help` or `labmon check`.

A bad trace (short or garbled block, a timeout, no trigger) is retried once, then dropped and counted.
A running scope shows a new frame only every 20-50 ms: `screen` reads are paced at that period and a frame
equal to the last one read is a repeat, never a second trace.
"""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from labmon_rigol import waveform
from labmon_rigol.pacing import Pacer
from labmon_rigol.visa import Session, VisaTimeout

Acquire = Literal["single", "screen"]


class BadTrace(Exception):
    """One trace that cannot be used; its text says why, the same for every trace that failed alike."""


class Stalled(BadTrace):
    """No block came within the VISA timeout."""


@dataclass
class TraceSet:
    """The valid traces of one read, and why the others were dropped."""

    preamble: waveform.Preamble
    volts: waveform.Traces
    dropped: Counter[str] = field(default_factory=Counter)

    def failures(self) -> str:
        """Return e.g. "3 garbled block, 1 no trigger within 1 s (trigger_timeout)", the commonest first."""
        return ", ".join(f"{n} {reason}" for reason, n in self.dropped.most_common())


@dataclass(frozen=True)
class TracePlan:
    """How to read: acquisition mode, per-trace trigger timeout, and the fraction of traces that must be valid."""

    acquire: Acquire
    trigger_timeout: float
    min_valid: float


def read_traces(
    session: Session, channel: int, count: int, points: int | None, plan: TracePlan, pacer: Pacer
) -> TraceSet:
    """Read `count` traces of `channel` in volts: new acquisitions (`single`), or new frames of a running screen.

    One query per round trip: a scope that sends each answer of a message on its own would hold the second
    until the client's delayed ACK (~40 ms). `single` leaves the scope stopped: the caller puts it back.
    """
    # The settings in the same message as a query: an unanswered write would wait out the scope's delayed ACK.
    preamble = waveform.Preamble.parse(
        session.query(f":WAV:SOUR CHAN{channel};:WAV:MODE NORM;:WAV:FORM BYTE;:WAV:PRE?")
    )
    expected = points or preamble.points
    rows = np.empty((count, expected), dtype=np.float64)
    dropped: Counter[str] = Counter()
    allowed = count - math.ceil(plan.min_valid * count)
    valid = 0
    frames = _Frames(session, expected, plan, pacer)
    attempt = frames.single if plan.acquire == "single" else frames.new
    for _ in range(count):
        raw = _twice(attempt, dropped)
        if raw is not None:
            preamble.volts(raw, out=rows[valid])
            valid += 1
        elif sum(dropped.values()) > allowed:
            break  # the reading is an error whatever the rest hold: do not wait for them
    return TraceSet(preamble, rows[:valid], dropped)


def acquire(session: Session, plan: TracePlan, pacer: Pacer) -> None:
    """Start a single acquisition and wait until it is done, asking `:TRIG:STAT?` at the pace `pacer` learnt."""
    asks = iter([":SING;:TRIG:STAT?"])
    done = pacer.until(
        lambda: session.query(next(asks, ":TRIG:STAT?")),
        lambda status: status.strip().upper() == "STOP",
        time.monotonic(),
        plan.trigger_timeout,
    )
    if done is None:
        raise BadTrace(f"no trigger within {plan.trigger_timeout:g} s (trigger_timeout)")


class _Frames:
    """Each call is a trace no other call returned: a new acquisition, or a screen that changed since the last."""

    def __init__(self, session: Session, expected: int, plan: TracePlan, pacer: Pacer) -> None:
        self.session, self.expected, self.plan, self.pacer = session, expected, plan, pacer
        self.last: waveform.Bytes | None = None
        self.since = time.monotonic()

    def single(self) -> waveform.Bytes:
        """Start a single acquisition, wait until it is done, and read its block."""
        acquire(self.session, self.plan, self.pacer)
        return _block(self.session, self.expected)

    def new(self) -> waveform.Bytes:
        """Read the screen until it differs from the last trace read (paced by the scope's frame period)."""
        last, timeout = self.last, self.plan.trigger_timeout
        if last is None:  # the screen as it is: no other call returned it
            raw: waveform.Bytes | None = _block(self.session, self.expected)
        else:
            ask = functools.partial(_block, self.session, self.expected)
            raw = self.pacer.until(ask, lambda new: not np.array_equal(new, last), self.since, timeout)
        if raw is None:
            raise BadTrace(f"no new screen within {timeout:g} s (trigger_timeout)")
        self.last, self.since = raw, time.monotonic()
        return raw


def _twice(attempt: Callable[[], waveform.Bytes], dropped: Counter[str]) -> waveform.Bytes | None:
    """Return one trace, trying twice; None (counted in `dropped` by the first reason) if both fail."""
    try:
        return attempt()
    except BadTrace as first:
        try:
            return attempt()
        except BadTrace as again:
            if isinstance(first, Stalled) and isinstance(again, Stalled):
                raise VisaTimeout(str(again)) from None  # twice in a row: gone; the measurer reopens
            dropped[str(first)] += 1
            return None


def _block(session: Session, expected: int) -> waveform.Bytes:
    """Read the screen's block, checking its length; clear what a garbled or late block leaves behind."""
    try:
        raw = session.query_block(":WAV:DATA?")
    except VisaTimeout as exc:
        session.clear()
        raise Stalled(str(exc)) from None
    except ValueError:
        session.clear()
        raise BadTrace("garbled block") from None
    if len(raw) != expected:
        raise BadTrace(f"short block (fewer than the {expected} points of the screen)")
    return raw
