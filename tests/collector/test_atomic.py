"""State files change all at once or not at all: a failure in the middle of a save leaves the previous state."""

import sqlite3

import pytest

from labmon_collector.alertstore import AlertStore, SeriesState


def test_a_failed_save_leaves_the_previous_state_intact(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    before = {("hot", "t1/laser1/lock_error"): SeriesState("firing", since=60.0, notified_at=60.0)}
    store.save(before, {"t1/laser1/lock_error": 60.0})
    broken = {
        ("hot", "t1/laser1/lock_error"): SeriesState("firing", since=60.0, notified_at=120.0),
        ("cold", "t2/oven/t"): SeriesState("pending", since=object()),  # cannot be stored: fails mid-save
    }
    with pytest.raises(sqlite3.Error):
        store.save(broken, {})
    store.close()
    states, seen = AlertStore(tmp_path / "alerts.sqlite").load()
    assert states == before and seen == {"t1/laser1/lock_error": 60.0}


def test_a_put_is_one_transaction(outbox, tmp_path):
    statements = []
    outbox._db.set_trace_callback(statements.append)
    outbox.put("sink:a", {"n": 1})
    assert [s.split()[0] for s in statements if s.split()[0] in ("BEGIN", "COMMIT")] == ["BEGIN", "COMMIT"]
