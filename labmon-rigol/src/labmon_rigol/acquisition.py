"""Read many traces of one channel: a new acquisition each (`single`) or the screen as it is (`screen`).

Imported when a scope is opened (numpy), not with `labmon --help` or `labmon check`.

A bad trace (short or garbled block, a timeout, no trigger) is retried once, then dropped and counted.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from labmon_rigol import waveform
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


def read_traces(session: Session, channel: int, count: int, points: int | None, plan: TracePlan) -> TraceSet:
    """Read `count` traces of `channel` in volts, restoring the scope's run/stop state afterwards."""
    # One message each: separate unanswered writes would each wait out the scope's delayed ACK (~40 ms),
    # and in screen mode the first block comes in the same exchange as the scaling.
    settings = f":WAV:SOUR CHAN{channel};:WAV:MODE NORM;:WAV:FORM BYTE"
    single = plan.acquire == "single"
    session.write(f"{settings};:TRIG:STAT?;:WAV:PRE?" if single else f"{settings};:WAV:PRE?;:WAV:DATA?")
    was_running = single and session.read(":TRIG:STAT?").strip().upper() != "STOP"
    preamble = waveform.Preamble.parse(session.read(":WAV:PRE?"))
    expected = points or preamble.points
    rows = np.empty((count, expected), dtype=np.float64)
    dropped: Counter[str] = Counter()
    allowed = count - math.ceil(plan.min_valid * count)
    valid = 0
    pending = not single  # the first screen block is on its way already

    def attempt() -> waveform.Bytes:
        nonlocal pending
        send, pending = not pending, False
        return _trace(session, expected, plan) if single else _block(session, expected, send=send)

    try:
        for _ in range(count):
            raw = _twice(attempt, dropped)
            if raw is not None:
                preamble.volts(raw, out=rows[valid])
                valid += 1
            elif sum(dropped.values()) > allowed:
                break  # the reading is an error whatever the rest hold: do not wait for them
    finally:
        if single:  # people watch that screen; a query, so the next command need not wait out a delayed ACK
            session.query(":RUN;:TRIG:STAT?" if was_running else ":STOP;:TRIG:STAT?")  # STOP: disarm a missed trigger
    return TraceSet(preamble, rows[:valid], dropped)


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


def _trace(session: Session, expected: int, plan: TracePlan) -> waveform.Bytes:
    """Start a single acquisition, wait until it is done, and read its block."""
    deadline = time.monotonic() + plan.trigger_timeout
    status = session.query(":SING;:TRIG:STAT?")
    while status.strip().upper() != "STOP":
        if time.monotonic() > deadline:
            raise BadTrace(f"no trigger within {plan.trigger_timeout:g} s (trigger_timeout)")
        status = session.query(":TRIG:STAT?")
    return _block(session, expected)


def _block(session: Session, expected: int, *, send: bool = True) -> waveform.Bytes:
    """Read the screen's block, checking its length; clear what a garbled or late block leaves behind."""
    try:
        raw = session.query_block(":WAV:DATA?") if send else session.read_block(":WAV:DATA?")
    except VisaTimeout as exc:
        session.clear()
        raise Stalled(str(exc)) from None
    except ValueError:
        session.clear()
        raise BadTrace("garbled block") from None
    if len(raw) != expected:
        raise BadTrace(f"short block (fewer than the {expected} points of the screen)")
    return raw
