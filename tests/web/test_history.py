"""The history's series layout: buckets, redelivery, migration of the first layout, retention, plots."""

import random
import sqlite3
import time

import pytest

from labmon.models import Batch, Reading, Result
from labmon.options import Duration
from labmon_collector.history import writer as sqlite_sink
from labmon_collector.history.reader import POINTS, History
from labmon_collector.history.writer import HistoryConfig, HistorySink

DAY = 86400.0


def batch(t: float, value: float | None, *, missing: tuple[str, ...] = ()) -> Batch:
    reading = (
        Reading("temp", value, "degC", instrument="oven")
        if value is not None
        else Reading("temp", None, "degC", "error", "timeout", "oven")
    )
    results = () if missing else (Result("q", "table1", t, (reading,)),)
    return Batch(1, t, results, missing)


def test_a_series_keeps_points_buckets_and_counts_and_ignores_a_redelivery(tmp_path):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    for minute, value in enumerate([1.0, 3.0, None, 2.0]):
        sink.write(batch(minute * 60.0, value))
    sink.write(batch(60.0, 3.0))  # the outbox delivers at least once
    sink.write(batch(240.0, None, missing=("table1",)))
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT * FROM buckets").fetchall() == []  # the window is open: plots read its points
    plot = History(tmp_path / "h.sqlite").plot(1, 0.0, DAY)
    assert (plot.t[:1], plot.mean[:1], plot.low[:1], plot.high[:1]) == ([300.0], [2.0], [1.0], [3.0])
    sink.write(batch(600.0, 5.0))  # the next window: the first is flushed into its buckets
    sink.close()
    # two-hour buckets are written when their window closes: until then plots read the ten-minute ones
    assert db.execute("SELECT width, start, n, min, max, sum FROM buckets").fetchall() == [(600, 0.0, 3, 1.0, 3.0, 6.0)]
    assert db.execute("SELECT answered, missing, last_answer FROM measurers").fetchall() == [(5, 1, 600.0)]
    assert db.execute("SELECT last_value, last_status FROM latest").fetchall() == [(5.0, "ok")]
    plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN SELECT * FROM latest"))
    assert "SCAN points" not in plan and "SCAN fresh" not in plan and "SEARCH fresh USING PRIMARY KEY" in plan, plan
    # the first layout's table lives on as a view
    assert db.execute("SELECT COUNT(*), COUNT(value) FROM readings").fetchone() == (5, 4)
    # a reader's series: a primary-key search of `points` per window, one of `fresh`, no scan
    span = {"series": 1, "since": 5.0, "until": DAY, "first": 0, "last": DAY, "back": DAY}
    plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + POINTS.format(columns="t", rest=""), span))
    assert "SEARCH p USING PRIMARY KEY (start=? AND series=? AND t>? AND t<?)" in plan, plan
    assert "SEARCH fresh USING PRIMARY KEY (series=? AND t>? AND t<?)" in plan, plan
    assert "SCAN points" not in plan and "SCAN p " not in plan, plan


def test_the_open_window_is_written_apart_and_moved_when_it_closes_and_a_redelivery_stays_ignored(tmp_path):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    for t, value in ((0.0, 1.0), (60.0, 2.0), (600.0, 3.0)):
        sink.write(batch(t, value))
    sink.write(batch(60.0, 2.0))  # delivered again after its window was moved
    sink.close()
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT t FROM points").fetchall() == [(0.0,), (60.0,)]
    assert db.execute("SELECT t FROM fresh").fetchall() == [(600.0,)]
    assert db.execute("SELECT answered FROM measurers").fetchall() == [(3,)]
    assert db.execute("SELECT last_at, last_value FROM latest").fetchall() == [(600.0, 3.0)]


def test_a_history_of_the_first_layout_is_migrated_without_losing_a_row(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE readings (cycle_at REAL NOT NULL, measurer TEXT NOT NULL, instrument TEXT NOT NULL,
            name TEXT NOT NULL, value REAL, unit TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
            measured_at REAL NOT NULL, PRIMARY KEY (cycle_at, measurer, instrument, name));
        CREATE TABLE missing (cycle_at REAL NOT NULL, measurer TEXT NOT NULL, PRIMARY KEY (cycle_at, measurer));
        """
    )
    rows = [
        (t, m, "laser1", "lock_error", None if t == 120 else t / 100, "V", "error" if t == 120 else "ok",
         "timeout" if t == 120 else None, t + 0.1)
        for t in (0.0, 60.0, 120.0, 180.0) for m in ("table1", "table2")
    ]  # fmt: skip
    old.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    old.execute("INSERT INTO missing VALUES (240.0, 'table2')")
    old.commit()
    old.close()
    HistorySink(HistoryConfig(path=path)).close()
    db = sqlite3.connect(path)
    assert sorted(db.execute("SELECT * FROM readings")) == sorted(rows)
    assert db.execute("SELECT type FROM sqlite_master WHERE name = 'readings'").fetchone() == ("view",)
    assert db.execute("SELECT measurer, answered, missing FROM measurers ORDER BY 1").fetchall() == [
        ("table1", 4, 0),
        ("table2", 4, 1),
    ]
    assert db.execute("SELECT COUNT(*) FROM buckets").fetchone() == (0,)  # one open window, read from its points
    week = History(path).plot(1, 0.0, 7 * DAY)
    assert (week.t[:1], week.mean[:1], week.high[:1]) == ([300.0], [(0.0 + 0.6 + 1.8) / 3], [1.8])


def test_retention_deletes_a_day_per_series_per_pass_and_keeps_the_rest(tmp_path):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    for day in range(5):
        sink.write(batch(day * DAY, 1.0))
        sink.write(batch(day * DAY + 3600, 2.0))
    sink.write(batch(10.0, None, missing=("table1",)))
    assert sink.apply_retention(3 * DAY) == 2  # the oldest day only: a pass never holds the file for long
    assert sink.apply_retention(3 * DAY) == 2
    assert sink.apply_retention(3 * DAY) == 2
    assert sink.apply_retention(3 * DAY) == 0
    sink.close()
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT MIN(t), COUNT(*) FROM all_points").fetchone() == (3 * DAY, 4)
    assert db.execute("SELECT MIN(start) FROM buckets").fetchone() == (3 * DAY,)
    assert db.execute("SELECT COUNT(*) FROM missing").fetchone() == (0,)


def test_plots_show_errors_and_missing_cycles_as_gaps_and_long_ranges_as_buckets(tmp_path):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    for minute, value in enumerate([1.0, 2.0, None, 4.0, 5.0, 6.0]):
        if minute != 4:  # a missing cycle
            sink.write(batch(minute * 60.0, value))
    for hour in range(1, 48):
        sink.write(batch(hour * 3600.0 + 600, float(hour)))
        sink.write(batch(hour * 3600.0 + 660, float(-hour)))
    sink.close()
    history = History(tmp_path / "h.sqlite")
    (series,) = history.series("table1/*/temp")
    raw = history.plot(series.id, 0, 330)
    assert raw.t == [0.0, 60.0, 120.0, 180.0, 240.0, 300.0] and raw.mean == [1.0, 2.0, None, 4.0, None, 6.0]
    week = history.plot(series.id, 0, 7 * DAY)
    assert week.resolution == 600
    first = week.t.index(3600 + 600 + 300)
    assert (week.low[first], week.high[first], week.mean[first]) == (-1.0, 1.0, 0.0)
    assert week.mean[first + 1] is None  # no readings for the rest of the hour: a gap, not a zero
    assert history.plot(series.id, 0, 365 * DAY).resolution == 7200
    assert history.recent(series.id, 3).mean == [-46.0, 47.0, -47.0]  # the newest three, oldest first
    history.close()


def test_retention_runs_as_the_sink_writes(tmp_path):
    now = time.time()
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite", retention=Duration(DAY)))
    sink.write(batch(now - 3 * DAY, 1.0))  # older than the retention: gone by the end of this write
    sink.write(batch(now, 2.0))
    sink.close()
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT value FROM all_points").fetchall() == [(2.0,)]


def _expected(values: dict[float, float], width: int) -> dict[float, tuple[float, float, float]]:
    """Mean, min and max per bucket of `width` seconds, as a plot shows them (keyed by the bucket's middle)."""
    grouped: dict[float, list[float]] = {}
    for t, value in values.items():
        grouped.setdefault(t // width * width + width / 2, []).append(value)
    return {mid: (sum(vs) / len(vs), min(vs), max(vs)) for mid, vs in grouped.items()}


def _plotted(plot) -> dict[float, tuple[float, float, float]]:
    return {
        t: (m, lo, hi) for t, m, lo, hi in zip(plot.t, plot.mean, plot.low, plot.high, strict=True) if m is not None
    }


def test_long_plots_match_the_readings_in_flushed_and_open_windows(tmp_path):
    rng = random.Random(12)
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    values = {}
    for minute in range(200):  # 3 h 20 min: flushed ten-minute windows, a flushed and an open two-hour one
        t = 7200.0 * 10 + minute * 60.0
        values[t] = round(rng.uniform(-5, 5), 3)
        sink.write(batch(t, values[t]))
    sink.close()
    history = History(tmp_path / "h.sqlite")
    for span, width in ((7 * DAY, 600), (365 * DAY, 7200)):
        plotted = _plotted(history.plot(1, 0.0, span))
        expected = _expected(values, width)
        assert plotted.keys() == expected.keys()
        for mid, (mean, low, high) in expected.items():
            assert plotted[mid] == (pytest.approx(mean), low, high), mid


def test_a_failed_flush_leaves_the_file_as_it_was_and_the_redelivery_completes_it(tmp_path, monkeypatch):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    sink.write(batch(0.0, 1.0))
    sink.write(batch(300.0, 3.0))

    def crash(*args):
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patched:
        patched.setattr(sqlite_sink, "set_mark", crash)  # after the window's buckets, before the commit
        with pytest.raises(sqlite3.OperationalError):
            sink.write(batch(600.0, 5.0))
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT COUNT(*) FROM all_points").fetchone() == (2,)
    assert db.execute("SELECT COUNT(*) FROM buckets").fetchone() == (0,)
    sink.write(batch(600.0, 5.0))  # the outbox delivers it again
    sink.close()
    assert db.execute("SELECT width, n, min, max, sum FROM buckets").fetchall() == [(600, 2, 1.0, 3.0, 4.0)]


def test_a_late_batch_is_added_to_its_flushed_window(tmp_path):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    for t, value in ((0.0, 1.0), (600.0, 2.0), (7200.0, 3.0)):  # the first two-hour window closes too
        sink.write(batch(t, value))
    sink.write(batch(60.0, 7.0))  # a dead letter retried: its window was flushed already
    sink.write(batch(60.0, 7.0))  # and again: stored once
    sink.close()
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT width, start, n, min, max FROM buckets ORDER BY width, start").fetchall() == [
        (600, 0.0, 2, 1.0, 7.0), (600, 600.0, 1, 2.0, 2.0), (7200, 0.0, 3, 1.0, 7.0)
    ]  # fmt: skip


@pytest.mark.parametrize("sqlite", [(3, 40, 1), (3, 34, 1)], ids=["drop-column", "no-drop-column"])
def test_a_history_kept_reading_by_reading_is_taken_over_with_its_latest_readings_and_open_windows(
    tmp_path, monkeypatch, sqlite
):
    monkeypatch.setattr(sqlite_sink.sqlite3, "sqlite_version_info", sqlite)  # 3.34: Raspberry Pi OS 11
    path = tmp_path / "h.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE series (id INTEGER PRIMARY KEY, measurer TEXT NOT NULL, instrument TEXT NOT NULL,
            name TEXT NOT NULL, unit TEXT NOT NULL, last_at REAL, last_value REAL, last_status TEXT,
            last_error TEXT, UNIQUE (measurer, instrument, name));
        CREATE TABLE points (series INTEGER NOT NULL, t REAL NOT NULL, value REAL, status TEXT NOT NULL,
            error TEXT, measured_at REAL NOT NULL, PRIMARY KEY (series, t)) WITHOUT ROWID;
        CREATE TABLE buckets (series INTEGER NOT NULL, width INTEGER NOT NULL, start REAL NOT NULL,
            n INTEGER NOT NULL, min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL,
            PRIMARY KEY (series, width, start)) WITHOUT ROWID;
        CREATE VIEW readings AS
            SELECT p.t AS cycle_at, s.measurer, s.instrument, s.name, p.value, s.unit, p.status, p.error,
                p.measured_at FROM points p JOIN series s ON s.id = p.series;
        INSERT INTO series VALUES (1, 'table1', 'oven', 'temp', 'degC', 660.0, 4.0, 'ok', NULL);
        INSERT INTO points VALUES (1, 0.0, 1.0, 'ok', NULL, 0.0), (1, 60.0, 2.0, 'ok', NULL, 60.0),
            (1, 600.0, 3.0, 'ok', NULL, 600.0), (1, 660.0, 4.0, 'ok', NULL, 660.0);
        -- kept reading by reading: the open ten-minute window (600) is in them too
        INSERT INTO buckets VALUES (1, 600, 0.0, 2, 1.0, 2.0, 3.0), (1, 600, 600.0, 2, 3.0, 4.0, 7.0),
            (1, 7200, 0.0, 4, 1.0, 4.0, 10.0);
        """
    )
    old.commit()
    old.close()
    sink = HistorySink(HistoryConfig(path=path))
    db = sqlite3.connect(path)
    if sqlite >= (3, 35):
        assert "last_at" not in [row[1] for row in db.execute("PRAGMA table_info(series)")]
    else:  # kept, emptied: nothing stale looks current
        assert db.execute("SELECT last_at, last_value FROM series").fetchall() == [(None, None)]
    assert db.execute("SELECT last_at, last_value, last_status FROM latest").fetchall() == [(660.0, 4.0, "ok")]
    week = _plotted(History(path).plot(1, 0.0, 7 * DAY))
    assert week == {300.0: (1.5, 1.0, 2.0), 900.0: (3.5, 3.0, 4.0)}  # not counted twice
    sink.write(batch(1200.0, 5.0))
    sink.close()
    assert db.execute("SELECT COUNT(*) FROM readings").fetchone() == (5,)  # the view sees the open window too
    assert db.execute("SELECT width, start, n, sum FROM buckets ORDER BY width, start").fetchall() == [
        (600, 0.0, 2, 3.0), (600, 600.0, 2, 7.0)
    ]  # fmt: skip


def test_a_late_batch_does_not_bring_an_old_unit_back(tmp_path):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    sink.write(batch(0.0, 1.0))
    sink.write(Batch(2, 600.0, (Result("q", "table1", 600.0, (Reading("temp", 300.0, "K", instrument="oven"),)),)))
    sink.write(batch(60.0, 2.0))  # a dead letter retried, in degC
    sink.close()
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT unit, last_value FROM latest").fetchall() == [("K", 300.0)]
    assert db.execute("SELECT answered FROM measurers").fetchall() == [(3,)]


def test_a_unit_that_changes_is_kept_once_per_change(tmp_path):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    sink.write(batch(0.0, 1.0))
    sink.write(Batch(2, 60.0, (Result("q", "table1", 60.0, (Reading("temp", 300.0, "K", instrument="oven"),)),)))
    sink.close()
    reopened = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    reopened.write(Batch(3, 120.0, (Result("q", "table1", 120.0, (Reading("temp", 301.0, "K", instrument="oven"),)),)))
    reopened.close()
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT unit, last_value FROM latest").fetchall() == [("K", 301.0)]


def test_buckets_kept_window_by_window_equal_those_rebuilt_from_the_points_after_gaps_too(tmp_path):
    """Each closing window's buckets (one window after the mark, or several after a gap) match a rebuild."""
    rng = random.Random(7)
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    t = 0.0
    for _ in range(300):
        readings = tuple(
            Reading(f"r{k}", None, "V", "error", "x", "i")
            if rng.random() < 0.1
            else Reading(f"r{k}", rng.uniform(-5.0, 5.0), "V", instrument="i")
            for k in range(3)
        )
        sink.write(Batch(1, t, (Result("q", "table1", t, readings),)))
        t += 60.0 if rng.random() < 0.95 else 60.0 * rng.randint(11, 200)  # now and then a gap of windows
    sink.close()
    kept = sqlite3.connect(tmp_path / "h.sqlite")
    rows = "SELECT series, width, start, n, min, max, round(sum, 9) FROM buckets ORDER BY series, width, start"
    incremental = kept.execute(rows).fetchall()
    assert {width for _, width, *_ in incremental} == {600, 7200}
    with kept:
        sqlite_sink.rebuild_summaries(kept)
    assert kept.execute(rows).fetchall() == incremental
