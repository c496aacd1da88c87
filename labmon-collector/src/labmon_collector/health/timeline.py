"""A series' time within bounds, out of them and unknown: from the buckets where they settle it, else its points."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from labmon.rule_config import RuleConfig
from labmon_collector.alerting.conditions import level_holds
from labmon_collector.history.reader import History
from labmon_collector.history.writer import BUCKET_WIDTHS

GOOD, BAD, UNKNOWN = 0, 1, 2
Segment = tuple[float, float, int]
"""(start, end, state): a stretch of time in one state."""
GAP = 1.5
"""A point stands for the time up to the next one if that comes within GAP steps, else for one step."""


def settles(rule: RuleConfig, low: float, high: float) -> int | None:
    """Return GOOD or BAD if every value in [low, high] is that under `rule` whatever came before; else None."""
    if rule.outside is not None:
        lo, hi = rule.outside
        return GOOD if lo <= low and high <= hi else BAD if high < lo or low > hi else None
    if rule.above is not None:
        clear = rule.above if rule.clear is None else rule.clear
        return GOOD if high <= clear else BAD if low > rule.above else None
    assert rule.below is not None
    clear = rule.below if rule.clear is None else rule.clear
    return GOOD if low >= clear else BAD if high < rule.below else None


@dataclass
class Segments:
    """Builds a timeline in time order: adjacent stretches of one state merged, holes filled as unknown."""

    start: float
    items: list[Segment] = field(default_factory=list)
    active: bool = False
    """Whether the rule held at the end so far (its hysteresis judges the next value by it)."""

    @property
    def end(self) -> float:
        """Return where the timeline ends so far."""
        return self.items[-1][1] if self.items else self.start

    def add(self, start: float, end: float, state: int) -> None:
        """Append [start, end) in `state` (from the end on; a hole before it is unknown)."""
        start = max(start, self.end)
        if end <= start:
            return
        if start > self.end:
            self.add(self.end, start, UNKNOWN)
        if self.items and self.items[-1][2] == state:
            self.items[-1] = (self.items[-1][0], end, state)
        else:
            self.items.append((start, end, state))
        if state != UNKNOWN:
            self.active = state == BAD


def timeline(history: History, series: int, rule: RuleConfig, since: float, until: float, step: float) -> list[Segment]:
    """Return the timeline of `series` under `rule` over [since, until), each reading standing for `step` seconds.

    A bucket settles its window when it holds a full window's valid readings all on one side of the bounds
    (a locked laser's weeks: a few rows); any other window is judged reading by reading.
    """
    out = Segments(since)
    raw_from: float | None = None

    def read_points(upto: float) -> None:
        nonlocal raw_from
        if raw_from is not None and upto > raw_from:
            _judge_points(history, series, rule, raw_from, upto, step, out)
        raw_from = None

    def settled(width: int, start: float, buckets: dict[float, tuple[int, float, float]], mark: float) -> int | None:
        found = buckets.get(start)
        if found is None or start < since or start + width > min(until, mark) or found[0] * step < width - step / 2:
            return None
        return settles(rule, found[1], found[2])

    fine, wide = BUCKET_WIDTHS
    coarse = history.buckets(series, wide, since, until)
    for window in _windows(since, until, wide):
        state = settled(wide, window, coarse.rows, coarse.mark)
        if state is not None:
            read_points(window)
            out.add(window, window + wide, state)
            continue
        finer = history.buckets(series, fine, window, window + wide)
        for start in _windows(max(window, since), min(window + wide, until), fine):
            state = settled(fine, start, finer.rows, finer.mark)
            if state is not None:
                read_points(start)
                out.add(start, start + fine, state)
            elif raw_from is None:
                raw_from = max(start, since)
    read_points(until)
    out.add(out.end, until, UNKNOWN)  # after the last reading: not known
    return out.items


def _windows(since: float, until: float, width: int) -> range:
    """Return the starts of the windows of `width` that overlap [since, until)."""
    return range(int(since // width * width), math.ceil(until), width)


def _judge_points(
    history: History, series: int, rule: RuleConfig, since: float, until: float, step: float, out: Segments
) -> None:
    """Add [since, until) from the readings: each valid one within or out of bounds, an error reading unknown."""
    rows = history.readings(series, since - GAP * step, until)
    for i, (t, value, status, _) in enumerate(rows):
        following = rows[i + 1][0] if i + 1 < len(rows) else math.inf
        end = min(following if following - t <= GAP * step else t + step, until)
        if status != "ok" or value is None:
            out.add(t, end, UNKNOWN)
        else:
            out.add(t, end, BAD if level_holds(rule, value, out.active) else GOOD)
