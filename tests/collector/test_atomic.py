"""State files change all at once or not at all: a failure in the middle of a save leaves the previous state."""

import json
import sqlite3
from contextlib import closing

import pytest

from labmon_collector.alerting.alertstore import BEAT, PAGE_SIZE, AlertStore, SeriesState, _text
from labmon_collector.alerting.events import EventLog
from labmon_collector.sqlitedb import transaction


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


def writes(store, states, seen, now) -> list[str]:
    """Return the INSERT/DELETE statements one save ran."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.save(states, seen, now)
    store._db.set_trace_callback(None)
    return [s for s in statements if s.split()[0] in ("INSERT", "DELETE")]


def test_a_steady_lab_rewrites_nothing_but_the_cycle_time(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    firing = {("hot", "t1/a/b"): SeriesState("firing", since=60.0, notified_at=60.0)}
    seen = {f"t1/i{k}/r": 120.0 for k in range(50)}
    assert len(writes(store, firing, seen, 120.0)) > 50  # the first save writes everything
    assert writes(store, firing, dict.fromkeys(seen, 180.0), 180.0) == []  # left for the cycle's note
    changes = store._db.total_changes
    store.note(last_cycle_at=200.0, disconnected={})
    store.note(last_cycle_at=200.0, disconnected={})  # nothing changed: nothing written, no transaction
    assert store._db.total_changes - changes == 3  # valid_as_of, last_cycle_at, disconnected: in one commit


def test_an_unchanged_note_writes_nothing(tmp_path):
    path = tmp_path / "alerts.sqlite"
    store = AlertStore(path)
    store.note(started_at=1.0, stopped_at=None, held_back=[])
    store.close()
    store = AlertStore(path)  # what the file holds is known after a restart too
    watcher = sqlite3.connect(path)
    version = watcher.execute("PRAGMA data_version").fetchone()
    store.note(started_at=1.0, stopped_at=None, held_back=[])
    assert watcher.execute("PRAGMA data_version").fetchone() == version
    store.note(started_at=2.0, held_back=[])
    assert watcher.execute("PRAGMA data_version").fetchone() != version
    assert store.facts() == {"started_at": 2.0, "stopped_at": None, "held_back": []}
    store.close()
    watcher.close()


def test_a_restart_knows_every_last_valid_time(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    for now, broken in ((120.0, 120.0), (180.0, 120.0), (240.0, 120.0)):  # broken stopped reading at 120
        store.save({}, {"t1/a/ok": now, "t1/a/broken": broken}, now)
        store.note(last_cycle_at=now)  # as the collector does each cycle
    store._db.close()  # as after a SIGKILL: nothing more was written than these saves and notes
    _, seen = AlertStore(tmp_path / "alerts.sqlite").load()
    assert seen == {"t1/a/ok": 240.0, "t1/a/broken": 120.0}


def test_a_clean_stop_writes_the_last_cycle_time_a_save_left(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    store.save({}, {"t1/a/ok": 120.0}, 120.0)
    store.save({}, {"t1/a/ok": 180.0}, 180.0)  # nothing but the cycle time changed: left for a note
    store.close()
    _, seen = AlertStore(tmp_path / "alerts.sqlite").load()
    assert seen == {"t1/a/ok": 180.0}


def test_a_state_file_of_the_first_layout_is_migrated(tmp_path):
    path = tmp_path / "alerts.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE series_seen (series TEXT PRIMARY KEY, last_valid_at REAL NOT NULL)")
    db.execute("INSERT INTO series_seen VALUES ('t1/a/b', 42.0)")
    db.commit()
    db.close()
    _, seen = AlertStore(path).load()
    assert seen == {"t1/a/b": 42.0}


def test_an_event_record_is_one_transaction(tmp_path):
    log = EventLog(tmp_path / "events.sqlite")
    statements: list[str] = []
    log._db.set_trace_callback(statements.append)
    notes = [("hot", "t1/a/b", "acknowledged", "by ann"), ("hot", "t1/a/c", "held back", "by its dependency")]
    log.record({}, {}, [], 60.0, notes)
    assert [s.split()[0] for s in statements if s.split()[0] in ("BEGIN", "COMMIT")] == ["BEGIN", "COMMIT"]
    assert len(log.query()) == 2


def test_the_alert_state_is_kept_in_small_pages_and_a_file_made_before_is_rebuilt_so(tmp_path):
    path = tmp_path / "alerts.sqlite"
    with closing(sqlite3.connect(path)) as old:  # a file made by an earlier labmon: 4 kB pages, in WAL
        old.execute("PRAGMA journal_mode=WAL")
        old.execute("CREATE TABLE collector (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        old.execute("""INSERT INTO collector VALUES ('digest_sent', '12.0')""")
        old.commit()
        assert old.execute("PRAGMA page_size").fetchone() == (4096,)
        busy = AlertStore(path)  # open elsewhere: left as it is, and working
        assert busy.facts() == {"digest_sent": 12.0}
        assert busy._db.execute("PRAGMA page_size").fetchone() == (4096,)
        busy.close()
    store = AlertStore(path)
    assert store.facts() == {"digest_sent": 12.0}
    assert store._db.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
    assert store._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    store.close()
    new = AlertStore(tmp_path / "new.sqlite")
    assert new._db.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
    new.close()


def test_facts_and_states_another_writer_changed_are_written_again_though_unchanged_here(tmp_path):
    """A `labmon collector --once` beside the service writes its own cycle into the file: the service's next
    save and note put its own back, though its values did not change (it notices the other writer)."""
    service = AlertStore(tmp_path / "alerts.sqlite")
    hot = {("hot", "t1/laser1/lock_error"): SeriesState("firing", since=60.0, notified_at=60.0)}
    service.load()
    service.save(hot, {"t1/laser1/lock_error": 60.0}, 60.0)
    service.note(last_cycle=7, interval=1.0)
    once = AlertStore(tmp_path / "alerts.sqlite")
    once.load()
    once.save({("cold", "t2/oven/t"): SeriesState("pending", since=61.0)}, {}, 61.0)
    once.note(last_cycle=1, interval=5.0)
    once.close()
    service.save(hot, {"t1/laser1/lock_error": 60.0}, 60.0)
    service.note(last_cycle=7, interval=1.0)
    reader = AlertStore(tmp_path / "alerts.sqlite")
    assert reader.load() == (hot, {"t1/laser1/lock_error": 60.0})
    assert {key: reader.facts()[key] for key in ("last_cycle", "interval")} == {"last_cycle": 7, "interval": 1.0}
    reader.close()
    service.close()


def test_the_cycle_time_alone_is_written_once_per_beat_and_status_allows_for_it(tmp_path):
    path = tmp_path / "alerts.sqlite"
    store = AlertStore(path)
    store.note(started_at=0.0, stopped_at=None, last_cycle_at=None, interval=10.0)
    watcher = AlertStore(path)  # `labmon status`: another process, reading the file
    written = []
    for cycle in range(1, 14):
        store.note(last_cycle_at=cycle * 10.0, last_cycle=cycle)
        written.append(watcher.facts()["last_cycle_at"])
        assert store.facts()["last_cycle_at"] == cycle * 10.0  # the collector's own page: current
    assert written == [10.0] * 6 + [70.0] * 6 + [130.0]  # every sixth cycle (BEAT) when nothing else changed
    store.note(last_cycle_at=140.0, disconnected={"a": 1.0})  # something else changed: written with it
    assert watcher.facts()["last_cycle_at"] == 140.0
    assert (store.lag(), watcher.lag()) == (0.0, BEAT)
    store.close()
    assert watcher.facts()["last_cycle_at"] == 140.0
    watcher.close()


def test_one_look_at_the_file_serves_a_cycle(tmp_path):
    """Whether another writer changed the file is looked at once per cycle (`PRAGMA data_version`, a fifth of a
    small lab's cycle when its silences, acks, save and note each looked), as the cycle reads its silences."""
    store = AlertStore(tmp_path / "alerts.sqlite")
    store.note(started_at=0.0, interval=60.0)
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    for now in (60.0, 120.0, 180.0):
        store.silences(now)
        store.acks()
        store.save({}, {"t1/a/b": now}, now)
        store.note(last_cycle_at=now, last_cycle=int(now / 60), disconnected={}, held_back=[], clocks={})
    assert [s for s in statements if "data_version" in s] == ["PRAGMA data_version"] * 3
    store.close()


@pytest.mark.parametrize(
    "value", [0, 7, -3, 1.5, 1e-05, 1796684921.3150694, 1e300, None, {}, [], {"a": 1.0}, [["r", "s", "why"]], True,
              "x", float("nan"), float("inf")],
)  # fmt: skip
def test_a_fact_is_stored_as_json_dumps_writes_it(value):
    assert _text(value) == json.dumps(value)


def test_a_transaction_sqlite_rolled_back_itself_raises_its_own_error_not_a_failed_rollback(tmp_path):
    """Some errors end the transaction in SQLite itself (SQLITE_FULL may): the caller must see that error, which
    says whether the disk refused the write, not "cannot rollback - no transaction is active"."""
    db = sqlite3.connect(tmp_path / "x.sqlite", isolation_level=None)
    db.execute("CREATE TABLE t (x INTEGER)")
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON t BEGIN SELECT RAISE(ROLLBACK, 'refused by the trigger'); END")
    with pytest.raises(sqlite3.IntegrityError, match="refused by the trigger"), transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
    assert not db.in_transaction
    db.close()
