"""The collector keeps the silences it read between cycles; one another process adds or removes counts next cycle."""

import sqlite3

from labmon_collector.service import Collector
from tests.conftest import collector_table, invoke


class Told(Collector):
    """A collector that remembers, per cycle, the alerts it would notify."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.told = []

    def _to_send(self, alerts):
        sent = super()._to_send(alerts)
        self.told.append(sorted(alert.series for alert in sent))
        return sent


def test_labmon_silence_reaches_a_running_collector_at_its_next_cycle(lab, broker, write_config, monkeypatch):
    rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s", "repeat_interval": "1ms"}
    notifiers = {"console": {"type": "console"}}
    config = write_config(collector_table(broker, lab, notifiers=notifiers, rules=[rule]))
    monkeypatch.setenv("LABMON_CONFIG", str(config.path))
    collector = Told(config)
    collector.start()
    try:
        assert collector.wait_connected(10)
        first, second = (f"{name}/laser1/lock_error" for name in sorted(lab))
        collector.run_cycle(1)  # reads (and keeps) the silences: none
        added = invoke("silence", "add", sorted(lab)[0], "--for", "1h")  # its own connection: another writer
        assert added.exit_code == 0, added.output
        collector.run_cycle(2)
        assert invoke("silence", "remove", "1").exit_code == 0
        collector.run_cycle(3)
    finally:
        collector.stop()
    assert collector.told == [[first, second], [second], [first, second]]


def test_a_silence_the_collectors_own_page_adds_counts_next_cycle(tmp_path):
    from labmon_collector.alerting.alertstore import AlertStore

    store = AlertStore(tmp_path / "alerts.sqlite")
    assert store.silences(100.0) == []
    silence = store.add_silence("t1/*", 100.0, 200.0, "")  # the same connection: data_version does not change
    assert [s.id for s in store.silences(150.0)] == [silence]
    assert store.silences(250.0) == []  # ended
    assert [s.id for s in store.silences(150.0)] == [silence]  # an earlier time than last asked (a test's clock)
    assert store.remove_silence(silence)
    assert store.silences(150.0) == []
    store.close()


def test_a_failed_read_of_the_silences_while_the_answers_come_loses_no_cycle(lab, broker, write_config, monkeypatch):
    """The cycle reads the silences while it awaits the answers; if the file refuses that read (busy, failing:
    injected here, as a WAL reader cannot be kept waiting on demand), the evaluation reads them itself, after the
    batch is stored, as before that early read: the cycle's readings and alerts are not lost with it."""
    rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s"}
    config = write_config(collector_table(broker, lab, notifiers={"console": {"type": "console"}}, rules=[rule]))
    monkeypatch.setenv("LABMON_CONFIG", str(config.path))
    assert invoke("silence", "add", sorted(lab)[0], "--for", "1h").exit_code == 0
    collector = Told(config)
    read = collector.store.silences
    refusals = [sqlite3.OperationalError("database is locked")]

    def silences(now):
        if refusals:
            raise refusals.pop()
        return read(now)

    monkeypatch.setattr(collector.store, "silences", silences)
    collector.start()
    try:
        assert collector.wait_connected(10)
        batch = collector.run_cycle(1)
    finally:
        collector.stop()
    assert not refusals and sorted(r.measurer for r in batch.results) == sorted(lab)
    assert collector.told == [[f"{sorted(lab)[1]}/laser1/lock_error"]]  # the silence read by the evaluation
