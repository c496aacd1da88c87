"""A series' time within bounds, out of them and unknown: from the buckets where they settle it, else its points."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labmon.rule_config import RuleConfig
from labmon_collector.history.reader import History
from labmon_collector.history.writer import BUCKET_WIDTHS, WINDOW, window_sql

GOOD, BAD, UNKNOWN = 0, 1, 2
BETWEEN = 3
"""A value between a rule's bound and its `clear`: in or out as the last decided reading was (hysteresis)."""
Segment = tuple[float, float, int]
"""(start, end, state): a stretch of time in one state."""
GAP = 1.5
"""A point stands for the time up to the next one if that comes within GAP steps, else for one step."""
INF = math.inf

# Each statement returns one row of texts (group_concat), not a row per bucket or reading: a week of a series
# has thousands of readings in its unsettled windows, and handing them to Python one by one was most of a
# report's time. numpy reads the texts and judges the readings as arrays.
SETTLED = """
WITH RECURSIVE starts(width, start) AS (
    SELECT :wide, :wide_first UNION ALL SELECT width, start + width FROM starts WHERE start + 2 * width <= :until
),
offsets(k) AS (SELECT 0 UNION ALL SELECT k + :fine FROM offsets WHERE k + :fine < :wide),
wide AS (SELECT b.start, {state} AS state FROM starts JOIN buckets b
    ON b.width = :wide AND b.start = starts.start AND b.series = :series
    WHERE {complete} AND b.start + :wide <= {mark_wide} AND (SELECT COUNT(*) FROM offsets JOIN buckets f
        ON f.width = :fine AND f.start = b.start + offsets.k AND f.series = :series
        WHERE f.n * :step >= :fine - 1.5 * :step) = :wide / :fine
),
fine(start) AS (
    SELECT :fine_first UNION ALL SELECT start + :fine FROM fine WHERE start + 2 * :fine <= :until
)
SELECT group_concat(CAST(start AS INTEGER)), group_concat(width), group_concat(state, '') FROM (
    SELECT start, :wide AS width, state FROM wide WHERE state IS NOT NULL
    UNION ALL
    SELECT b.start, b.width, {state} AS state FROM fine JOIN buckets b
        ON b.width = :fine AND b.start = fine.start AND b.series = :series
    WHERE NOT EXISTS (SELECT 1 FROM wide WHERE wide.start = {wide_of} AND wide.state IS NOT NULL) AND {complete}
        AND b.start + :fine <= {mark_fine}
) WHERE state IS NOT NULL
""".format(
    state="CASE WHEN :glo <= b.min AND b.max <= :ghi THEN 0 WHEN b.max < :blo OR b.min > :bhi THEN 1 END",
    complete="b.start + b.width <= :until AND b.n * :step >= b.width - :step / 2.0",
    wide_of=window_sql("fine.start", BUCKET_WIDTHS[1]),
    **{
        f"mark_{name}": f"coalesce((SELECT value FROM history_meta WHERE key = 'buckets_through_' || :{name}), -1e999)"
        for name in ("fine", "wide")
    },
)
"""The complete buckets that settle their windows: a full window's valid readings all on one side of the bounds,
a two-hour one only if each of its ten-minute ones is there and at most a reading short (its count alone, with
readings denser than the step, can make up for an outage: 70 minutes read every 30 s are a full window at 60 s),
found by a primary-key search per bucket start from `since` (`fine_first`, `wide_first`): the two-hour ones,
then the ten-minute ones outside those that settle (a locked laser's weeks: a search per two hours). A width's
mark vouches for its buckets in the same statement (one read state of the file).
Buckets start on whole seconds (multiples of their width): as integers, their text is exact and quick."""

POINTS = """
WITH RECURSIVE stretch(k, lo, hi) AS (VALUES {stretches}),
windows(k, lo, hi, start) AS (
    SELECT k, lo, hi, {first} FROM stretch UNION ALL
    SELECT k, lo, hi, start + {window} FROM windows WHERE start + {window} <= hi + :gap
)
SELECT {index}, group_concat({time}), group_concat(CASE WHEN p.status != 'ok' OR p.value IS NULL THEN 2
    WHEN p.value < :blo OR p.value > :bhi THEN 1 WHEN :glo <= p.value AND p.value <= :ghi THEN 0 ELSE 3 END, '')
FROM {source} AND p.series = :series AND p.t >= lo - :gap AND p.t <= hi + :gap
"""
"""The readings of `points` or `fresh` (SOURCES) in the stretches (numbered k; with those within a gap of either
end) as texts: their stretch (`index`: only where stretches are close enough for a reading to be in two), their
times and their states, one digit each (error readings unknown, values between bound and clear BETWEEN).
`points` is searched by primary key window by window.
Handing SQLite's rows to Python one by one was most of a report's time."""
SOURCES = {
    "points": "windows JOIN points p ON p.start = windows.start",
    "fresh": "stretch JOIN fresh p ON true",
}
TICKS = "CAST((p.t - :base) * :per_tick AS INTEGER)"
"""A time as whole ticks from a base: exact when every time is a multiple of the tick (see `_tick`), and integers
are quicker to write and read than floats."""
DIGITS = "printf('%!.17g', p.t)"
"""A time as 17 digits: the same float back (for times a tick cannot hold)."""


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
        """Append [start, end) in `state` (from the end on; a hole before it is unknown; BETWEEN as the last)."""
        if state == BETWEEN:
            state = BAD if self.active else GOOD
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


def bounds(rule: RuleConfig) -> dict[str, float]:
    """Return the rule as two ranges: a value in [glo, ghi] is within it, one below blo or above bhi out of it.

    Anything else lies between the bound and `clear`, where the hysteresis keeps the state the series had.
    """
    if rule.outside is not None:
        low, high = rule.outside
        return {"glo": low, "ghi": high, "blo": low, "bhi": high}
    if rule.above is not None:
        clear = rule.above if rule.clear is None else rule.clear
        return {"glo": -INF, "ghi": clear, "blo": -INF, "bhi": rule.above}
    assert rule.below is not None
    clear = rule.below if rule.clear is None else rule.clear
    return {"glo": clear, "ghi": INF, "blo": rule.below, "bhi": INF}


def timeline(history: History, series: int, rule: RuleConfig, since: float, until: float, step: float) -> list[Segment]:
    """Return the timeline of `series` under `rule` over [since, until), each reading standing for `step` seconds.

    A bucket settles its window when it holds a full window's valid readings all on one side of the bounds
    (a locked laser's weeks: a few rows); any other stretch is judged reading by reading.
    """
    import numpy as np

    fine, wide = BUCKET_WIDTHS
    judge = {**bounds(rule), "series": series, "since": since, "until": until, "step": step}
    settled = _settled(history, {**judge, "fine": fine, "wide": wide})
    edges = np.concatenate(([since], np.column_stack(settled[:2]).ravel(), [until]))
    lo, hi = edges[0::2], edges[1::2]
    apart = hi > lo
    read = _read(history, lo[apart], hi[apart], {**judge, "gap": GAP * step}, step)
    order = np.argsort(np.concatenate((settled[0], read[0])), kind="stable")  # apart: in time order, as hysteresis goes
    starts: Floats = np.concatenate((settled[0], read[0]))[order]
    stops: Floats = np.concatenate((settled[1], read[1]))[order]
    states = carried(np.concatenate((settled[2], read[2]))[order])
    out = Segments(since)
    for start, stop, state in zip(*runs(starts, stops, states), strict=True):
        out.add(start, stop, state)
    out.add(out.end, until, UNKNOWN)  # after the last reading: not known
    return out.items


# numpy is imported in the functions that use it: a collector whose page nobody opens and which sends no digest
# never loads it (about 0.15 s of start-up here, more on a Pi).
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]
    Indexes = npt.NDArray[np.intp]
    States = npt.NDArray[np.int8]


def _settled(history: History, judge: dict[str, float]) -> tuple[Floats, Floats, States]:
    """Return the settled stretches, merged: starts, ends and states."""
    import numpy as np

    starts_at = {f"{name}_first": -(-judge["since"] // judge[name]) * judge[name] for name in ("fine", "wide")}
    [(starts, widths, states)] = history.query(SETTLED, {**judge, **starts_at})
    if not starts:
        return np.empty(0), np.empty(0), np.empty(0, np.int8)
    start = np.fromstring(starts, sep=",")
    stop = start + np.fromstring(widths, sep=",")
    state = _digits(states)
    order = np.lexsort((-stop, start))  # a two-hour bucket before the ten-minute ones inside it (the same state)
    start, stop, state = start[order], stop[order], state[order]
    reach = np.concatenate(([-np.inf], np.maximum.accumulate(stop)[:-1]))
    first = np.flatnonzero((start > reach) | (state != np.concatenate(([-1], state[:-1]))))
    return start[first], np.maximum.reduceat(stop, first), state[first]


def _read(
    history: History, lo: Floats, hi: Floats, judge: dict[str, float], step: float
) -> tuple[Floats, Floats, States]:
    """Return each reading in the stretches [lo, hi) as it stands: from its time (or the stretch's start) to the
    next reading's if that comes within the gap, else for one step; clipped to its stretch."""
    import numpy as np

    gap = judge["gap"]
    ticks = _tick(float(lo[0]) - gap, float(hi[-1]) + gap) if len(lo) else None
    base, tick = ticks or (0.0, 1.0)
    apart = bool(np.all(lo[1:] - hi[:-1] > 2 * gap))  # each reading read once: its time says its stretch
    found: list[tuple[Indexes, Floats, States]] = []
    for first in range(0, len(lo), STRETCHES_PER_READ):  # a few hundred per statement: SQLite's limit on values
        part = range(first, min(first + STRETCHES_PER_READ, len(lo)))
        values = {f"lo{i}": float(lo[i]) for i in part} | {f"hi{i}": float(hi[i]) for i in part}
        stretches = ", ".join(f"({i}, :lo{i}, :hi{i})" for i in part)
        for source in SOURCES.values():
            time = DIGITS if ticks is None else TICKS
            sql = POINTS.format(
                stretches=stretches,
                first=window_sql("(lo - :gap)"),
                window=WINDOW,
                source=source,
                time=time,
                index="''" if apart else "group_concat(k)",
            )
            [(index, text, digits)] = history.query(sql, {**judge, **values, "base": base, "per_tick": 1 / tick})
            if text:
                times: Floats = (
                    np.fromstring(text, np.int64, sep=",").astype(np.float64) * tick + base
                    if ticks
                    else np.fromstring(text, sep=",")
                )
                found.append((_stretches(index, times, lo - gap), times, _digits(digits)))
    if not found:
        return np.empty(0), np.empty(0), np.empty(0, np.int8)
    order = np.lexsort((np.concatenate([f[1] for f in found]), np.concatenate([f[0] for f in found])))
    inside: Indexes = np.concatenate([f[0] for f in found])[order]  # stretch by stretch, each in time order
    t: Floats = np.concatenate([f[1] for f in found])[order]
    state: States = np.concatenate([f[2] for f in found])[order]
    following = np.concatenate((t[1:], [np.inf]))
    following[:-1][inside[1:] != inside[:-1]] = np.inf  # a stretch's last reading (within a gap past its end)
    start = np.maximum(t, lo[inside])
    stop = np.minimum(np.where(following - t <= gap, following, t + step), hi[inside])
    kept = stop > start  # those before the stretch that reach into it, those in it; not those past its end
    return start[kept], stop[kept], state[kept]


def _stretches(index: str, times: Floats, starts: Floats) -> Indexes:
    """Return each reading's stretch: from `index` (its text), else the last stretch starting (`starts`) before it."""
    import numpy as np

    if index:
        return np.fromstring(index, np.int64, sep=",").astype(np.intp)
    return np.searchsorted(starts, times, "right") - 1


def _tick(low: float, high: float) -> tuple[float, float] | None:
    """Return a base and a tick (a power of two) such that every float in [low, high] is the base plus whole ticks,
    exactly (the tick: the spacing of floats at `low`, which those above are multiples of); None if none fits."""
    if low <= 0 or not math.isfinite(high):
        return None
    tick = math.ulp(low)
    return (low, tick) if (high - low) / tick < 2**52 else None


def _digits(text: str) -> States:
    """Return one state per digit of `text`."""
    import numpy as np

    return (np.frombuffer(text.encode("ascii"), np.uint8) - ord("0")).astype(np.int8)


def carried(states: States) -> States:
    """Return the states with each BETWEEN replaced by the last decided state before it (GOOD if none)."""
    import numpy as np

    decided = (states == GOOD) | (states == BAD)
    last = np.maximum.accumulate(np.where(decided, np.arange(len(states)), -1))
    carried = np.where(last >= 0, states[np.maximum(last, 0)], GOOD)
    return np.where(states == BETWEEN, carried, states).astype(np.int8)


def runs(starts: Floats, stops: Floats, states: States) -> tuple[list[float], list[float], list[int]]:
    """Return the runs of one state over contiguous time: starts, ends and states."""
    import numpy as np

    if not len(starts):
        return [], [], []
    new = np.ones(len(starts), bool)
    new[1:] = (states[1:] != states[:-1]) | (starts[1:] != stops[:-1])
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:] - 1, [len(starts) - 1]))
    return starts[first].tolist(), stops[last].tolist(), states[first].tolist()


STRETCHES_PER_READ = 400
"""Stretches per statement: 800 values, under the 999 an SQLite older than 3.32 allows."""
