import json
import logging
import sqlite3
import threading

from labmon.messages import Topics, encode_result
from labmon.models import Reading, Result
from labmon.testing import wait_until
from labmon_collector.service import Collector
from tests.conftest import collector_table, invoke, measurer_table


def started(config):
    collector = Collector(config)
    collector.start()
    assert collector.wait_connected(10)
    return collector


def test_a_cycle_gathers_every_measurer_and_stores_it(lab, broker, write_config, tmp_path):
    collector = started(write_config(collector_table(broker, lab)))
    batch = collector.run_cycle(1)
    collector.stop()
    assert [r.measurer for r in batch.results] == lab and batch.missing == ()
    rows = sqlite3.connect(tmp_path / "history.sqlite").execute(
        "SELECT measurer, instrument, name, value FROM readings"
    )
    assert sorted(rows) == [(lab[0], "laser1", "lock_error", 0.05), (lab[1], "laser1", "lock_error", 0.05)]


def test_a_silent_measurer_is_reported_missing(lab, broker, write_config, tmp_path):
    collector = started(write_config(collector_table(broker, [*lab, "ghost"], reply_timeout="300ms")))
    batch = collector.run_cycle(1)
    collector.stop()
    assert batch.missing == ("ghost",) and len(batch.results) == 2
    assert list(sqlite3.connect(tmp_path / "history.sqlite").execute("SELECT measurer FROM missing")) == [("ghost",)]


def test_late_malformed_and_foreign_replies_are_counted_not_used(lab, broker, write_config, listen):
    collector = started(write_config(collector_table(broker, lab)))
    results = Topics("labmon", lab[0]).results
    stale = Result("an-old-inquiry", lab[0], 1.0, (Reading("lock_error", 9.0, "V", instrument="laser1"),))
    foreign = Result("x", "impostor", 1.0, ())
    with listen("noise") as noise:
        noise.watch(results)
        noise.client.publish(results, b"value1:Main Chamber Pressure:1E-9:<p>")
        noise.client.publish(results, encode_result(stale))
        noise.client.publish(results, encode_result(foreign))
        noise.wait_for(results, lambda got: len(got) == 3)
    batch = collector.run_cycle(1)
    collector.stop()
    assert (collector.counters.malformed, collector.counters.late, collector.counters.foreign) == (1, 1, 1)
    assert all(r.value == 0.05 for _, r, _ in batch.rows())


def test_run_keeps_going_until_stopped(lab, broker, write_config):
    collector = started(write_config(collector_table(broker, lab, interval="200ms", reply_timeout="150ms")))
    stop = threading.Event()
    last = collector.run(cycles=3, stop=stop)
    collector.stop()
    assert last.cycle == 3 and last.missing == ()


def test_once_exits_nonzero_when_a_measurer_is_silent(lab, broker, write_config):
    ok = write_config(collector_table(broker, lab), "ok.toml")
    assert invoke("collector", str(ok.path), "--once").exit_code == 0
    silent = write_config(collector_table(broker, [*lab, "ghost"], reply_timeout="300ms"), "silent.toml")
    result = invoke("collector", str(silent.path), "--once")
    assert result.exit_code == 1 and "no reply from ghost" in result.output


def test_alerts_reach_the_notifier(lab, broker, write_config, capsys):
    rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s", "severity": "critical"}
    config = collector_table(broker, lab, notifiers={"console": {"type": "console"}}, rules=[rule])
    collector = started(write_config(config))
    collector.run_cycle(1)
    collector.stop()
    firing = sorted(series for (_, series), state in collector.rules.states.items() if state.state == "firing")
    assert firing == [f"{m}/laser1/lock_error" for m in lab]
    printed = capsys.readouterr().out
    assert printed.count("ALERT [critical] hot: 2 alerts") == 1  # one cycle's alerts: one message
    assert printed.count("- [critical] hot:") == 2


def test_a_missing_measurer_is_logged_when_it_goes_and_when_it_returns(lab, broker, write_config, caplog):
    from labmon_measurer.service import Measurer

    late = f"{lab[0]}-late"
    collector = started(write_config(collector_table(broker, [*lab, late], reply_timeout="300ms")))
    with caplog.at_level(logging.INFO, logger="labmon_collector.service"):
        for number in (1, 2, 3):
            assert collector.run_cycle(number).missing == (late,)
        measurer = Measurer(write_config(measurer_table(broker, late), "late.toml"))
        measurer.start()
        assert measurer.client.connected.wait(10)
        assert collector.run_cycle(4).missing == ()
        measurer.stop()
        collector.stop()
    said = [r.getMessage() for r in caplog.records if late in r.getMessage()]
    assert [m for m in said if "no reply" in m] == [f"cycle 1: no reply from {late} within 0.3s"]
    assert f"cycle 4: {late} answers again" in said


def test_inquiries_go_at_qos_0_but_one_probe_and_results_at_qos_1(lab, broker, write_config):
    """An inquiry is answered now or never (no PUBACK, no late resend), but one per broker and cycle goes at QoS 1:
    its PUBACK tells whether the broker takes them; a result carries data and is acknowledged."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    seen: dict[str, set[int]] = {"inquiries": set(), "results": set()}
    subscribed, arrived = threading.Event(), threading.Condition()

    def on_message(client, userdata, message):
        kind = message.topic.rsplit("/", 1)[-1]
        if kind in seen:
            with arrived:
                seen[kind].add(message.qos)
                arrived.notify_all()

    spy = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-qos-spy", protocol=mqtt.MQTTv5)
    spy.on_message, spy.on_subscribe = on_message, lambda *args: subscribed.set()
    spy.connect(broker.host, broker.port)
    spy.loop_start()
    collector = None
    try:
        spy.subscribe("labmon/#", qos=1)  # delivered at the lower of this and the publisher's QoS
        assert subscribed.wait(10)
        collector = started(write_config(collector_table(broker, lab)))
        assert collector.run_cycle(1).missing == ()
        with arrived:
            assert arrived.wait_for(lambda: all(seen.values()), 10), seen
        assert seen == {"inquiries": {0, 1}, "results": {1}}  # two measurers: the probe and one more
    finally:
        if collector is not None:
            collector.stop()
        spy.disconnect()
        spy.loop_stop()


def test_a_once_run_beside_the_running_collector_does_not_make_status_call_it_stopped(lab, broker, write_config):
    config = write_config(collector_table(broker, lab, interval="200ms", reply_timeout="150ms"))
    collector = started(config)
    stop = threading.Event()
    runner = threading.Thread(target=collector.run, kwargs={"stop": stop})
    runner.start()
    try:
        wait_until(lambda: collector.gauges.health.cycles >= 2, 30, "two cycles")
        assert invoke("collector", str(config.path), "--once").exit_code == 0  # it notes its own start and stop
        cycles = collector.gauges.health.cycles
        wait_until(lambda: collector.gauges.health.cycles >= cycles + 2, 30, "two more cycles")
        status = json.loads(invoke("status", "--json", str(config.path)).output)
        assert status["collector"]["running"] and status["collector"]["stopped_at"] is None, status["collector"]
    finally:
        stop.set()
        runner.join()
        collector.stop()
