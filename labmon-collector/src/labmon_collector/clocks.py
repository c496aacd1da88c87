"""Each measurer's clock against the collector's, from the inquiry's round trip: readings are filed on one clock.

A Raspberry Pi has no real-time clock: booted without network it keeps a wrong time until NTP answers. The
four times of an inquiry and its result (sent and received on each side) give the measurer's offset as NTP
computes it, to within half the round trip; the reading's time is then moved onto the collector's clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from labmon.models import Result, trusted_result

SHOWN = 0.1
"""Seconds below which an offset is not shown in status: well within what a cycle's timing means."""
MAX_UNCERTAINTY = 0.5
"""Seconds of uncertainty (half the network round trip) above which an offset is not judged at all."""


@dataclass(frozen=True)
class Offset:
    """One measurer's clock offset (ahead of the collector's, seconds), its uncertainty, and when it was measured."""

    offset: float
    uncertainty: float
    at: float


def measure(result: Result, sent_at: float, arrived_at: float) -> Offset | None:
    """Return the measurer's clock offset from the inquiry's `sent_at` and the result's `arrived_at` (collector's
    clock) and the result's own two times (measurer's clock); None for a measurer too old to send them (its
    `measured_at` may be an earlier read's, so it says nothing sure) or a round trip too slow to judge by."""
    received, replied = result.received_at, result.replied_at
    if received is None or replied is None:
        return None
    offset = ((received - sent_at) + (replied - arrived_at)) / 2
    round_trip = max(0.0, (arrived_at - sent_at) - max(0.0, replied - received))
    if round_trip / 2 > MAX_UNCERTAINTY:
        return None
    return Offset(offset, round_trip / 2, arrived_at)


def on_collector_clock(result: Result, offset: Offset, arrived_at: float) -> Result:
    """Return `result` with its measured offset and its reading time on the collector's clock, never after the
    result arrived; an offset within its own uncertainty moves nothing (a read from the measurer's cache, made
    before the inquiry, keeps its earlier time)."""
    r = result
    at = r.measured_at - offset.offset if abs(offset.offset) > offset.uncertainty else r.measured_at
    filed, offset_s = min(at, arrived_at), offset.offset  # not dataclasses.replace: a third of filing an answer
    return trusted_result(
        r.inquiry_id, r.measurer, filed, r.readings, r.received_at, r.replied_at, offset_s, r.read_seconds
    )


class Clocks:
    """The latest offset of every measurer that answered with its times, for `labmon status`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offsets: dict[str, Offset] = {}

    def file(self, result: Result, sent_at: float, arrived_at: float) -> Result:
        """Measure `result`'s measurer's offset, keep it, and return the result on the collector's clock."""
        offset = measure(result, sent_at, arrived_at)
        if offset is None:
            return result  # unknown: the reading keeps the time it came with, and no clock alert is judged
        with self._lock:
            self._offsets[result.measurer] = offset
        return on_collector_clock(result, offset, arrived_at)

    def shown(self) -> dict[str, float]:
        """Return the offsets known to be off by more than their uncertainty, to a tenth of a second, by measurer."""
        with self._lock:
            known = self._offsets.items()
            return {m: round(o.offset, 1) for m, o in sorted(known) if abs(o.offset) > max(o.uncertainty, SHOWN)}

    def offsets(self) -> dict[str, Offset]:
        """Return the latest offset per measurer."""
        with self._lock:
            return dict(self._offsets)
