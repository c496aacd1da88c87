"""What changed before an alert: the lab's series ranked by how far they moved against their usual variation."""

from __future__ import annotations

import math
import statistics
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labmon.models import Alert
from labmon.rule_config import selector_covers
from labmon_collector.history.reader import HistoryWhenMade
from labmon_collector.history.writer import BUCKET_WIDTHS

RECENT = 300.0
"""The change of a series: the mean of its readings in the RECENT seconds before the alert (a cause moves minutes
before) less the mean of the WINDOW before those."""
WINDOW = 600.0
BASELINE = 86400.0
"""Its usual variation: the changes between consecutive ten-minute means over this long before."""
FINE = BUCKET_WIDTHS[0]
Z_NAMED = 5.0
"""A change is named only beyond this robust z-score (on the synthetic lab of bench/changes.py, no series of
pure noise reached it)."""
NAMED = 3
DEADLINE = 0.2
"""Seconds a cycle's notifications are held for the rankings of its new alerts, made in a thread of their own
(the cycle goes on; one takes tens of milliseconds on bench/changes.py's lab, a 1,000-series lab about 1 s): an
alert whose ranking is not done by then goes out without it and says so; one not yet begun is dropped, never
sent late."""
MAD_SIGMA = 1.4826
"""The MAD of Gaussian noise times this is its standard deviation."""


@dataclass(frozen=True)
class Change:
    """How far a series moved before an alert, and how unusual that is for it."""

    series: str
    change: float
    unit: str
    z: float

    def text(self) -> str:
        """Return e.g. "table1/room/temperature +0.8 K (5.1 sigma)"."""
        return f"{self.series} {self.change:+.3g} {self.unit}".rstrip() + f" ({abs(self.z):.1f} sigma)"


def robust_z(change: float, usual: list[float]) -> float | None:
    """Return how many robust standard deviations (median and MAD of `usual`) `change` is off; None without any."""
    if len(usual) < 12:
        return None
    middle = statistics.median(usual)
    scale = MAD_SIGMA * statistics.median(abs(u - middle) for u in usual)
    if scale <= 0:
        scale = math.sqrt(math.pi / 2) * statistics.fmean(abs(u - middle) for u in usual)  # mostly constant
    return None if scale <= 0 else (change - middle) / scale


class Changes:
    """Ranks the series of the first `sqlite` sink's file (opened once it exists) at an alert, here or in its worker."""

    def __init__(self, path: Path | None) -> None:
        self._history = HistoryWhenMade(path)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labmon-changes")

    def submit(self, alert: Alert) -> Future[list[Change]]:
        """Rank what changed before `alert` in the worker."""
        return self._worker.submit(self.before, alert.series, alert.since)

    def before(self, alerted: str, at: float) -> list[Change]:
        """Return up to NAMED series other than `alerted` whose change before `at` is beyond Z_NAMED, largest first."""
        history = self._history.get()
        if history is None:
            return []
        found = []
        for info in history.series():
            if selector_covers(alerted, info.key):
                continue
            then, now = history.means(info.id, at - RECENT - WINDOW, at - RECENT, at)
            if now is None or then is None:
                continue
            z = robust_z(now - then, history.steps(info.id, FINE, at - BASELINE, at - RECENT - WINDOW))
            if z is not None and abs(z) >= Z_NAMED:
                found.append(Change(info.key, now - then, info.unit, z))
        return sorted(found, key=lambda c: -abs(c.z))[:NAMED]

    def close(self) -> None:
        """Drop the rankings not begun, wait for the one under way; close the history."""
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._history.close()


def before_text(changes: list[Change]) -> str:
    """Return "before it: A +0.8 K (5.1 sigma), B -3.2 V (4.0 sigma)", or "" when nothing stood out."""
    return "before it: " + ", ".join(c.text() for c in changes) if changes else ""
