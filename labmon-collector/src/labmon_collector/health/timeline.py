"""A series' time within bounds, out of them and unknown: from the buckets where they settle it, else its points."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from labmon.rule_config import RuleConfig
from labmon_collector.alerting.conditions import level_holds
from labmon_collector.history.reader import Buckets, History
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
    for lo, hi, state in _plan(history, series, rule, since, until, step):
        if state is None:
            _judge_points(history, series, rule, lo, hi, step, out)
        else:
            out.add(lo, hi, state)
    out.add(out.end, until, UNKNOWN)  # after the last reading: not known
    return out.items


def _plan(
    history: History, series: int, rule: RuleConfig, since: float, until: float, step: float
) -> list[tuple[float, float, int | None]]:
    """Return [since, until) as stretches in time order: settled by a bucket (GOOD or BAD), or None (read them)."""
    plan: list[tuple[float, float, int | None]] = []

    def settled(width: int, start: float, buckets: Buckets) -> int | None:
        found = buckets.rows.get(start)
        if (
            found is None
            or start < since
            or start + width > min(until, buckets.mark)
            or found[0] * step < width - step / 2
        ):
            return None
        return settles(rule, found[1], found[2])

    def add(lo: float, hi: float, state: int | None) -> None:
        if plan and plan[-1][2] is None and state is None and plan[-1][1] >= lo:
            plan[-1] = (plan[-1][0], hi, None)
        else:
            plan.append((lo, hi, state))

    fine, wide = BUCKET_WIDTHS
    coarse = history.buckets(series, wide, since, until)
    windows = [(w, settled(wide, w, coarse)) for w in _windows(since, until, wide)]
    finer = history.buckets(series, fine, since, until, within=[w for w, state in windows if state is None])
    for window, state in windows:
        if state is not None:
            add(window, window + wide, state)
            continue
        for start in _windows(max(window, since), min(window + wide, until), fine):
            add(max(start, since), min(start + fine, until), settled(fine, start, finer))
    return plan


def _windows(since: float, until: float, width: int) -> range:
    """Return the starts of the windows of `width` that overlap [since, until)."""
    return range(int(since // width * width), math.ceil(until), width)


def _judge_points(
    history: History, series: int, rule: RuleConfig, since: float, until: float, step: float, out: Segments
) -> None:
    """Add [since, until) from the readings: each valid one within or out of bounds, an error reading unknown."""
    rows = history.readings(series, since - GAP * step, until)
    active, run = out.active, None
    for i, (t, value, status, _) in enumerate(rows):
        following = rows[i + 1][0] if i + 1 < len(rows) else math.inf
        start, end = max(t, since), min(following if following - t <= GAP * step else t + step, until)
        if end <= start:
            continue
        if status != "ok" or value is None:
            state = UNKNOWN
        else:
            active = level_holds(rule, value, active)
            state = BAD if active else GOOD
        if run is not None and run[2] == state and run[1] == start:
            run = (run[0], end, state)  # one add per run, not per reading: most of a week's readings
        else:
            if run is not None:
                out.add(*run)
            run = (start, end, state)
    if run is not None:
        out.add(*run)
