"""A broker blip is not N dead measurers: a real Mosquitto stopped and started again under a running collector."""

import sqlite3
import threading

import pytest

from labmon.testing import Answer, ScriptedServer, wait_until
from labmon_collector.service import Collector
from tests.conftest import SIM_LASER as SIM
from tests.conftest import collector_table, invoke, measurer_table

DISCORD_OK = Answer.json(200, {"id": "1"})


def count(path, sql):
    try:
        with sqlite3.connect(path) as db:
            return db.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # the sink has not created its tables yet
        return 0


@pytest.fixture
def blip_lab(own_broker, write_config):
    """Two measurers on a broker of the test's own, which the test stops and starts."""
    from labmon_measurer.service import Measurer

    measurers = []
    for name in ("blip-0", "blip-1"):
        measurer = Measurer(write_config(measurer_table(own_broker, name), f"{name}.toml"))
        measurer.start()
        assert measurer.client.connected.wait(10)
        measurers.append(measurer)
    yield [m.name for m in measurers]
    for measurer in measurers:
        measurer.stop()


def test_a_ten_second_outage_raises_one_broker_alert_and_no_offline_alerts(
    own_broker, blip_lab, write_config, monkeypatch, tmp_path, caplog
):
    history = tmp_path / "history.sqlite"
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")
        rules = [
            {"name": "gone", "select": "*", "offline": True, "for": "1s", "severity": "critical"},
            {"name": "broker", "select": "*", "broker": True, "for": "4s"},
        ]
        notifiers = {"discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_URL}"}}
        config = collector_table(
            own_broker, blip_lab, interval="500ms", reply_timeout="300ms", notifiers=notifiers, rules=rules
        )
        config["collector"]["sinks"]["csv"] = {"type": "csv", "path": str(tmp_path / "readings.csv")}
        loaded = write_config(config)
        config_path = loaded.path
        collector = Collector(loaded)
        collector.start()
        stop = threading.Event()
        runner = threading.Thread(target=collector.run, kwargs={"stop": stop})
        runner.start()
        try:
            wait_until(lambda: count(history, "SELECT COUNT(*) FROM readings") >= 4, 20, "two good cycles")
            own_broker.stop()
            cut_off = "SELECT COUNT(DISTINCT cycle_at) FROM disconnected"
            wait_until(lambda: count(history, cut_off) >= 20, 30, "ten seconds of cycles without the broker")
            during = invoke("status", str(config_path))
            up_during = dict(collector.gauges.health.up)  # labmon_measurer_up: not 1 while nobody can ask
            own_broker.start()
            back = "SELECT COUNT(*) FROM readings WHERE cycle_at > (SELECT MAX(cycle_at) FROM disconnected)"
            wait_until(lambda: count(history, back) >= 8, 30, "four good cycles after the outage")
        finally:
            stop.set()
            runner.join()
            collector.stop()
        titles = [r.json()["embeds"][0]["title"] for r in discord.requests]
        messages = [r.json()["embeds"][0]["description"] for r in discord.requests]
    alerts = [t for t in titles if "labmon-collector" not in t]
    assert alerts == ["WARNING: broker", "RESOLVED: broker"], messages
    address = f"{own_broker.host}:{own_broker.port}"
    assert f"collector cannot reach broker {address} since" in messages[titles.index(alerts[0])]
    assert during.exit_code == 1, during.output  # firing warning and the broker out of reach; not a dead collector
    assert "collector: running, last cycle" in during.output
    assert f"  collector cannot reach broker {address} since" in during.output
    assert count(history, "SELECT COUNT(*) FROM missing") == 0
    rows = (tmp_path / "readings.csv").read_text().splitlines()
    assert any(",disconnected,the collector could not reach its broker" in row for row in rows)
    assert not any(",missing," in row for row in rows)  # the gap is the collector's, not the measurers'
    assert not [r for r in caplog.records if "is offline" in r.getMessage()]  # the Last Wills of the shutdown
    assert up_during == dict.fromkeys(blip_lab, False) and set(collector.gauges.health.up.values()) == {True}


def test_a_connection_dropped_during_a_cycle_judges_nobody(secured_broker, write_config):
    """Plain, password+ACL and TLS: the broker restarts while the collector waits for a silent measurer."""
    from labmon_measurer.service import Measurer

    measurers = []
    for name in ("drop-0", "drop-1"):
        config = {"broker": secured_broker.keys[name], "measurer": {"name": name, "instruments": {"laser1": SIM}}}
        measurers.append(Measurer(write_config(config, f"{name}.toml")))
        measurers[-1].start()
        assert measurers[-1].client.connected.wait(10)
    config = collector_table(secured_broker.broker, ["drop-0", "drop-1", "ghost"], interval="5s", reply_timeout="2s")
    config["broker"] = secured_broker.keys["collector"]
    collector = Collector(write_config(config))
    collector.start()
    try:
        assert collector.wait_connected(10)
        first = collector.run_cycle(1)
        assert (len(first.results), first.missing, first.disconnected) == (2, ("ghost",), ())
        second = {}
        runner = threading.Thread(target=lambda: second.update(batch=collector.run_cycle(2)))
        runner.start()

        def answered():
            with collector._lock:  # peek at the running cycle: both real measurers have answered
                return collector._cycle is not None and len(collector._cycle.results) == 2

        wait_until(answered, 10, "both measurers to answer cycle 2")
        secured_broker.broker.restart()
        runner.join()
    finally:
        collector.stop()
        for measurer in measurers:
            measurer.stop()
    batch = second["batch"]
    assert [r.measurer for r in batch.results] == ["drop-0", "drop-1"]  # what came before the drop is kept
    assert (batch.missing, batch.disconnected) == ((), ("ghost",))
