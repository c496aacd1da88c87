"""Acknowledge and latch, driven by explicit times: the CLI and the collector share alerts.sqlite."""

from labmon.testing import wait_until
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.rules import RulesEngine
from tests.conftest import collector_table, invoke

from .test_collector import started
from .test_rules import MINUTE, SERIES, feed, rule, states


def test_an_acknowledged_alert_says_who_and_why_once_then_stops_repeating(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    engine = RulesEngine((rule(for_=0.0, repeat_interval=10 * MINUTE),), store)
    assert states(feed(engine, [0.9] * 11)) == [(0, "firing", 0), (10, "firing", 1)]
    cli = AlertStore(tmp_path / "alerts.sqlite")  # `labmon ack` opens the same file
    (ack,) = cli.acknowledge("table1/laser1", "alice", "relocking", now=11 * MINUTE)
    assert (ack.rule, ack.series) == ("unlocked", SERIES)
    assert cli.acknowledge("table1", "bob", "", now=11 * MINUTE) == []  # the first ack stands
    told = feed(engine, [0.9] * 30, start=11 * MINUTE)
    assert states(told) == [(0, "firing", 1)]  # the ack itself, and no repeat for 30 minutes
    alert = told[0][1]
    assert alert.message.startswith("acknowledged by alice: relocking; table1/laser1/lock_error has been above")
    assert alert.labels["acknowledged_by"] == "alice" and alert.labels["ack_comment"] == "relocking"
    assert engine.notes == []  # the note went to the history in the cycle it was told
    resolved = feed(engine, [0.1], start=41 * MINUTE)
    assert resolved[0][1].message.endswith("(acknowledged by alice: relocking)")
    assert store.acks() == {}  # the ack ends when the alert resolves: the next firing notifies again
    assert states(feed(engine, [0.9], start=42 * MINUTE)) == [(0, "firing", 0)]


def test_the_ack_lands_in_the_engines_notes_for_the_history(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    engine = RulesEngine((rule(for_=0.0),), store)
    feed(engine, [0.9])
    store.acknowledge("*", "alice", "", now=MINUTE)
    feed(engine, [0.9], start=MINUTE)
    assert engine.notes == [("unlocked", SERIES, "acknowledged", "acknowledged by alice")]


def test_only_firing_alerts_can_be_acknowledged(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    engine = RulesEngine((rule(for_=5 * MINUTE),), store)
    feed(engine, [0.9, 0.9])  # pending
    assert store.acknowledge("*", "alice", "", now=2 * MINUTE) == []


def test_a_latched_alert_stays_firing_after_recovery_until_acknowledged(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    engine = RulesEngine((rule(for_=0.0, latch=True),), store)
    # the lock dropped for five minutes at 3 a.m.; nobody looks until the morning
    assert states(feed(engine, [0.9] * 5 + [0.1] * 300)) == [(0, "firing", 0)]
    assert engine.states[("unlocked", SERIES)].state == "firing"
    store.acknowledge(SERIES, "bob", "seen it", now=305 * MINUTE)
    (resolved,) = [a for _, a in feed(engine, [0.1], start=305 * MINUTE)]
    assert resolved.state == "resolved" and resolved.message.endswith("(acknowledged by bob: seen it)")
    assert engine.notes == [("unlocked", SERIES, "acknowledged", "acknowledged by bob: seen it")]
    assert ("unlocked", SERIES) not in engine.states and store.acks() == {}


def test_an_acknowledged_latched_alert_that_still_holds_fires_on_quietly(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    engine = RulesEngine((rule(for_=0.0, latch=True),), store)
    feed(engine, [0.9])
    store.acknowledge(SERIES, "bob", "", now=MINUTE)
    assert states(feed(engine, [0.9] * 3, start=MINUTE)) == [(0, "firing", 0)]  # the ack, once
    assert states(feed(engine, [0.1], start=4 * MINUTE)) == [(0, "resolved", 0)]  # recovered: an ack stands


def test_an_ack_survives_a_collector_restart(tmp_path):
    path = tmp_path / "alerts.sqlite"
    first = RulesEngine((rule(for_=0.0, latch=True),), AlertStore(path))
    feed(first, [0.9, 0.1])
    AlertStore(path).acknowledge(SERIES, "carol", "", now=2 * MINUTE)
    feed(first, [0.9], start=2 * MINUTE)  # told
    second = RulesEngine((rule(for_=0.0, latch=True),), AlertStore(path))
    assert states(feed(second, [0.9, 0.1], start=3 * MINUTE)) == [(1, "resolved", 0)]


def test_labmon_ack_reaches_a_running_collector_and_its_notifiers(lab, broker, write_config, tmp_path, capsys):
    rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s"}
    config = collector_table(broker, lab, notifiers={"console": {"type": "console"}}, rules=[rule])
    collector = started(write_config(config))
    try:
        collector.run_cycle(1)
        path = str(tmp_path / "labmon.toml")
        first = sorted(lab)[0]
        done = invoke("ack", "-c", path, first, "--comment", "relocking", "--by", "alice")
        assert done.exit_code == 0, done.output
        assert done.output == f"acknowledged hot on {first}/laser1/lock_error\n"
        assert invoke("ack", "-c", path, first).exit_code == 1  # nothing left to acknowledge there
        status = invoke("status", path).output
        assert "(acknowledged by alice: relocking)" in status
        collector.run_cycle(2)
        told = f"ALERT [warning] hot: acknowledged by alice: relocking; {first}/laser1/lock_error"
        printed: list[str] = []  # the courier prints on its own thread: gather until the ack is told
        wait_until(lambda: printed.append(capsys.readouterr().out) or told in "".join(printed))
        assert "".join(printed).count("acknowledged by") == 1  # the other one is not acked
        assert "acknowledged by alice: relocking" in invoke("alerts", path).output  # the alert history
    finally:
        collector.stop()


class AckedMidCycle(AlertStore):
    """A store whose alerts `labmon ack` acknowledges once, just after the engine read the acks of a cycle."""

    cli: AlertStore | None = None

    def acks(self):
        found = super().acks()
        if self.cli is not None:
            self.cli.acknowledge("*", "alice", "", now=0.0)
            self.cli = None
        return found


def test_an_ack_made_while_its_alert_resolves_does_not_silence_the_next_incident(tmp_path):
    store = AckedMidCycle(tmp_path / "alerts.sqlite")
    engine = RulesEngine((rule(for_=0.0, repeat_interval=10 * MINUTE),), store)
    feed(engine, [0.9])
    store.cli = AlertStore(tmp_path / "alerts.sqlite")
    assert states(feed(engine, [0.1], start=MINUTE)) == [(0, "resolved", 0)]
    assert list(store.acks()) == [("unlocked", SERIES)]  # the ack came too late for that cycle
    again = feed(engine, [0.9] * 11, start=2 * MINUTE)
    assert states(again) == [(0, "firing", 0), (10, "firing", 1)]  # told, and repeated: no ack hides it
    assert store.acks() == {}
