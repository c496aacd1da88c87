"""What trades durability for wear: the history's `flush_every`, and the outbox storing a batch deflated."""

import sqlite3
import time
from contextlib import closing

import pytest

from labmon.models import Batch, Reading, Result
from labmon.options import Duration
from labmon_collector.delivery.outbox import Outbox
from labmon_collector.history.writer import HistoryConfig, HistorySink
from labmon_collector.report import build_report, render
from labmon_collector.service import Collector
from tests.conftest import collector_table


def batch(cycle: int) -> Batch:
    readings = tuple(Reading(f"r{i}", float(cycle + i), "V", instrument="i") for i in range(40))
    return Batch(cycle, 1000.0 + 10 * cycle, (Result("q", "t1", 1000.0 + 10 * cycle, readings),))


def stored(path):
    with sqlite3.connect(path) as db:
        return [t for (t,) in db.execute("SELECT DISTINCT cycle_at FROM readings ORDER BY cycle_at")]


def test_flush_every_gathers_a_span_of_batches_and_stores_them_together(tmp_path):
    path = tmp_path / "h.sqlite"
    sink = HistorySink(HistoryConfig(path, flush_every=Duration(30.0)))
    for cycle in range(3):  # 0 s, 10 s, 20 s: the oldest is not 30 s old yet
        sink.write(batch(cycle))
    assert stored(path) == []
    sink.write(batch(3))  # 30 s after the first: the four go in one transaction
    assert stored(path) == [1000.0, 1010.0, 1020.0, 1030.0]
    sink.write(batch(4))
    sink.close()  # what is gathered is stored on a clean stop
    assert stored(path) == [1000.0, 1010.0, 1020.0, 1030.0, 1040.0]


def test_a_failed_flush_keeps_the_gathered_and_leaves_the_failed_batch_to_the_outbox(tmp_path, monkeypatch):
    path = tmp_path / "h.sqlite"
    sink = HistorySink(HistoryConfig(path, flush_every=Duration(10.0)))
    sink.write(batch(0))
    store = sink._store

    def full(*args):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sink, "_store", full)
    with pytest.raises(sqlite3.OperationalError):
        sink.write(batch(1))
    monkeypatch.setattr(sink, "_store", store)
    sink.write(batch(1))  # the courier hands it over again
    sink.close()
    assert stored(path) == [1000.0, 1010.0]


def test_the_outbox_stores_a_long_item_deflated_and_a_short_one_as_text(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    long = {"readings": ["lock_error"] * 500}
    box.put("sink:h", long)
    box.put("notifier:d", {"message": "laser unlocked"})
    with sqlite3.connect(tmp_path / "outbox.sqlite") as db:
        kinds = dict(db.execute("SELECT target, typeof(payload) FROM outbox"))
        (size,) = db.execute("SELECT length(payload) FROM outbox WHERE target = 'sink:h'").fetchone()
        db.execute("INSERT INTO outbox (target, created, payload) VALUES ('sink:old', 0, '{\"a\": 1}')")
    assert kinds == {"sink:h": "blob", "notifier:d": "text"} and size < 200
    assert box.oldest("sink:h").payload == long
    assert box.oldest("sink:old").payload == {"a": 1}  # written before items were deflated
    box.reject("sink:h", box.oldest("sink:h").id, "refused")
    assert box.dead_letters()[0].payload == long
    box.close()


def test_items_of_a_history_that_gathers_in_memory_stay_in_memory_until_a_clean_stop(tmp_path):
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, in_memory=frozenset({"sink:h"}))
    watcher = sqlite3.connect(path)
    version = watcher.execute("PRAGMA data_version").fetchone()
    for n in range(3):
        box.put_all(["sink:h"], {"n": n})
    assert watcher.execute("PRAGMA data_version").fetchone() == version
    first = box.oldest("sink:h")
    assert first.payload == {"n": 0}
    box.failed("sink:h", first.id, "busy")  # a failure is written (rare); the item stays first, counted
    version = watcher.execute("PRAGMA data_version").fetchone()
    assert box.oldest("sink:h").attempts == 1
    box.delivered("sink:h", first.id)
    assert watcher.execute("PRAGMA data_version").fetchone() == version  # nor the delivery
    [status] = box.status()
    assert (status.backlog, status.delivered) == (2, 1)
    box.close()  # the two not delivered yet are written, and the count
    watcher.close()
    box = Outbox(path)
    assert [box.oldest("sink:h").payload] == [{"n": 1}]
    box.delivered("sink:h", box.oldest("sink:h").id)
    assert box.oldest("sink:h").payload == {"n": 2}
    [status] = box.status()
    assert (status.backlog, status.delivered) == (1, 2)
    box.close()


def test_readings_survive_a_clean_stop_with_flush_every(broker, lab, write_config, tmp_path):
    sinks = {"history": {"type": "sqlite", "path": str(tmp_path / "h.sqlite"), "flush_every": "10m"}}
    config = write_config(collector_table(broker, lab, data_dir=str(tmp_path / "data"), sinks=sinks))
    collector = Collector(config)
    collector.start()
    try:
        collector.run(cycles=1)
        with closing(sqlite3.connect(tmp_path / "data" / "outbox.sqlite")) as watcher:
            version = watcher.execute("PRAGMA data_version").fetchone()
            collector.run(cycles=2)
            assert watcher.execute("PRAGMA data_version").fetchone() == version  # the batches stayed in memory
        # status reads the file, which does not hold them: it must not say the history's backlog is 0
        [running] = [
            d for d in build_report(collector.settings, time.time())["delivery"] if d["target"] == "sink:history"
        ]
        assert running["in_memory"] and running["backlog"] is None and running["delivered"] is None
        assert "in the collector's memory" in "\n".join(render(build_report(collector.settings, time.time())))
    finally:
        collector.stop()
    [stopped] = [d for d in build_report(collector.settings, time.time())["delivery"] if d["target"] == "sink:history"]
    assert not stopped["in_memory"] and stopped["delivered"] is not None  # a clean stop wrote them to the file
    with closing(sqlite3.connect(tmp_path / "h.sqlite")) as db:
        (cycles,) = db.execute("SELECT COUNT(DISTINCT cycle_at) FROM readings").fetchone()
    with closing(sqlite3.connect(tmp_path / "data" / "outbox.sqlite")) as db:
        (left,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
    assert cycles + left == 3  # each cycle stored, or left in the outbox for the next start
