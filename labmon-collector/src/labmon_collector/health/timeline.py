"""A series' time within bounds, out of them and unknown: from the buckets where they settle it, else its points."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labmon.rule_config import RuleConfig
from labmon_collector.history.reader import History, asked_rows, tick_of, times_of, written_times
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
WITH RECURSIVE asked(series) AS (VALUES {{asked}}),
starts(start) AS (SELECT :wide_first UNION ALL SELECT start + :wide FROM starts WHERE start + 2 * :wide <= :until),
offsets(k) AS (SELECT 0 UNION ALL SELECT k + :fine FROM offsets WHERE k + :fine < :wide),
wide AS (SELECT b.series, b.start, {state} AS state FROM starts CROSS JOIN asked CROSS JOIN buckets b
    ON b.width = :wide AND b.start = starts.start AND b.series = asked.series
    WHERE {complete} AND b.start + :wide <= {mark_wide} AND (SELECT COUNT(*) FROM offsets JOIN buckets f
        ON f.width = :fine AND f.start = b.start + offsets.k AND f.series = b.series
        WHERE f.n * :step >= :fine - 1.5 * :step) = :wide / :fine
),
fine(start) AS (
    SELECT :fine_first UNION ALL SELECT start + :fine FROM fine WHERE start + 2 * :fine <= :until
)
SELECT group_concat(series), group_concat(CAST(start AS INTEGER)), group_concat(width), group_concat(state, '')
FROM (
    SELECT series, start, :wide AS width, state FROM wide WHERE state IS NOT NULL
    UNION ALL
    SELECT b.series, b.start, b.width, {state} AS state FROM fine CROSS JOIN asked CROSS JOIN buckets b
        ON b.width = :fine AND b.start = fine.start AND b.series = asked.series
    WHERE NOT EXISTS (SELECT 1 FROM wide WHERE wide.series = asked.series AND wide.start = {wide_of}
        AND wide.state IS NOT NULL) AND {complete} AND b.start + :fine <= {mark_fine}
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
Buckets start on whole seconds (multiples of their width): as integers, their text is exact and quick. Each series
asked (`asked`: their ids, written in the text) is searched for at each start, in the one statement."""

POINTS = """
WITH RECURSIVE stretch(k, series, lo, hi) AS (VALUES {stretches}),
windows(k, series, lo, hi, start) AS (
    SELECT k, series, lo, hi, {first} FROM stretch UNION ALL
    SELECT k, series, lo, hi, start + {window} FROM windows WHERE start + {window} <= hi + :gap
)
SELECT {index}, group_concat({time}), group_concat(CASE WHEN p.status != 'ok' OR p.value IS NULL THEN 2
    WHEN p.value < :blo OR p.value > :bhi THEN 1 WHEN :glo <= p.value AND p.value <= :ghi THEN 0 ELSE 3 END, '')
FROM {source} AND p.t >= lo - :gap AND p.t <= hi + :gap
"""
"""The readings of `points` or `fresh` (SOURCES) in the stretches (numbered k, each of one series; with those within
a gap of either end) as texts: their stretch (`index`: only where a reading can be in two, or the stretches are of
several series), their times and their states, one digit each (error readings unknown, values between bound and
clear BETWEEN). `points` is searched by primary key window by window, from the first that holds any.
Handing SQLite's rows to Python one by one was most of a report's time."""
SOURCES = {
    "points": "windows JOIN points p ON p.start = windows.start AND p.series = windows.series",
    "fresh": "stretch JOIN fresh p ON p.series = stretch.series",
}


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
    return timelines(history, rule, {series: step}, since, until)[series]


def timelines(
    history: History, rule: RuleConfig, steps: Mapping[int, float], since: float, until: float
) -> dict[int, list[Segment]]:
    """Return the timeline of each series in `steps` (by its step) over [since, until), as `timeline` does one:
    a few statements for all the series of one step (a window's summaries: thousands of series)."""
    found: dict[int, list[Segment]] = {}
    for step in sorted(set(steps.values())):
        found |= _timelines(history, rule, sorted(s for s, its in steps.items() if its == step), since, until, step)
    return found


def _timelines(
    history: History, rule: RuleConfig, series: list[int], since: float, until: float, step: float
) -> dict[int, list[Segment]]:
    """Return the timelines of `series` (ascending), all read every `step` seconds."""
    import numpy as np

    fine, wide = BUCKET_WIDTHS
    judge = {**bounds(rule), "since": since, "until": until, "step": step}
    asked = np.array(series, np.int64)
    parts = [_settled(history, rows, {**judge, "fine": fine, "wide": wide}) for rows in asked_rows(series)]
    owner, s_start, s_stop, s_state = (np.concatenate([part[i] for part in parts]) for i in range(4))
    # the stretches between the settled ones, series by series: from `since` or a settled end to the next settled
    # start or `until`
    everyone, each = np.concatenate((asked, owner)), np.ones(len(asked))
    lo_owner, lo = _merged(everyone, np.concatenate((-np.inf * each, s_start)), np.concatenate((since * each, s_stop)))
    _, hi = _merged(everyone, np.concatenate((np.inf * each, s_start)), np.concatenate((until * each, s_start)))
    apart = hi > lo
    r_owner, r_start, r_stop, r_state = _read(
        history, lo_owner[apart], lo[apart], hi[apart], {**judge, "gap": GAP * step}, step
    )
    owners, starts = np.concatenate((owner, r_owner)), np.concatenate((s_start, r_start))
    source = np.concatenate((np.zeros(len(owner), np.int8), np.ones(len(r_owner), np.int8)))
    order = np.lexsort((source, starts, owners))  # series by series, in time order, as hysteresis goes
    owners, starts = owners[order], starts[order]
    stops: Floats = np.concatenate((s_stop, r_stop))[order]
    states = carried(np.concatenate((s_state, r_state))[order], owners)
    lines = {s: Segments(since) for s in series}
    for s, start, stop, state in zip(*runs(starts, stops, states, owners), strict=True):
        lines[s].add(start, stop, state)
    for line in lines.values():
        line.add(line.end, until, UNKNOWN)  # after the last reading: not known
    return {s: line.items for s, line in lines.items()}


def _merged(owners: Indexes, at: Floats, values: Floats) -> tuple[Indexes, Floats]:
    """Return `values` and their series (`owners`) series by series, each in the order of `at`."""
    import numpy as np

    order = np.lexsort((at, owners))
    return owners[order], values[order]


# numpy is imported in the functions that use it: a collector whose page nobody opens and which sends no digest
# never loads it (about 0.15 s of start-up here, more on a Pi).
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]
    Indexes = npt.NDArray[np.int64]
    States = npt.NDArray[np.int8]


def _settled(history: History, asked: str, judge: dict[str, float]) -> tuple[Indexes, Floats, Floats, States]:
    """Return the settled stretches of the series `asked` (`asked_rows`), merged: their series, starts, ends and
    states (series by series)."""
    import numpy as np

    starts_at = {f"{name}_first": -(-judge["since"] // judge[name]) * judge[name] for name in ("fine", "wide")}
    sql = SETTLED.format(asked=asked)
    [(owners, starts, widths, states)] = history.query(sql, {**judge, **starts_at})
    if not starts:
        return np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.int8)
    owner = np.fromstring(owners, np.int64, sep=",")
    start = np.fromstring(starts, sep=",")
    stop = start + np.fromstring(widths, sep=",")
    state = _digits(states)
    order = np.lexsort((start, owner))  # apart: no ten-minute bucket inside a two-hour one that settles
    owner, start, stop, state = owner[order], start[order], stop[order], state[order]
    new = np.ones(len(owner), bool)
    new[1:] = (owner[1:] != owner[:-1]) | (start[1:] > stop[:-1]) | (state[1:] != state[:-1])
    first = np.flatnonzero(new)
    return owner[first], start[first], np.maximum.reduceat(stop, first), state[first]


def _read(
    history: History, owner: Indexes, lo: Floats, hi: Floats, judge: dict[str, float], step: float
) -> tuple[Indexes, Floats, Floats, States]:
    """Return each reading in the stretches [lo, hi) of the series `owner` as it stands: from its time (or the
    stretch's start) to the next reading's if that comes within the gap, else for one step; clipped to its stretch.
    Their series, starts, ends and states."""
    import numpy as np

    gap = judge["gap"]
    ticks = tick_of(float(lo.min()) - gap, float(hi.max()) + gap) if len(lo) else None
    time, written = written_times(ticks, "p.t")
    # each reading read once, its time saying its stretch: one series' stretches far enough apart
    apart = bool(np.all(owner == owner[:1]) and np.all(lo[1:] - hi[:-1] > 2 * gap))
    found: list[tuple[Indexes, Floats, States]] = []
    for first in range(0, len(lo), STRETCHES_PER_READ):  # a few hundred per statement: SQLite's limit on values
        part = range(first, min(first + STRETCHES_PER_READ, len(lo)))
        values = {f"lo{i}": float(lo[i]) for i in part} | {f"hi{i}": float(hi[i]) for i in part}
        stretches = ", ".join(f"({i}, {int(owner[i])}, :lo{i}, :hi{i})" for i in part)
        for source in SOURCES.values():
            sql = POINTS.format(
                stretches=stretches,
                first=f"max({window_sql('(lo - :gap)')}, coalesce((SELECT MIN(start) FROM points), 0))",
                window=WINDOW,
                source=source,
                time=time,
                index="''" if apart else "group_concat(k)",
            )
            [(index, text, digits)] = history.query(sql, {**judge, **values, **written})
            if text:
                times = times_of(text, ticks)
                found.append((_stretches(index, times, lo - gap), times, _digits(digits)))
    if not found:
        return np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.int8)
    order = np.lexsort((np.concatenate([f[1] for f in found]), np.concatenate([f[0] for f in found])))
    inside: Indexes = np.concatenate([f[0] for f in found])[order]  # stretch by stretch, each in time order
    t: Floats = np.concatenate([f[1] for f in found])[order]
    state: States = np.concatenate([f[2] for f in found])[order]
    following = np.concatenate((t[1:], [np.inf]))
    following[:-1][inside[1:] != inside[:-1]] = np.inf  # a stretch's last reading (within a gap past its end)
    start = np.maximum(t, lo[inside])
    stop = np.minimum(np.where(following - t <= gap, following, t + step), hi[inside])
    kept = stop > start  # those before the stretch that reach into it, those in it; not those past its end
    return owner[inside][kept], start[kept], stop[kept], state[kept]


def _stretches(index: str, times: Floats, starts: Floats) -> Indexes:
    """Return each reading's stretch: from `index` (its text), else the last stretch starting (`starts`) before it."""
    import numpy as np

    if index:
        return np.fromstring(index, np.int64, sep=",")
    return (np.searchsorted(starts, times, "right") - 1).astype(np.int64)


def _digits(text: str) -> States:
    """Return one state per digit of `text`."""
    import numpy as np

    return (np.frombuffer(text.encode("ascii"), np.uint8) - ord("0")).astype(np.int8)


def carried(states: States, groups: Indexes | None = None) -> States:
    """Return the states with each BETWEEN replaced by the last decided state before it (GOOD if none), within its
    group (`groups`: each state's, ascending; one group if None)."""
    import numpy as np

    index = np.arange(len(states))
    decided = (states == GOOD) | (states == BAD)
    last = np.maximum.accumulate(np.where(decided, index, -1))
    if groups is not None and len(states):  # a decided state of an earlier group does not count
        began = np.maximum.accumulate(np.where(np.concatenate(([True], groups[1:] != groups[:-1])), index, 0))
        last = np.where(last >= began, last, -1)
    carried = np.where(last >= 0, states[np.maximum(last, 0)], GOOD)
    return np.where(states == BETWEEN, carried, states).astype(np.int8)


def runs(starts: Floats, stops: Floats, states: States, groups: Indexes | None = None) -> tuple[list[Any], ...]:
    """Return the runs of one state over contiguous time: starts, ends and states (with `groups`, each run's group
    first: runs end where the group changes)."""
    import numpy as np

    if not len(starts):
        return ([], [], []) if groups is None else ([], [], [], [])
    new = np.ones(len(starts), bool)
    new[1:] = (states[1:] != states[:-1]) | (starts[1:] != stops[:-1])
    if groups is not None:
        new[1:] |= groups[1:] != groups[:-1]
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:] - 1, [len(starts) - 1]))
    found = starts[first].tolist(), stops[last].tolist(), states[first].tolist()
    return found if groups is None else (groups[first].tolist(), *found)


STRETCHES_PER_READ = 400
"""Stretches per statement: 800 values, under the 999 an SQLite older than 3.32 allows."""
