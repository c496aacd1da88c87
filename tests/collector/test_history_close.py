"""A closed window is closed a slice of series per batch: plots count every reading once meanwhile, and a close
cut short by a restart completes with the same buckets as a rebuild from the points."""

import random
import sqlite3
from pathlib import Path

import pytest

from labmon.models import Batch, Reading, Result
from labmon_collector.history import writer
from labmon_collector.history.reader import History
from labmon_collector.history.writer import CLOSE_STEPS, HistoryConfig, HistorySink, bucket_marks

DAY = 86400.0
SERIES = 20


def _write(sink: HistorySink, t: float, rng: random.Random, values: dict[int, dict[float, float]]) -> None:
    """Store one batch of SERIES readings at `t` (every tenth an error), noting the values by series id."""
    readings = []
    for k in range(SERIES):
        if rng.random() < 0.1:
            readings.append(Reading(f"r{k:02d}", None, "V", "error", "timeout", "i"))
        else:
            value = round(rng.uniform(-5, 5), 3)
            values.setdefault(k + 1, {})[t] = value
            readings.append(Reading(f"r{k:02d}", value, "V", instrument="i"))
    sink.write(Batch(1, t, (Result("q", "m", t, tuple(readings)),)))


def _expected(values: dict[float, float], width: int) -> dict[float, tuple[float, float, float]]:
    grouped: dict[float, list[float]] = {}
    for t, value in values.items():
        grouped.setdefault(t // width * width + width / 2, []).append(value)
    return {mid: (pytest.approx(sum(vs) / len(vs)), min(vs), max(vs)) for mid, vs in grouped.items()}


def _plotted(history: History, series: int, span: float) -> dict[float, tuple[float, float, float]]:
    plot = history.plot(series, 0.0, span)
    return {
        t: (m, lo, hi) for t, m, lo, hi in zip(plot.t, plot.mean, plot.low, plot.high, strict=True) if m is not None
    }


def test_plots_count_every_reading_once_while_windows_close_a_slice_at_a_time(tmp_path: Path) -> None:
    rng, values = random.Random(5), {}
    path = tmp_path / "h.sqlite"
    sink = HistorySink(HistoryConfig(path=path))
    history, db = None, sqlite3.connect(path)
    seen_under_way = set()
    try:
        for minute in range(135):  # past two hours: ten-minute windows and a two-hour one close
            _write(sink, minute * 60.0, rng, values)
            history = history or History(path)
            marks = bucket_marks(db)
            for width in CLOSE_STEPS:
                ahead = db.execute(
                    "SELECT COUNT(DISTINCT series) FROM buckets WHERE width = ? AND start >= ?", (width, marks[width])
                ).fetchone()[0]
                if 0 < ahead < SERIES:  # some series' buckets written, the mark not yet moved
                    seen_under_way.add(width)
            for series in (1, SERIES // 2, SERIES):
                for span, width in ((7 * DAY, 600), (365 * DAY, 7200)):
                    assert _plotted(history, series, span) == _expected(values[series], width), (minute, series, span)
    finally:
        sink.close()
        db.close()
    assert seen_under_way == {600, 7200}


def test_a_close_cut_short_by_a_restart_completes_as_a_rebuild_would(tmp_path: Path) -> None:
    rng, values = random.Random(6), {}
    path = tmp_path / "h.sqlite"
    first = HistorySink(HistoryConfig(path=path))
    for minute in range(12):  # the first window closes at minute 10: two steps of it
        _write(first, minute * 60.0, rng, values)
    assert bucket_marks(sqlite3.connect(path))[600] == 0.0  # under way
    # no close(): as if the collector was killed; another sink takes the file over
    second = HistorySink(HistoryConfig(path=path))
    for minute in range(12, 130):
        _write(second, minute * 60.0, rng, values)
    second.close()
    kept = sqlite3.connect(path)
    rows = "SELECT series, width, start, n, min, max, round(sum, 9) FROM buckets ORDER BY series, width, start"
    closed = kept.execute(rows).fetchall()
    assert {width for _, width, *_ in closed} == {600, 7200}
    with kept:
        writer.rebuild_summaries(kept)
    assert kept.execute(rows).fetchall() == closed
