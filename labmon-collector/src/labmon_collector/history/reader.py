"""Read the SQLite history for plots and exports: one series at a time, raw or in buckets."""

from __future__ import annotations

import fnmatch
import itertools
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from labmon_collector.history.writer import BUCKET_WIDTHS, bucket_marks, open_history
from labmon_collector.sqlitedb import table_names

RAW_SPAN = 6 * 3600.0
"""Ranges up to this many seconds are plotted from the raw readings; longer ones from buckets."""
SPARK_POINTS = 120
WIDE = BUCKET_WIDTHS[-1]


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

    def readings(self, series: int, since: float, until: float) -> list[tuple[float, float | None, str, str | None]]:
        """Return (time, value, status, error) of one series from `since` to `until`."""
        with self._lock:
            return self._db.execute(
                "SELECT t, value, status, error FROM all_points WHERE series = ? AND t >= ? AND t <= ? ORDER BY t",
                (series, since, until),
            ).fetchall()

    def plot(self, series: int, since: float, until: float) -> Plot:
        """Return the plot of one series: raw readings for short ranges, min/max/mean buckets for long ones."""
        span = until - since
        if span <= RAW_SPAN:
            rows = [(t, v, v, v) for t, v, _, _ in self.readings(series, since, until)]
            return _with_gaps(0.0, rows)
        width = next((w for w in BUCKET_WIDTHS if span / w <= 2000), BUCKET_WIDTHS[-1])
        fine = BUCKET_WIDTHS[0]
        with self._lock, self._db:
            # one read transaction: a window the sink closes meanwhile must not be read both ways
            self._db.execute("BEGIN")
            marks = bucket_marks(self._db)
            # a width's buckets count before its mark only: the sink writes a window's while it closes it
            parts = self._db.execute(
                "SELECT start, n, min, max, sum FROM buckets WHERE series = ? AND width = ? AND start >= ?"
                " AND start <= ? AND start < ?",
                (series, width, since - width, until, marks.get(width, since - width)),
            ).fetchall()
            if width != fine:  # after this width's mark: its ten-minute buckets
                parts += self._db.execute(
                    "SELECT start, n, min, max, sum FROM buckets WHERE series = ? AND width = ? AND start >= ?"
                    " AND start <= ? AND start < ?",
                    (series, fine, max(since - width, marks.get(width, since - width)), until, marks.get(fine, 0.0)),
                ).fetchall()
            # after the ten-minute mark: the points, not in any bucket yet
            parts += self._db.execute(
                "SELECT t, 1, value, value, value FROM all_points WHERE series = ? AND t >= ? AND t <= ?"
                " AND status = 'ok'",
                (series, max(since - width, marks.get(fine, since - width)), until),
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

    def buckets(
        self, series: int, width: int, since: float, until: float, *, within: list[float] | None = None
    ) -> Buckets:
        """Return one series' complete buckets (before the mark) of `width` starting in [since, until).

        `within`: only those inside these two-hour windows (by start).
        """
        inside = (
            ""
            if within is None
            else f" AND CAST(start / {WIDE} AS INTEGER) * {WIDE} IN ({', '.join('?' * len(within))})"
        )
        with self._lock, self._db:
            self._db.execute("BEGIN")  # the mark and the buckets it vouches for, read together
            mark = bucket_marks(self._db).get(width, -math.inf)
            rows = self._db.execute(
                "SELECT start, n, min, max, sum FROM buckets WHERE series = ? AND width = ? AND start >= ?"
                " AND start < ? AND start + width <= ?" + inside,
                (series, width, since, until, mark, *(within or [])),
            ).fetchall()
        return Buckets(mark, {start: (n, low, high, total) for start, n, low, high, total in rows})

    def query(self, sql: str, params: Sequence[object] | Mapping[str, object]) -> list[tuple[Any, ...]]:
        """Return the rows of one read-only statement (one statement reads one consistent state of the file)."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def means(self, series: int, since: float, split: float, until: float) -> tuple[float | None, float | None]:
        """Return the mean valid value of one series in [since, split) and in [split, until) (None: no valid value)."""
        with self._lock:
            before, after = self._db.execute(
                "SELECT AVG(CASE WHEN t < ? THEN value END), AVG(CASE WHEN t >= ? THEN value END) FROM all_points"
                " WHERE series = ? AND t >= ? AND t < ? AND status = 'ok'",
                (split, split, series, since, until),
            ).fetchone()
        return before, after

    def steps(self, series: int, width: int, since: float, until: float) -> list[float]:
        """Return the changes of one series' mean from each complete bucket of `width` in [since, until) to the next."""
        with self._lock, self._db:
            self._db.execute("BEGIN")  # the mark and the buckets it vouches for, read together
            mark = bucket_marks(self._db).get(width, -math.inf)
            rows = self._db.execute(
                "SELECT start, sum / n FROM buckets WHERE series = ? AND width = ? AND start >= ? AND start < ?"
                " AND start + width <= ? ORDER BY start",
                (series, width, since, until, mark),
            ).fetchall()
        # the differences here, not with SQLite's LAG(): its window functions took most of a ranking's time
        return [mean - was for (at, was), (start, mean) in itertools.pairwise(rows) if start - at == width]

    def recent(self, series: int, count: int = SPARK_POINTS) -> Plot:
        """Return the last `count` readings of one series (for a sparkline)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT t, value, value, value FROM all_points WHERE series = ? ORDER BY t DESC LIMIT ?",
                (series, count),
            ).fetchall()
        return _with_gaps(0.0, rows[::-1])

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
