import csv
import sqlite3

import pytest

from labmon.builtin.csv_sink import CsvConfig, CsvSink
from labmon.builtin.sqlite_sink import HistoryConfig, HistorySink
from labmon.models import Batch, Reading, Result


def batch(cycle):
    readings = (
        Reading("lock_error", 0.05, "V", instrument="laser1"),
        Reading("*", None, "", "error", "timeout", "oven"),
    )
    return Batch(cycle, 1700000000.0 + 60 * cycle, (Result("q", "table1", 1700000000.5, readings),), ("table2",))


def test_csv_appends_rows_under_one_header(tmp_path):
    sink = CsvSink(CsvConfig(path=tmp_path / "out" / "readings.csv"))
    sink.write(batch(1))
    sink.write(batch(2))
    rows = list(csv.reader((tmp_path / "out" / "readings.csv").open()))
    assert rows[0][:4] == ["cycle_at", "measured_at", "measurer", "instrument"]
    assert len(rows) == 1 + 2 * 3
    assert rows[1] == [
        "2023-11-14T22:14:20.000+00:00",
        "2023-11-14T22:13:20.500+00:00",
        "table1",
        "laser1",
        "lock_error",
        "0.05",
        "V",
        "ok",
        "",
    ]
    assert rows[2][7:] == ["error", "timeout"] and rows[2][5] == ""
    assert rows[3][2] == "table2" and rows[3][7] == "missing"


def test_history_stores_a_redelivered_batch_once(tmp_path):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    sink.write(batch(1))
    sink.write(batch(1))  # the outbox delivers at least once
    sink.close()
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT COUNT(*) FROM readings").fetchone() == (2,)
    assert db.execute("SELECT value, status, error FROM readings WHERE instrument = 'oven'").fetchone() == (
        None,
        "error",
        "timeout",
    )
    assert db.execute("SELECT measurer FROM missing").fetchall() == [("table2",)]


def test_a_failed_write_leaves_no_series_id_behind(tmp_path, monkeypatch):
    """A write that rolls back must not leave an id in the sink's cache that no stored series owns."""
    import sqlite3

    from labmon.builtin.sqlite_sink import HistoryConfig, HistorySink
    from labmon.models import Batch, Reading, Result

    sink = HistorySink(HistoryConfig(tmp_path / "h.sqlite"))

    def batch(cycle: int, *readings: Reading) -> Batch:
        return Batch(cycle, 1000.0 + 60 * cycle, (Result("q", "t1", 1000.0 + 60 * cycle, readings),))

    a = Reading("a", 1.0, "V", instrument="i")
    b = Reading("b", 2.0, "V", instrument="i")
    failing = sink._keep_buckets

    def fail_once(*args):
        monkeypatch.setattr(sink, "_keep_buckets", failing)
        raise sqlite3.OperationalError("disk I/O error")  # as a full disk or a yanked USB stick would

    monkeypatch.setattr(sink, "_keep_buckets", fail_once)
    with pytest.raises(sqlite3.OperationalError):
        sink.write(batch(1, a))
    sink.write(batch(1, a))  # the outbox delivers it again
    sink.write(batch(2, b))
    sink.close()
    db = sqlite3.connect(tmp_path / "h.sqlite")
    stored = db.execute("SELECT name, value FROM readings ORDER BY cycle_at").fetchall()
    assert stored == [("a", 1.0), ("b", 2.0)]
