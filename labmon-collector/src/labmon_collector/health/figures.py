"""A timeline's figures per period: time within bounds, out of them and unknown; excursions and the gaps between."""

from __future__ import annotations

import bisect
import itertools
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from labmon_collector.health.timeline import BAD, GOOD, UNKNOWN, Segment

Period = Literal["day", "week"]


@dataclass(frozen=True)
class Excursion:
    """A run out of bounds: from its first reading out to the last, unknown stretches inside it not counted."""

    start: float
    end: float
    out: float
    """Seconds known to be out of bounds."""


@dataclass(frozen=True)
class Figures:
    """One series' figures over one period (the part of it the report covers)."""

    period: Period
    start: float
    end: float
    good: float
    out: float
    unknown: float
    excursions: int
    median_excursion: float | None
    longest_excursion: float | None
    median_between: float | None
    shortest_between: float | None

    @property
    def uptime(self) -> float:
        """Return the fraction of the period known to be within bounds (unknown time is not)."""
        return self.good / (self.end - self.start) if self.end > self.start else 0.0


def excursions(segments: list[Segment]) -> list[Excursion]:
    """Return the excursions: runs of out-of-bounds time that only unknown time interrupts."""
    found: list[Excursion] = []
    current: Excursion | None = None
    for start, end, state in segments:
        if state == BAD:
            current = Excursion(start, end, end - start) if current is None else (
                Excursion(current.start, end, current.out + end - start)
            )  # fmt: skip
        elif state == GOOD and current is not None:
            found.append(current)
            current = None
    return found if current is None else [*found, current]


def periods(since: float, until: float, tz: tzinfo, period: Period) -> list[tuple[float, float]]:
    """Return the days (local midnight to midnight) or weeks (from Monday) in `tz` overlapping [since, until)."""
    first = datetime.fromtimestamp(since, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        first -= timedelta(days=first.weekday())
    days = 7 if period == "week" else 1
    found: list[tuple[float, float]] = []
    day = first.replace(tzinfo=None)
    while True:
        start = day.replace(tzinfo=tz).timestamp()  # wall-clock midnights: a day of a DST change is 23 or 25 hours
        if start >= until:
            return found
        day += timedelta(days=days)
        end = day.replace(tzinfo=tz).timestamp()
        found.append((max(start, since), min(end, until)))


def figures(segments: list[Segment], spans: list[tuple[float, float]], period: Period) -> list[Figures]:
    """Return each span's figures: times clipped to it; an excursion counts where it begins, a gap where it ends."""
    return figures_each(segments, (spans, period))[0]


def figures_each(segments: list[Segment], *asked: tuple[list[tuple[float, float]], Period]) -> list[list[Figures]]:
    """Return `figures` for each of the asked spans and periods (the days and the weeks of one timeline: its
    excursions found once)."""
    runs = excursions(segments)
    began = [run.start for run in runs]  # in time order: a span's runs (and the gaps ending them) found by halving
    gaps = [later.start - earlier.end for earlier, later in itertools.pairwise(runs)]
    ends = [e for _, e, _ in segments]  # in time order, apart: a span's segments follow the first ending in it
    found = []
    for spans, period in asked:
        out = []
        for start, end in spans:
            times = [0.0, 0.0, 0.0]
            for s, e, state in itertools.islice(segments, bisect.bisect_right(ends, start), None):
                if s >= end:
                    break
                times[state] += min(e, end) - max(s, start)
            first, last = bisect.bisect_left(began, start), bisect.bisect_left(began, end)
            durations = [run.out for run in runs[first:last]]
            between = gaps[max(first - 1, 0) : max(last - 1, 0)]
            out.append(
                Figures(
                    period, start, end, times[GOOD], times[BAD], times[UNKNOWN], len(durations),
                    statistics.median(durations) if durations else None, max(durations, default=None),
                    statistics.median(between) if between else None, min(between, default=None),
                )
            )  # fmt: skip
        found.append(out)
    return found
