"""Delivery that loses nothing: outages, a slow sink, a SIGKILLed collector, `labmon status`."""

import signal
import sqlite3
import subprocess
import sys

import pytest
import tomli_w

from labmon.builtin.csv_sink import iso
from labmon.testing import Answer, ScriptedServer
from labmon_collector.service import Collector
from tests.conftest import collector_table, invoke

CONGRATS = Answer(200, b"Congratulations! You've fired the lab event")
DOWN = Answer(503, b"Service Unavailable")
FAST_RETRY = {"retry_initial": "10ms", "retry_max": "50ms"}


@pytest.fixture
def ifttt_key(monkeypatch):
    monkeypatch.setenv("TEST_IFTTT_KEY", "k3y")
    return "k3y"


def config_for(broker, lab, server, timeout="2s"):
    sinks = {
        "history": {"type": "sqlite", "path": "history.sqlite"},
        "sheet": {
            "type": "ifttt",
            "event": "lab",
            "key": "${TEST_IFTTT_KEY}",
            "base_url": server.url,
            "timeout": timeout,
        },
    }
    return collector_table(broker, lab, sinks=sinks, delivery=FAST_RETRY, interval="2s", reply_timeout="1s")


def history_cycles(path):
    """Return the cycle times stored in the history, as the ISO strings IFTTT rows carry."""
    rows = sqlite3.connect(path).execute("SELECT DISTINCT cycle_at FROM readings ORDER BY cycle_at")
    return [iso(at) for (at,) in rows]


def test_an_outage_then_recovery_delivers_every_row_once_in_order(lab, broker, write_config, tmp_path, ifttt_key):
    with ScriptedServer(DOWN) as server:
        collector = Collector(write_config(config_for(broker, lab, server)))
        collector.start()
        assert collector.wait_connected(10)
        for number in range(1, 6):
            collector.run_cycle(number)
        server.wait_for(3, status=503)  # the sheet is down and being retried
        server.default = CONGRATS
        delivered = server.wait_for(5, status=200)
        collector.stop()
    assert [r.json()["value1"] for r in delivered] == history_cycles(tmp_path / "history.sqlite")
    assert len(delivered) == 5


def test_a_slow_sink_delays_neither_the_cycle_nor_other_sinks(lab, broker, write_config, tmp_path, ifttt_key):
    with ScriptedServer(Answer(200, b"ok", delay=30.0)) as server:
        collector = Collector(write_config(config_for(broker, lab, server, timeout="60s")))
        collector.start()
        try:
            assert collector.wait_connected(10)
            for number in range(1, 4):
                assert collector.run_cycle(number).missing == ()
            collector.couriers["sink:history"].stop()  # drains the history sink
            assert len(history_cycles(tmp_path / "history.sqlite")) == 3
            assert server.requests == []  # the first post to the sheet is still waiting for its answer
        finally:
            collector.stop(grace=0)


def test_a_collector_killed_with_a_backlog_delivers_it_after_restart(lab, broker, tmp_path, ifttt_key):
    with ScriptedServer(DOWN) as server:
        config = config_for(broker, lab, server)
        config["collector"]["sinks"]["console"] = {"type": "console"}
        path = tmp_path / "collector.toml"
        path.write_text(tomli_w.dumps(config))
        command = [sys.executable, "-m", "labmon", "--log-level", "error", "collector", str(path)]
        first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        for line in first.stdout:
            if line.startswith("cycle 4:"):
                break
        server.wait_for(2, status=503)
        first.send_signal(signal.SIGKILL)
        first.wait()
        server.default = CONGRATS
        second = subprocess.run([*command, "--cycles", "1"], capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        delivered = [r.json()["value1"] for r in server.requests if r.status == 200]
    stored = history_cycles(tmp_path / "history.sqlite")
    assert len(stored) >= 5
    assert sorted(set(delivered)) == stored  # every cycle reached the sheet (at least once)
    assert delivered == sorted(delivered)  # and in order


def test_status_shows_a_growing_backlog_then_its_drain(lab, broker, write_config, ifttt_key):
    with ScriptedServer(DOWN) as server:
        config = write_config(config_for(broker, lab, server))
        collector = Collector(config)
        collector.start()
        assert collector.wait_connected(10)
        for number in range(1, 4):
            collector.run_cycle(number)
        server.wait_for(2, status=503)
        collector.stop()
        result = invoke("status", str(config.path))
        assert result.exit_code == 2, result.output  # the collector is not running
        assert "collector: NOT RUNNING: stopped cleanly" in result.output
        sheet = next(line.strip() for line in result.output.splitlines() if line.strip().startswith("sink:sheet"))
        assert "backlog      3" in sheet and "waiting" in sheet
        assert "last error: TransientError: IFTTT answered HTTP 503" in result.output
        assert "k3y" not in result.output
        server.default = CONGRATS
        collector = Collector(config)
        collector.start()
        collector.stop()  # nothing new: the restart only drains
        result = invoke("status", str(config.path))
    sheet = next(line.strip() for line in result.output.splitlines() if line.strip().startswith("sink:sheet"))
    assert "backlog      0" in sheet and "delivered       3" in sheet


def test_a_bad_key_parks_the_sheet_and_keeps_its_rows(lab, broker, write_config, ifttt_key):
    with ScriptedServer(Answer.json(401, {"errors": [{"message": "You sent an invalid key."}]})) as server:
        config = write_config(config_for(broker, lab, server))
        collector = Collector(config)
        collector.start()
        assert collector.wait_connected(10)
        collector.run_cycle(1)
        collector.couriers["sink:sheet"].join(10)  # a permanent error ends the courier
        collector.run_cycle(2)
        collector.stop()
        result = invoke("status", str(config.path))
        assert len(server.requests) == 1  # parked: no hammering with a bad key
    sheet = next(line.strip() for line in result.output.splitlines() if line.strip().startswith("sink:sheet"))
    assert "backlog      2" in sheet and "PAUSED (IFTTT answered HTTP 401" in sheet
