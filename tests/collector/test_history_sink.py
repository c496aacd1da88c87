"""The `sqlite` history sink: what it stores, and what a failed write leaves."""

import sqlite3

import pytest

from labmon.models import Batch, Reading, Result
from labmon_collector.history.writer import HistoryConfig, HistorySink
from tests.core.test_local_sinks import batch


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


def test_retention_deletes_a_series_points_and_buckets_together_or_not_at_all(tmp_path):
    sink = HistorySink(HistoryConfig(path=tmp_path / "h.sqlite"))
    sink.write(batch(1))
    sink.write(batch(2000))  # far enough on for the first batch's ten-minute buckets to be closed
    db = sqlite3.connect(tmp_path / "h.sqlite")
    before = db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    assert before and db.execute("SELECT COUNT(*) FROM buckets").fetchone()[0]
    # A failure on the second statement of a series' deletion, as a full disk or an I/O error would make.
    db.execute("CREATE TRIGGER refuse BEFORE DELETE ON buckets BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    db.commit()
    with pytest.raises(sqlite3.DatabaseError, match="disk I/O error"):
        sink.apply_retention(1700000000.0 + 60 * 1000)
    assert db.execute("SELECT COUNT(*) FROM points").fetchone()[0] == before  # the points' DELETE rolled back
    db.execute("DROP TRIGGER refuse")
    db.commit()
    assert sink.apply_retention(1700000000.0 + 60 * 1000) > 0
    sink.close()
