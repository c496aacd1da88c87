"""Forecast rules: a robust line through a series' recent history, and when it will cross the rule's bound."""

from __future__ import annotations

import logging
import math
import queue
import sqlite3
import statistics
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from labmon.rule_config import RuleConfig
from labmon.times import format_duration
from labmon_collector.alerting.conditions import Observation, Row, level_holds
from labmon_collector.history.reader import HistoryWhenMade

log = logging.getLogger(__name__)

MAX_POINTS = 150
"""The history is reduced to this many chunk medians before the fit: Theil-Sen costs a pair of each two."""
MIN_POINTS = 12
Z_MIN = 3.3
"""The Mann-Kendall trend test's |Z| a fit needs before it forecasts anything (two-sided p < 0.001): noise
alone fits a slope too, and a far bound extrapolated a week ahead would be crossed by chance."""
REFRESH = 600.0
"""Seconds a series' fit is used before it is fitted again (a day's drift changes slowly)."""
PER_CYCLE = 10
"""Fits made per cycle at most when fitting in the cycle: a lab of many forecast series is refitted over several
cycles, not one (in the background, every stale fit is queued: the cycle waits for none)."""


@dataclass(frozen=True)
class Fit:
    """A line y = level + slope * (t - at), and how sure the trend is (Mann-Kendall Z)."""

    at: float
    level: float
    slope: float
    z: float

    def crossing(self, bound: float, rising: bool) -> float | None:
        """Return the seconds after `at` the line reaches `bound` going up (`rising`) or down; None if it does not."""
        if (self.level >= bound) if rising else (self.level <= bound):
            return 0.0
        if (self.slope > 0 and self.z >= Z_MIN) if rising else (self.slope < 0 and self.z <= -Z_MIN):
            return (bound - self.level) / self.slope
        return None


def theil_sen(points: list[tuple[float, float]], at: float) -> Fit | None:
    """Return the Theil-Sen line through `points` (median of pairwise slopes) and its Mann-Kendall Z."""
    n = len(points)
    if n < MIN_POINTS:
        return None
    slopes = []
    s = 0
    for i, (ti, yi) in enumerate(points):
        for tj, yj in points[i + 1 :]:
            if tj > ti:
                slopes.append((yj - yi) / (tj - ti))
            s += (yj > yi) - (yj < yi)
    if not slopes:
        return None
    slope = statistics.median(slopes)
    level = statistics.median(y - slope * (t - at) for t, y in points)
    variance = n * (n - 1) * (2 * n + 5) / 18
    z = (s - (s > 0) + (s < 0)) / math.sqrt(variance)
    return Fit(at, level, slope, z)


def reduce(points: list[tuple[float, float]], most: int = MAX_POINTS) -> list[tuple[float, float]]:
    """Return at most `most` points: the medians of time and value of consecutive equal chunks."""
    if len(points) <= most:
        return points
    size = len(points) / most
    chunks = [points[round(i * size) : round((i + 1) * size)] for i in range(most)]
    return [(statistics.median(t for t, _ in c), statistics.median(y for _, y in c)) for c in chunks if c]


def about(seconds: float) -> str:
    """Return a rough time span, e.g. "about 9 days", "about 5 hours"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 1.5 * size or unit == "minute":
            count = max(1, round(seconds / size))
            return f"about {count} {unit}{'s' if count != 1 else ''}"
    raise AssertionError("unreachable")


class Forecaster:
    """Fits forecast rules' series from the first `sqlite` sink's file, each every REFRESH: a few per cycle, or
    (`background`) in a thread of its own, a series unknown to its rule until its first fit is made."""

    def __init__(self, path: Path | None, *, background: bool = False) -> None:
        self._history = HistoryWhenMade(path)
        self._fits: dict[tuple[str, str], tuple[float, Fit | None]] = {}
        self._queued: set[tuple[str, str]] = set()
        self._todo: queue.SimpleQueue[tuple[RuleConfig, str, float] | None] | None = None
        self._worker: threading.Thread | None = None
        if background:
            self._todo = queue.SimpleQueue()
            self._worker = threading.Thread(target=self._fit_queued, name="labmon-forecasts", daemon=True)
            self._worker.start()

    def fit(self, rule: RuleConfig, series: str, now: float) -> Fit | None:
        """Return the fit of `series` over the rule's window ending at `now` (None: too little history)."""
        assert rule.forecast is not None
        history = self._history.get()
        found = history.series(series) if history is not None else []
        if history is None or len(found) != 1:
            return None
        plot = history.plot(found[0].id, now - rule.forecast, now)
        points = [(t, y) for t, y in zip(plot.t, plot.mean, strict=True) if y is not None]
        if rule.log_scale:
            points = [(t, math.log10(y)) for t, y in points if y > 0]
        if len(points) < MIN_POINTS or points[-1][0] - points[0][0] < rule.forecast / 2:
            return None
        return theil_sen(reduce(points), now)

    def observe(self, rule: RuleConfig, rows: list[Row], now: float) -> list[Observation]:
        """Return the rule's observations for this cycle's valid readings of the series it selects."""
        assert rule.forecast is not None
        bound = rule.above if rule.above is not None else rule.below
        assert bound is not None
        rising = rule.above is not None
        side = "above" if rising else "below"
        fitted = 0
        found = []
        for series, measurer, reading, _ in rows:
            assert reading.value is not None
            text = f"{bound:g} {reading.unit}".strip()
            seen = Observation(series, measurer, False, reading.value, reading.unit, "", side, bound, text)
            if level_holds(rule, reading.value, False):
                # Beyond it already: the threshold rule's job. Saying "no longer heads for it" now would be a
                # resolution at the moment things got worse: the forecast says nothing until the value is back.
                found.append(replace(seen, holds=None))
                continue
            key = (rule.name, series)
            cached = self._fits.get(key)
            stale = cached is None or now - cached[0] >= REFRESH
            if stale and self._todo is not None and key not in self._queued:
                self._queued.add(key)
                self._todo.put((rule, series, now))
            elif stale and self._todo is None and fitted < PER_CYCLE:
                fitted += 1
                cached = self._fits[key] = (now, self.fit(rule, series, now))
            if cached is None or cached[1] is None:
                found.append(Observation(series, measurer, None, reading.value, reading.unit))
                continue
            fit = cached[1]
            eta = fit.crossing(math.log10(bound) if rule.log_scale else bound, rising)
            window = format_duration(rule.forecast)
            eta = None if eta is None else max(0.0, eta - (now - fit.at))
            holds = eta is not None and eta <= rule.horizon
            detail = (
                f"in {about(eta)} (fit over {window})"
                if holds and eta is not None
                else f"fit over {window}: no crossing within {format_duration(rule.horizon)}"
            )
            found.append(replace(seen, holds=holds, detail=detail))
        return found

    def _fit_queued(self) -> None:
        """Make the queued fits, oldest first, until None comes (the worker's loop)."""
        assert self._todo is not None
        while (job := self._todo.get()) is not None:
            rule, series, now = job
            try:
                self._fits[rule.name, series] = (now, self.fit(rule, series, now))
            except sqlite3.Error as exc:  # a busy or damaged file: no fit this time, the next observe asks again
                log.warning("forecast %s of %s: the history could not be read: %s", rule.name, series, exc)
            except Exception:  # a bug must not end the worker: every forecast would keep its last fit for good
                log.exception("forecast %s of %s: the fit failed", rule.name, series)
            finally:
                self._queued.discard((rule.name, series))

    def close(self) -> None:
        """Stop the worker (after the fit it is making) and close the history."""
        if self._todo is not None and self._worker is not None:
            self._todo.put(None)
            self._worker.join(30)
        self._history.close()
