"""Read the SQLite history for plots and exports: one series at a time, raw or in buckets."""

from __future__ import annotations

import fnmatch
import itertools
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labmon_collector.history.writer import BUCKET_WIDTHS, WINDOW, bucket_marks, open_history, window_of
from labmon_collector.sqlitedb import table_names

RAW_SPAN = 6 * 3600.0
"""Ranges up to this many seconds are plotted from the raw readings; longer ones from buckets."""
SPARK_POINTS = 120
EVER = 2.0**62
"""Seconds further than any history reaches (a window start SQLite and Python both hold exactly)."""

# One series' points: a primary-key search of `points` per window from the later of the asked start and the file's
# first window to the earlier of the asked end and the series' last window (`ends`; back at most :back from it),
# and its points in `fresh`. One statement: one state of the file, whatever the sink closes meanwhile.
POINTS = f"""WITH RECURSIVE bounds(lo, hi) AS (SELECT max(:first, (SELECT MIN(start) FROM points), hi - :back), hi
        FROM (SELECT min(:last, (SELECT start FROM ends WHERE series = :series)) AS hi)),
    ws(start) AS (SELECT lo FROM bounds WHERE lo <= hi UNION ALL
        SELECT start + {WINDOW} FROM ws WHERE start + {WINDOW} <= (SELECT hi FROM bounds))
SELECT {{columns}} FROM (
    SELECT p.t, p.value, p.status, p.error FROM ws JOIN points p
        ON p.start = ws.start AND p.series = :series AND p.t >= :since AND p.t <= :until
    UNION ALL SELECT t, value, status, error FROM fresh WHERE series = :series AND t >= :since AND t <= :until
) {{rest}}"""
# One series' buckets of one width: a primary-key search per bucket start, from :first to :last.
BUCKETS = """WITH RECURSIVE ws(start) AS (
    SELECT lo FROM (SELECT max(:first, (SELECT MIN(start) FROM buckets WHERE width = :width)) AS lo) WHERE lo <= :last
    UNION ALL SELECT start + :width FROM ws WHERE start + :width <= :last)
SELECT b.start, {columns} FROM ws JOIN buckets b ON b.width = :width AND b.start = ws.start AND b.series = :series
ORDER BY b.start"""

# Many series' times in [:first, :until) (:first a window start): a primary-key search of `points` per window and
# series, and their points in `fresh`. One statement; times as TICKS (or DIGITS where no tick fits).
TIMES = f"""WITH RECURSIVE asked(series) AS (VALUES {{asked}}),
    ws(start) AS (SELECT :first WHERE :first < :until UNION ALL SELECT start + {WINDOW} FROM ws
        WHERE start + {WINDOW} < :until)
SELECT group_concat(series), group_concat({{time}}) FROM (
    SELECT p.series, p.t FROM ws CROSS JOIN asked CROSS JOIN points p
        ON p.start = ws.start AND p.series = asked.series WHERE p.t < :until
    UNION ALL SELECT f.series, f.t FROM asked CROSS JOIN fresh f ON f.series = asked.series
        WHERE f.t >= :first AND f.t < :until
)"""
TICKS = "CAST(({t} - :base) * :per_tick AS INTEGER)"
"""A time as whole ticks from a base: exact when every time is a multiple of the tick (see `tick_of`), and integers
are quicker to write and read than floats."""
DIGITS = "printf('%!.17g', {t})"
"""A time as 17 digits: the same float back (for times a tick cannot hold)."""
OLDEST = """SELECT min(coalesce((SELECT MIN(start) FROM points), 1e999), coalesce((SELECT MIN(t) FROM fresh), 1e999))"""
"""A time at or before the history's first reading (inf: none)."""
SERIES_PER_READ = 2000
"""Series per statement of TIMES (their ids are in its text)."""
BACK = 4 * WINDOW
"""Seconds before the window of `until` in which `times_before_each` looks for all series at once."""

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Ids = npt.NDArray[np.int64]
    Times = npt.NDArray[np.float64]


def asked_rows(series: Sequence[int]) -> Iterator[str]:
    """Yield the series' ids as the rows of a statement's `VALUES`, SERIES_PER_READ to a statement (their ids are
    in its text: a statement's parameters are too few for thousands)."""
    for first in range(0, len(series), SERIES_PER_READ):
        yield ", ".join(f"({int(s)})" for s in series[first : first + SERIES_PER_READ])


def written_times(ticks: tuple[float, float] | None, column: str) -> tuple[str, dict[str, float]]:
    """Return how a statement writes the times of `column`: as TICKS from `ticks` (a base and a tick, `tick_of`),
    or as DIGITS without them; and the statement's values for it."""
    if ticks is None:
        return DIGITS.format(t=column), {}
    base, tick = ticks
    return TICKS.format(t=column), {"base": base, "per_tick": 1 / tick}


def times_of(text: str, ticks: tuple[float, float] | None) -> Times:
    """Return the times a statement wrote as `written_times` with the same `ticks` says, from their text."""
    import numpy as np

    if ticks is None:
        return np.fromstring(text, sep=",")
    base, tick = ticks
    return np.fromstring(text, np.int64, sep=",").astype(np.float64) * tick + base


def tick_of(low: float, high: float) -> tuple[float, float] | None:
    """Return a base and a tick (a power of two) such that every float in [low, high] is the base plus whole ticks,
    exactly (the tick: the spacing of floats at `low`, which those above are multiples of); None if none fits."""
    if low <= 0 or not math.isfinite(high):
        return None
    tick = math.ulp(low)
    return (low, tick) if (high - low) / tick < 2**52 else None


def point_span(series: int, since: float, until: float, back: float = EVER) -> dict[str, float]:
    """Return the parameters of POINTS (a statement's named values) for one series' points in [since, until]."""
    first, last = (window_of(min(max(t, -EVER), EVER)) for t in (since, until))
    return {"series": series, "since": since, "until": until, "first": first, "last": last, "back": back}


def bucket_span(series: int, width: int, first: float, last: float) -> dict[str, float]:
    """Return the parameters of BUCKETS for one series' buckets of `width` starting in [first, last] (any floats)."""
    first, last = max(first, -EVER), min(last, EVER)
    return {"series": series, "width": width, "first": -(-first // width) * width, "last": last // width * width}


@dataclass(frozen=True)
class SeriesInfo:
    """One stored series and its latest reading."""

    id: int
    key: str
    measurer: str
    unit: str
    last_at: float | None
    last_value: float | None
    last_status: str | None
    last_error: str | None


@dataclass(frozen=True)
class Plot:
    """Columns for a plot: times and mean (None = a gap), with min and max where downsampled."""

    resolution: float
    t: list[float]
    mean: list[float | None]
    low: list[float | None]
    high: list[float | None]
    bucketed: bool = False


@dataclass(frozen=True)
class MeasurerCounts:
    """How often a measurer answered or stayed silent, and when it last answered."""

    name: str
    answered: int
    missing: int
    last_answer: float | None


@dataclass(frozen=True)
class Buckets:
    """A series' complete buckets of one width by start: (readings, min, max, sum) of its valid values."""

    mark: float
    """Every point before this time is in the width's buckets."""
    rows: dict[float, tuple[int, float, float, float]]


class History:
    """A read connection to a history file (migrated to the series layout on first open)."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(f"no history at {path}")
        try:
            tables = table_names(path)
        except ValueError as exc:
            raise ValueError(f"{path} is not a labmon history ({exc})") from None
        if not tables & {"series", "readings"}:
            raise ValueError(f"{path} is not a labmon history (no readings in it)")
        self._db = open_history(path)
        self._lock = threading.Lock()

    def series(self, selector: str = "*") -> list[SeriesInfo]:
        """Return the series whose measurer/instrument/reading matches `selector` (`*` wildcards)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, measurer || '/' || instrument || '/' || name, measurer, unit, last_at, last_value,"
                " last_status, last_error FROM latest ORDER BY measurer, instrument, name"
            ).fetchall()
        return [SeriesInfo(*row) for row in rows if fnmatch.fnmatchcase(row[1], selector)]

    def keys(self) -> list[tuple[int, str]]:
        """Return each series' id and key (measurer/instrument/reading), without its latest reading (quick)."""
        return self.query("SELECT id, measurer || '/' || instrument || '/' || name FROM series ORDER BY id", ())

    def readings(self, series: int, since: float, until: float) -> list[tuple[float, float | None, str, str | None]]:
        """Return (time, value, status, error) of one series from `since` to `until`."""
        with self._lock:
            return self._db.execute(
                POINTS.format(columns="t, value, status, error", rest="ORDER BY t"), point_span(series, since, until)
            ).fetchall()

    def plot(self, series: int, since: float, until: float) -> Plot:
        """Return the plot of one series: raw readings for short ranges, min/max/mean buckets for long ones."""
        span = until - since
        if span <= RAW_SPAN:
            rows = [(t, v, v, v) for t, v, _, _ in self.readings(series, since, until)]
            return _with_gaps(0.0, rows)
        width = next((w for w in BUCKET_WIDTHS if span / w <= 2000), BUCKET_WIDTHS[-1])
        fine = BUCKET_WIDTHS[0]
        columns = "b.n, b.min, b.max, b.sum"
        with self._lock, self._db:
            # one read transaction: a window the sink closes meanwhile must not be read both ways
            self._db.execute("BEGIN")
            marks = bucket_marks(self._db)
            # a width's buckets count before its mark only: the sink writes a window's while it closes it
            mark = marks.get(width, since - width)
            parts = self._db.execute(
                BUCKETS.format(columns=columns), bucket_span(series, width, since - width, min(until, mark - width))
            ).fetchall()
            if width != fine:  # after this width's mark: its ten-minute buckets
                parts += self._db.execute(
                    BUCKETS.format(columns=columns),
                    bucket_span(series, fine, max(since - width, mark), min(until, marks.get(fine, 0.0) - fine)),
                ).fetchall()
            # after the ten-minute mark: the points, not in any bucket yet
            parts += self._db.execute(
                POINTS.format(columns="t, 1, value, value, value", rest="WHERE status = 'ok'"),
                point_span(series, max(since - width, marks.get(fine, since - width)), until),
            ).fetchall()
        buckets: dict[float, tuple[int, float, float, float]] = {}
        for start, n, low, high, total in parts:
            key = start // width * width
            if key in buckets:
                was_n, was_low, was_high, was_total = buckets[key]
                n, low, high, total = was_n + n, min(was_low, low), max(was_high, high), was_total + total
            buckets[key] = (n, low, high, total)
        rows = [(start + width / 2.0, total / n, low, high) for start, (n, low, high, total) in sorted(buckets.items())]
        return replace(_with_gaps(float(width), rows), bucketed=True)

    def query(self, sql: str, params: Sequence[object] | Mapping[str, object]) -> list[tuple[Any, ...]]:
        """Return the rows of one read-only statement (one statement reads one consistent state of the file)."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def means(self, series: int, since: float, split: float, until: float) -> tuple[float | None, float | None]:
        """Return the mean valid value of one series in [since, split) and in [split, until) (None: no valid value)."""
        with self._lock:
            before, after = self._db.execute(
                POINTS.format(
                    columns="AVG(CASE WHEN t < :split THEN value END), AVG(CASE WHEN t >= :split THEN value END)",
                    rest="WHERE status = 'ok' AND t < :until",
                ),
                {**point_span(series, since, until), "split": split},
            ).fetchone()
        return before, after

    def steps(self, series: int, width: int, since: float, until: float) -> list[float]:
        """Return the changes of one series' mean from each complete bucket of `width` in [since, until) to the next."""
        with self._lock, self._db:
            self._db.execute("BEGIN")  # the mark and the buckets it vouches for, read together
            mark = bucket_marks(self._db).get(width, -EVER)
            last = min(-(-until // width) * width, mark) - width  # starts before `until`, ends by the mark
            rows = self._db.execute(
                BUCKETS.format(columns="b.sum / b.n"), bucket_span(series, width, since, last)
            ).fetchall()
        # the differences here, not with SQLite's LAG(): its window functions took most of a ranking's time
        return [mean - was for (at, was), (start, mean) in itertools.pairwise(rows) if start - at == width]

    def recent(self, series: int, count: int = SPARK_POINTS) -> Plot:
        """Return the last `count` readings of one series (for a sparkline)."""
        rows = self._last(series, EVER, count, "t, value, value, value")
        return _with_gaps(0.0, rows[::-1])

    def times_before(self, series: int, until: float, count: int) -> list[float]:
        """Return the times of one series' last `count` readings before `until`, newest first."""
        return [t for (t,) in self._last(series, until, count, "t", before=True)]

    def oldest(self) -> float | None:
        """Return a time at or before the history's first reading (None: it holds none)."""
        [(oldest,)] = self.query(OLDEST, ())
        return None if oldest == float("inf") else float(oldest)

    def times_between(self, series: Sequence[int], since: float, until: float) -> tuple[Ids, Times]:
        """Return the times of the series' readings in [window of `since`, until): their series and times, series by
        series (ascending), each in time order (a statement per few thousand series)."""
        import numpy as np

        owners, times = [np.empty(0, np.int64)], [np.empty(0)]
        ticks = tick_of(window_of(since), until)
        time, written = written_times(ticks, "t")
        values = {"first": window_of(since), "until": until, **written}
        for asked in asked_rows(series):
            [(owner, t)] = self.query(TIMES.format(asked=asked, time=time), values)
            if t:
                owners.append(np.fromstring(owner, np.int64, sep=","))
                times.append(times_of(t, ticks))
        owner, t = np.concatenate(owners), np.concatenate(times)
        order = np.lexsort((t, owner))
        return owner[order], t[order]

    def times_before_each(self, series: Sequence[int], until: float, count: int) -> tuple[Ids, Times]:
        """Return the times of each series' last `count` readings before `until` (as `times_before` for one), as
        `times_between` does: the last few windows of all at once, `times_before` for each with fewer there (one
        stopped long ago is searched back from its own last window)."""
        import numpy as np

        since = window_of(until) - BACK
        owner, t = self.times_between(series, since, until)
        first, ends = np.searchsorted(owner, owner, "left"), np.searchsorted(owner, owner, "right")
        oldest = self.oldest()
        done = (ends - first >= count) | (oldest is not None and since <= oldest)  # the older ones are older still
        kept = done & (ends - np.arange(len(owner)) <= count)  # a series' last `count`
        owners, times = [owner[kept]], [t[kept]]
        for short in sorted(set(series) - set(owner[done].tolist())):
            found = self.times_before(short, until, count)
            owners.append(np.full(len(found), short, np.int64))
            times.append(np.array(found, np.float64))
        owner, t = np.concatenate(owners), np.concatenate(times)
        order = np.lexsort((t, owner))
        return owner[order], t[order]

    def _last(self, series: int, until: float, count: int, columns: str, *, before: bool = False) -> list[Any]:
        """Return `columns` of one series' last `count` points up to `until` (`before`: excluded), newest first.

        It looks back from the series' last window, further each time until it has them or has read it all.
        """
        back = 8.0 * WINDOW
        rest = ("WHERE t < :until " if before else "") + "ORDER BY t DESC LIMIT :count"
        while True:
            with self._lock:
                rows = self._db.execute(
                    POINTS.format(columns=columns, rest=rest),
                    {**point_span(series, -EVER, until, back), "count": count},
                ).fetchall()
                (span,) = self._db.execute(
                    "SELECT (SELECT MAX(start) FROM points) - (SELECT MIN(start) FROM points)"
                ).fetchone()
            if len(rows) >= count or back > (span or 0):
                return rows
            back *= 16

    def measurers(self) -> list[MeasurerCounts]:
        """Return every measurer's counts."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM measurers ORDER BY measurer").fetchall()
        return [MeasurerCounts(*row) for row in rows]

    def latest_cycle(self) -> float | None:
        """Return the time of the newest stored cycle."""
        with self._lock:
            (latest,) = self._db.execute("SELECT MAX(last_answer) FROM measurers").fetchone()
        return None if latest is None else float(latest)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _with_gaps(step: float, rows: list[tuple[float, float | None, float | None, float | None]]) -> Plot:
    """Columns from rows, with a gap (None) where a step exceeds 1.5 times `step` (else the median step)."""
    times = [row[0] for row in rows]
    if not step and len(times) > 1:
        step = sorted(b - a for a, b in itertools.pairwise(times))[(len(times) - 1) // 2]
    out: list[tuple[float, float | None, float | None, float | None]] = []
    for row in rows:
        if out and step and row[0] - out[-1][0] > 1.5 * step:
            out.append((out[-1][0] + step, None, None, None))
        out.append(row)
    return Plot(step, [r[0] for r in out], [r[1] for r in out], [r[2] for r in out], [r[3] for r in out])


class HistoryWhenMade:
    """The history file of a collector's `sqlite` sink, opened on first use once the sink has made it."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._history: History | None = None

    def get(self) -> History | None:
        """Return the open history, or None while there is no file (or no sqlite sink)."""
        if self._history is None and self._path is not None and self._path.exists():
            self._history = History(self._path)
        return self._history

    def close(self) -> None:
        """Close the history if it was opened."""
        if self._history is not None:
            self._history.close()
