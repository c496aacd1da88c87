"""The collector keeps the silences it read between cycles; one another process adds or removes counts next cycle."""

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
