"""Health summaries: each watched series' timeline per closed two-hour window, kept as the collector runs.

A report, badge, strip or digest joins the summaries of the windows it covers and computes the rest (the open
window, the edges of its range, windows without a summary) from the stored points, as it did before: the same
timeline either way. A window's timeline is the whole one's cut at its edges because a window holds whole buckets
of either width; what the cut cannot know, the hysteresis state carried in from before, is kept open (BETWEEN)
until the join.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from labmon.config import CollectorConfig
from labmon.rule_config import RuleConfig
from labmon_collector.health.timeline import BETWEEN, GOOD, UNKNOWN, Segment, bounds, carried, runs, timelines
from labmon_collector.history.reader import History, asked_rows
from labmon_collector.history.writer import BUCKET_WIDTHS, HistoryConfig
from labmon_collector.sqlitedb import transaction

log = logging.getLogger(__name__)

WIDTH = BUCKET_WIDTHS[-1]
"""Seconds per summarised window: one two-hour bucket, so no bucket straddles two windows."""
TABLE = """CREATE TABLE IF NOT EXISTS health_summaries (
    series INTEGER NOT NULL, bounds TEXT NOT NULL, step REAL NOT NULL, start REAL NOT NULL,
    readings INTEGER NOT NULL, segments TEXT NOT NULL, PRIMARY KEY (series, bounds, step, start)
) WITHOUT ROWID"""
"""One row per series, bounds, step and window: `readings` is the window's two-hour bucket's count of valid
readings when it was summarised (a batch stored later, or retention, changes it: the row is not used then);
`segments` the window's timeline as text ("start,end,state;...", the same floats back)."""
STEP_SAMPLE = 200
"""Readings whose median spacing is taken as a series' step (the collector's interval when it was recorded)."""
SPACING = 600.0
"""Seconds of readings before a window's end whose spacing is its series' step in the window's summary."""
STEP_DIGITS = 2
"""Significant digits a step is rounded to: the same step at a window's close and at a later report (a cycle's
start jitters by milliseconds), so the report finds the window's summary."""
CHECK = 60.0
"""Seconds between the summariser's looks for closed windows."""
PER_PASS = 2
"""Windows summarised per look at the most (the newest first): a restart's backfill spread over many looks."""
BACKFILL = 8 * 86400.0
"""How far back a collector summarises the closed windows it finds without a summary (a week's report)."""


def step_of(history: History, series: int, until: float, fallback: float) -> float:
    """Return the usual spacing of a series' readings before `until` (`fallback` with fewer than two), rounded."""
    return steps_of(history, [series], until, fallback)[series]


def steps_of(history: History, series: list[int], until: float, fallback: float) -> dict[int, float]:
    """Return `step_of` of each series: their last STEP_SAMPLE readings read together."""
    import numpy as np

    owner, times = history.times_before_each(series, until, STEP_SAMPLE)
    first, ends = np.searchsorted(owner, series, "left"), np.searchsorted(owner, series, "right")
    found = {}
    for s, a, b in zip(series, first.tolist(), ends.tolist(), strict=True):
        steps = np.diff(times[a:b])
        steps = steps[steps > 0]
        found[s] = _rounded(float(np.median(steps)) if len(steps) else fallback)
    return found


def _rounded(step: float) -> float:
    return float(f"{step:.{STEP_DIGITS}g}")


def window_steps(history: History, series: list[int], end: float, fallback: float) -> dict[int, float]:
    """Return each series' step at the close of the window ending at `end`, from its readings of the last SPACING
    seconds before it: their mean spacing, those more than a quarter off the median left out (a reading missed or
    late; the median if that leaves none), rounded; `step_of` for a series with fewer there.

    A window's summaries are found by the step a report takes (`step_of`, the median of a longer sample): for a
    series read at one interval the two agree; where they do not, the report judges the window from its points.
    """
    import numpy as np

    owner, times = history.times_between(series, end - SPACING, end)
    same = owner[1:] == owner[:-1]
    spacing, group = (times[1:] - times[:-1])[same], owner[1:][same]
    group, spacing = group[spacing > 0], spacing[spacing > 0]
    ids, first, many = np.unique(group, return_index=True, return_counts=True)
    spacing = spacing[np.lexsort((spacing, group))]  # each series' spacings in order: its median in the middle
    median = (spacing[first + (many - 1) // 2] + spacing[first + many // 2]) / 2
    around = np.repeat(median, many)
    near = np.abs(spacing - around) <= around / 4
    each = np.repeat(np.arange(len(ids)), many)
    total, counted = np.bincount(each, np.where(near, spacing, 0.0), len(ids)), np.bincount(each, near, len(ids))
    mean = np.where(counted > 0, total / np.maximum(counted, 1), median)  # none near it (two far apart): the median
    found = {s: _rounded(m) for s, m, n in zip(ids.tolist(), mean.tolist(), many.tolist(), strict=True) if n >= 2}
    rest = [s for s in series if s not in found]
    return found | (steps_of(history, rest, end, fallback) if rest else {})


def key(rule: RuleConfig) -> str:
    """Return the bounds and hysteresis that decide a rule's timeline, as the summaries' key."""
    b = bounds(rule)
    return ",".join(repr(b[k]) for k in ("glo", "ghi", "blo", "bhi"))


def judged(
    history: History, rule: RuleConfig, steps: dict[int, float], since: float, until: float
) -> dict[int, list[Segment]]:
    """Return each series' timeline of [since, until) with its start left open (BETWEEN) where the hysteresis
    decides it.

    Before its first reading on either side of the band, a series between bound and clear is in or out as it
    was before `since`, which this stretch cannot know: the join decides, as the whole timeline would.
    """
    found = timelines(history, rule, steps, since, until)
    b = bounds(rule)
    if (b["ghi"], b["blo"]) == (b["bhi"], b["glo"]):
        return found  # no band: nothing was judged by a state from before
    within = {s: step for s, step in steps.items() if next((x for _, _, x in found[s] if x != UNKNOWN), None) == GOOD}
    strict = timelines(history, _without_band(rule), within, since, until)  # those out first: as they are
    return found | {s: _opened(found[s], _first_agreement(found[s], strict[s])) for s in within}


def _opened(found: list[Segment], decided: float) -> list[Segment]:
    """Return the timeline with its time within bounds before `decided` in the band (BETWEEN)."""
    opened: list[Segment] = []
    for start, end, state in found:
        if start < decided and state == GOOD:
            opened.append((start, min(end, decided), BETWEEN))
            if end > decided:
                opened.append((decided, end, state))
        else:
            opened.append((start, end, state))
    return opened


def _without_band(rule: RuleConfig) -> RuleConfig:
    """Return the rule with its bound moved to its `clear`: a value in the band counts out, whatever came before."""
    if rule.above is not None:
        return replace(rule, above=rule.clear, clear=None)
    return replace(rule, below=rule.clear, clear=None)


def _first_agreement(ours: list[Segment], strict: list[Segment]) -> float:
    """Return the first time both timelines know and agree on (a reading outside the band): inf if none."""
    i = j = 0
    while i < len(ours) and j < len(strict):
        (s1, e1, a), (s2, e2, b) = ours[i], strict[j]
        if a == b and a != UNKNOWN and max(s1, s2) < min(e1, e2):
            return max(s1, s2)
        if e1 <= e2:
            i += 1
        else:
            j += 1
    return math.inf


def encode(segments: list[Segment]) -> str:
    """Return segments as text (repr: the same floats back)."""
    return ";".join(f"{s!r},{e!r},{state}" for s, e, state in segments)


def segments(history: History, series: int, rule: RuleConfig, since: float, until: float, step: float) -> list[Segment]:
    """Return the series' timeline under `rule` over [since, until): that of the whole windows it touches, clipped."""
    return segments_of(history, rule, {series: step}, since, until)[series]


def segments_of(
    history: History, rule: RuleConfig, steps: dict[int, float], since: float, until: float
) -> dict[int, list[Segment]]:
    """Return each series' timeline under `rule` over [since, until) (by its step): that of the whole windows it
    touches, clipped.

    Each closed window's comes from its summary while that still holds; the others' (the open window, windows
    without a summary) from the stored points, those of all series alike at once: the same timeline either way.
    """
    import numpy as np

    first, last = float(math.floor(since / WIDTH) * WIDTH), float(math.ceil(until / WIDTH) * WIDTH)
    stored = _stored(history, rule, steps, first, last) if since < until else {}
    parts: dict[int, list[tuple[float, str]]] = {s: [] for s in steps}
    wanted: dict[tuple[float, float], dict[int, float]] = {}  # the stretches without a summary: their series
    for s, step in steps.items():
        done = first
        for start in [*sorted(stored.get(s, {})), last]:
            if done < start:
                wanted.setdefault((done, start), {})[s] = step
            if start < last:
                parts[s].append((start, stored[s][start]))
                done = start + WIDTH
    for (done, start), its in wanted.items():  # from the points, the series of each stretch at once
        found = judged(history, rule, its, done, start) if done > first else timelines(history, rule, its, done, start)
        for s, line in found.items():
            parts[s].append((done, encode(line)))
    # all series' texts parsed at once (one number per value), then joined series by series
    texts = {s: [text for _, text in sorted(pieces) if text] for s, pieces in parts.items()}
    owners = np.repeat(np.array(list(texts), np.int64), [sum(t.count(";") + 1 for t in its) for its in texts.values()])
    lines: dict[int, list[Segment]] = {s: [] for s in steps}
    if not len(owners):
        return lines
    joined = np.fromstring(",".join(t for its in texts.values() for t in its).replace(";", ","), sep=",").reshape(-1, 3)
    state = carried(joined[:, 2].astype(np.int8), owners)
    kept = (joined[:, 1] > since) & (joined[:, 0] < until)
    start, end, state = np.maximum(joined[kept, 0], since), np.minimum(joined[kept, 1], until), state[kept]
    for s, *segment in zip(*runs(start, end, state, owners[kept]), strict=True):
        lines[s].append(tuple(segment))
    return lines


STORED = """WITH asked(series) AS (VALUES {asked})
SELECT s.series, group_concat(s.start), group_concat(s.segments, '|'), (SELECT min(
        coalesce((SELECT MIN(t) FROM points WHERE start = (SELECT MIN(start) FROM points)), 1e999),
        coalesce((SELECT MIN(t) FROM fresh), 1e999))) FROM asked CROSS JOIN health_summaries s
    ON s.series = asked.series AND s.bounds = :bounds AND s.step = :step
        AND s.start >= :first AND s.start + :width <= :last
    LEFT JOIN buckets b ON b.width = :width AND b.start = s.start AND b.series = s.series
WHERE coalesce(b.n, 0) = s.readings GROUP BY s.series"""
"""The summaries of the series' windows in [:first, :last) whose readings are still those summarised (the window's
two-hour bucket's count of valid readings), read with the buckets that vouch for them: a row per series, its
windows' starts and texts in one order; and the history's oldest reading's time (retention cuts a window mid-way,
its bucket and count staying while any of its readings is left: a summary knowing of time before it is not used)."""


def _stored(
    history: History, rule: RuleConfig, steps: dict[int, float], first: float, last: float
) -> dict[int, dict[float, str]]:
    """Return the summaries of the windows in [first, last) whose readings are still those summarised, by series and
    start."""
    if not history.query("SELECT 1 FROM sqlite_master WHERE name = 'health_summaries'", ()):
        return {}
    found: dict[int, dict[float, str]] = {}
    for step in set(steps.values()):
        its = sorted(s for s, at in steps.items() if at == step)
        for asked in asked_rows(its):
            values = {"bounds": key(rule), "step": step, "first": first, "last": last, "width": WIDTH}
            for series, starts, texts, oldest in history.query(STORED.format(asked=asked), values):
                pairs = zip(map(float, starts.split(",")), texts.split("|"), strict=True)
                found[series] = {start: text for start, text in pairs if start >= oldest or _known(text) >= oldest}
    return found


def _known(text: str) -> float:
    """Return where a summary's first time known (within bounds, out or between) begins: inf if none."""
    return next((float(seg.split(",")[0]) for seg in text.split(";") if not seg.endswith(f",{UNKNOWN}")), math.inf)


def summarize(db: sqlite3.Connection, history: History, rules: list[RuleConfig], start: float, interval: float) -> int:
    """Write the summaries of the closed window from `start` for each series each rule selects; return the rows.

    What the collector runs as a window closes (after the history's two-hour mark has passed it): each rule's series
    judged together.
    """
    oldest = history.oldest()
    if oldest is None or start + WIDTH <= oldest:  # before the first reading: nothing known, no row
        return 0
    stored = history.keys()
    selected = [[s for s, name in stored if match(name)] for match in _matchers(rules)]
    ids = sorted({s for its in selected for s in its})
    # the counts read before the timelines: a batch stored meanwhile makes them not match
    counts = dict(history.query("SELECT series, n FROM buckets WHERE width = ? AND start = ?", (WIDTH, start)))
    steps = window_steps(history, ids, start + WIDTH, interval)
    rows = []
    for rule, its in zip(rules, selected, strict=True):
        found, bounds_key = judged(history, rule, {s: steps[s] for s in its}, start, start + WIDTH), key(rule)
        for s, line in found.items():
            if line != [(start, start + WIDTH, UNKNOWN)]:  # not a row per series for the time before it began
                rows.append((s, bounds_key, steps[s], start, counts.get(s, 0), encode(line)))
    with transaction(db):
        db.executemany("INSERT OR REPLACE INTO health_summaries VALUES (?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def _matchers(rules: list[RuleConfig]) -> list[Callable[[str], object]]:
    """Return each rule's test of a series' key (`fnmatchcase`'s, compiled once: thousands of series a window)."""
    return [re.compile(fnmatch.translate(rule.select)).match for rule in rules]


def open_summaries(path: Path) -> sqlite3.Connection:
    """Open the history file at `path` for writing summaries (creating their table)."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    db.execute(TABLE)
    return db


def closed_through(history: History) -> float:
    """Return the time before which every window is closed in the history (its two-hour buckets written)."""
    rows = history.query("SELECT value FROM history_meta WHERE key = ?", (f"buckets_through_{WIDTH}",))
    return float(rows[0][0]) if rows else -math.inf


class Summarizer:
    """Summarises each window of the collector's history as it closes, in a thread of its own (never the cycle)."""

    def __init__(self, settings: CollectorConfig, clock: Callable[[], float]) -> None:
        from labmon_collector.health.report import watched

        config = next((e.config for e in settings.sinks if isinstance(e.config, HistoryConfig)), None)
        self._path = None if config is None else config.path
        self._retention = 0.0 if config is None else float(config.retention)
        self._rules = watched(settings.rules)
        self._interval = settings.interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done: set[tuple[str, float]] = set()
        """(bounds, window start) summarised."""

    def start(self) -> None:
        """Start the thread (none without a history or a rule to judge by)."""
        if self._path is not None and self._rules:
            self._thread = threading.Thread(target=self._run, name="labmon-health-summaries", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread (after the window it is on)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        assert self._path is not None
        history: History | None = None
        db: sqlite3.Connection | None = None
        while not self._stop.wait(CHECK):
            try:
                if history is None and self._path.exists():
                    history, db = History(self._path), open_summaries(self._path)
                    self._done = set(history.query("SELECT DISTINCT bounds, start FROM health_summaries", ()))
                if history is not None and db is not None:
                    self.catch_up(db, history, self._clock())
            except Exception:  # a busy or damaged file, or a bug: the windows are tried again at the next look
                log.exception("health summaries could not be written; trying again")
        if history is not None and db is not None:
            history.close()
            db.close()

    def catch_up(self, db: sqlite3.Connection, history: History, now: float) -> int:
        """Summarise up to PER_PASS closed windows of the last BACKFILL not summarised yet, the newest first."""
        closed = closed_through(history)
        oldest: float = math.floor((now - BACKFILL) / WIDTH) * WIDTH
        if self._retention:  # a window the sink's retention may begin deleting within a window's time: not kept
            oldest = max(oldest, now - self._retention + WIDTH)
        written = windows = 0
        start = closed - WIDTH
        while start >= oldest and windows < PER_PASS and not self._stop.is_set():
            todo = [rule for rule in self._rules if (key(rule), start) not in self._done]
            if todo:
                written += summarize(db, history, todo, start, self._interval)
                self._done |= {(key(rule), start) for rule in todo}
                windows += 1
            start -= WIDTH
        if windows and self._retention:
            db.execute("DELETE FROM health_summaries WHERE start < ?", (oldest,))
        return written
