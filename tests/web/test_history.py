"""The history's series layout: buckets, redelivery, migration of the first layout, retention, plots."""

import sqlite3
import time

from labmon.builtin.sqlite_sink import HistoryConfig, HistorySink
from labmon.models import Batch, Reading, Result
from labmon.options import Duration
from labmon_collector.history import History

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
    sink.close()
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT n, min, max, sum FROM buckets WHERE width = 600").fetchall() == [(3, 1.0, 3.0, 6.0)]
    assert db.execute("SELECT answered, missing, last_answer FROM measurers").fetchall() == [(4, 1, 180.0)]
    assert db.execute("SELECT last_value, last_status FROM series").fetchall() == [(2.0, "ok")]
    # the first layout's table lives on as a view
    assert db.execute("SELECT COUNT(*), COUNT(value) FROM readings").fetchone() == (4, 3)
    plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN SELECT * FROM points WHERE series=1 AND t>5"))
    assert "SEARCH points USING PRIMARY KEY (series=? AND t>?)" in plan


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
    assert db.execute("SELECT COUNT(*) FROM buckets WHERE width = 7200").fetchone() == (2,)


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
    assert db.execute("SELECT MIN(t), COUNT(*) FROM points").fetchone() == (3 * DAY, 4)
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
    assert db.execute("SELECT value FROM points").fetchall() == [(2.0,)]
