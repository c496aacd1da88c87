"""Who watches the watcher: `labmon status` knows a dead collector, exit codes, heartbeat pings, start/stop notices."""

import json
import logging
import signal
import subprocess
import sys
import threading
import time

import pytest
import tomli_w

from labmon import Duration, Secret
from labmon.config import HeartbeatConfig
from labmon.testing import Answer, ScriptedServer, free_port
from labmon_collector.delivery.heartbeat import Heartbeat
from labmon_collector.service import Collector
from tests.conftest import collector_table, invoke

HOT = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01}


def status_of(path):
    result = invoke("status", "--json", str(path))
    return result.exit_code, json.loads(result.output)


def test_status_tells_a_running_collector_from_a_killed_one(lab, broker, tmp_path):
    config = collector_table(broker, lab, interval="300ms", reply_timeout="250ms")
    config["collector"]["sinks"]["console"] = {"type": "console"}
    path = tmp_path / "collector.toml"
    path.write_text(tomli_w.dumps(config))
    command = [sys.executable, "-m", "labmon", "--log-level", "error", "collector", str(path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            if line.startswith("cycle 2:"):
                break
        code, report = status_of(path)
        assert (code, report["collector"]["running"]) == (0, True), report
        assert report["collector"]["text"].startswith("running, last cycle")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10
    while (result := invoke("status", str(path))).exit_code != 2 and time.monotonic() < deadline:
        threading.Event().wait(0.1)
    assert result.exit_code == 2, result.output
    assert "collector: NOT RUNNING: last cycle" in result.output and "ago (killed or hung?)" in result.output


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ({**HOT, "above": 1.0}, 0),
        ({**HOT, "for": "1h"}, 1),  # pending
        (HOT, 1),  # firing, warning
        ({**HOT, "severity": "critical"}, 2),
    ],
)
def test_status_exit_codes_follow_the_monitoring_plugin_convention(lab, broker, write_config, monkeypatch, rule, code):
    notifiers = {"console": {"type": "console"}}
    config = write_config(collector_table(broker, lab, rules=[rule], notifiers=notifiers))
    collector = Collector(config)
    collector.start()
    assert collector.wait_connected(10)
    collector.run_cycle(1)
    monkeypatch.setenv("LABMON_CONFIG", str(config.path))
    result = invoke("status", "--json")  # the config from LABMON_CONFIG, as `silence` takes it
    positional = invoke("status", str(config.path))
    collector.stop()
    assert result.exit_code == code, result.output
    states = {(a["rule"], a["state"]) for a in json.loads(result.output)["alerts"]}
    assert states <= {("hot", "pending"), ("hot", "firing")}
    assert positional.exit_code == code


def test_a_clean_stop_tells_the_notifiers_and_status(lab, broker, write_config, capsys):
    config = write_config(collector_table(broker, lab, notifiers={"console": {"type": "console"}}, rules=[HOT]))
    collector = Collector(config)
    collector.start()
    assert collector.wait_connected(10)
    collector.run_cycle(1)
    collector.stop()
    printed = capsys.readouterr().out
    assert f"ALERT [info] labmon-collector: monitoring started: polling {lab[0]}, {lab[1]} every 2s" in printed
    assert "ALERT [info] labmon-collector: monitoring paused: the collector stopped; 2 alerts were firing" in printed
    code, report = status_of(config.path)
    assert code == 2 and report["collector"]["text"].startswith("NOT RUNNING: stopped cleanly")


def test_heartbeat_pings_success_and_failure_without_showing_its_url(lab, broker, write_config, monkeypatch):
    with ScriptedServer(Answer(200, b"OK")) as monitor:
        monkeypatch.setenv("TEST_HEARTBEAT", f"{monitor.url}/ping/s3cret-uuid")
        heartbeat = {"url": "${TEST_HEARTBEAT}", "timeout": "2s"}
        ok = write_config(collector_table(broker, lab, heartbeat=heartbeat), "ok.toml")
        failing = write_config(
            collector_table(broker, [*lab, "ghost"], reply_timeout="300ms", heartbeat=heartbeat), "failing.toml"
        )
        for config in (ok, failing):
            collector = Collector(config)
            collector.start()
            assert collector.wait_connected(10)
            collector.run_cycle(1)
            collector.stop()
        pings = monitor.wait_for(2)
    assert [p.path for p in pings] == ["/ping/s3cret-uuid", "/ping/s3cret-uuid/fail"]
    assert pings[1].body == b"cycle 1: 2 answered, 1 missing, 0 not reachable, 0 error readings"


def test_an_unreachable_heartbeat_is_logged_once_without_its_secret(lab, broker, write_config, monkeypatch, caplog):
    monkeypatch.setenv("TEST_HEARTBEAT", f"http://127.0.0.1:{free_port()}/ping/s3cret-uuid?token=t0ken")
    config = write_config(collector_table(broker, lab, heartbeat={"url": "${TEST_HEARTBEAT}"}))
    collector = Collector(config)
    collector.start()
    assert collector.wait_connected(10)
    with caplog.at_level(logging.WARNING, logger="labmon_collector.delivery.heartbeat"):
        for number in (1, 2):
            collector.run_cycle(number)
        collector.stop()  # sends what is queued first
    failures = [r.getMessage() for r in caplog.records if r.name == "labmon_collector.delivery.heartbeat"]
    assert len(failures) == 1 and "heartbeat ping failed" in failures[0]
    assert "s3cret" not in failures[0] and "t0ken" not in failures[0]


def test_status_of_a_collector_that_never_ran(broker, write_config):
    config = write_config(collector_table(broker, ["table1"]))
    code, report = status_of(config.path)
    assert code == 2 and report["collector"]["text"].startswith("NOT RUNNING: it has never run with this config")


def test_a_heartbeat_url_written_in_the_config_is_refused(broker, tmp_path):
    config = collector_table(broker, ["table1"], heartbeat={"url": "https://hc-ping.com/0f3c-secret"})
    path = tmp_path / "collector.toml"
    path.write_text(tomli_w.dumps(config))
    result = invoke("check", str(path))
    assert result.exit_code == 1 and "[collector.heartbeat] url" in result.output, result.output
    assert "0f3c-secret" not in result.output


@pytest.mark.parametrize("args", [["status", "no-such.toml"], ["status"], ["status", "--json", "no-such.toml"]])
def test_status_is_unknown_not_critical_when_it_cannot_read_its_config(args, monkeypatch):
    monkeypatch.delenv("LABMON_CONFIG", raising=False)
    result = invoke(*args)
    assert result.exit_code == 3, result.output


def test_the_fail_ping_goes_to_the_path_not_into_the_query_string():
    with ScriptedServer(Answer(200, b"OK")) as monitor:
        heartbeat = Heartbeat(HeartbeatConfig(Secret(f"{monitor.url}/ping/uuid?rid=7"), Duration(2.0)))
        heartbeat.start()
        heartbeat.ping(False, "cycle 1: 1 missing")
        (ping,) = monitor.wait_for(1)
        heartbeat.stop()
    assert ping.path == "/ping/uuid/fail?rid=7"


@pytest.mark.parametrize(
    ("heartbeat", "problem"),
    [
        ({"url": "${TEST_HEARTBEAT}", "timeout": "0s"}, "[collector.heartbeat] timeout: must be longer than 0s"),
        ({"url": "${TEST_HEARTBEAT_FTP}"}, "[collector.heartbeat] url: is not an http(s) URL"),
    ],
)
def test_check_refuses_a_heartbeat_without_timeout_or_http_url(heartbeat, problem, broker, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_HEARTBEAT", "https://hc-ping.com/0f3c-secret")
    monkeypatch.setenv("TEST_HEARTBEAT_FTP", "ftp://hc-ping.com/0f3c-secret")
    path = tmp_path / "collector.toml"
    path.write_text(tomli_w.dumps(collector_table(broker, ["table1"], heartbeat=heartbeat)))
    result = invoke("check", str(path))
    assert result.exit_code == 1 and problem in result.output, result.output
    assert "0f3c-secret" not in result.output
