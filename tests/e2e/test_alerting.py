"""Alerts end to end: a simulated laser losing lock, through a real broker, to the console and Discord."""

import threading

from labmon.testing import Answer, ScriptedServer
from labmon_collector.service import Collector
from tests.conftest import collector_table, invoke

FLAKY_LASER = {
    "type": "sim", "signal": "laser-lock", "reading": "lock_error", "unit": "V", "level": 0.05,
    "amplitude": 1.0, "unlock_every": "1s", "unlock_for": "400ms",
}  # fmt: skip
DISCORD_OK = Answer.json(200, {"id": "1"})


def test_a_laser_losing_lock_reaches_discord_and_the_console_then_resolves(
    lab_with, broker, write_config, monkeypatch, capsys
):
    (table,) = lab_with({"laser1": FLAKY_LASER})
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")
        notifiers = {
            "console": {"type": "console"},
            "discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_URL}"},
        }
        rule = {"name": "laser1-unlocked", "select": "*/laser1/lock_error", "above": 0.5, "for": "150ms"}
        config = collector_table(
            broker, [table], interval="100ms", reply_timeout="80ms", notifiers=notifiers,
            rules=[{**rule, "severity": "critical"}],
        )  # fmt: skip
        collector = Collector(write_config(config))
        collector.start()
        stop = threading.Event()
        runner = threading.Thread(target=collector.run, kwargs={"stop": stop})
        runner.start()
        posted = discord.wait_for(3, timeout=30)  # "monitoring started", the alert, its resolution
        stop.set()
        runner.join()
        collector.stop()
    titles = [r.json()["embeds"][0]["title"] for r in posted[:3]]
    assert titles == ["INFO: labmon-collector", "CRITICAL: laser1-unlocked", "RESOLVED: laser1-unlocked"]
    printed = capsys.readouterr().out
    assert f"ALERT [critical] laser1-unlocked: {table}/laser1/lock_error has been above 0.5 V for" in printed
    assert f"RESOLVED laser1-unlocked: {table}/laser1/lock_error is back at" in printed


def test_notifier_policy_no_resolved_and_an_hourly_cap(lab, broker, write_config, capsys):
    rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s", "repeat_interval": "1ms"}
    notifiers = {"quiet": {"type": "console", "send_resolved": False, "max_per_hour": 3}}
    collector = Collector(write_config(collector_table(broker, lab, notifiers=notifiers, rules=[rule])))
    collector.start()
    assert collector.wait_connected(10)
    for number in range(1, 4):
        collector.run_cycle(number)  # two series, repeating every cycle: 6 alerts
    collector.stop()
    assert capsys.readouterr().out.count("has been above") == 3  # the cap counts alerts, grouped or not
    assert collector.router.capped == 3


def test_silence_commands_and_status(lab, broker, write_config, monkeypatch):
    rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s"}
    config = write_config(collector_table(broker, lab, notifiers={"console": {"type": "console"}}, rules=[rule]))
    monkeypatch.setenv("LABMON_CONFIG", str(config.path))
    added = invoke("silence", "add", f"{lab[0]}/*", "--for", "2h", "--comment", "realigning table 1")
    assert added.exit_code == 0 and "silence #1" in added.output
    collector = Collector(config)
    collector.start()
    assert collector.wait_connected(10)
    collector.run_cycle(1)
    collector.stop()
    status = invoke("status", str(config.path)).output
    assert f"hot                      {lab[0]}/laser1/lock_error" in status and "(silenced)" in status
    assert "FIRING" in status and "realigning table 1" in status
    assert invoke("silence", "list").output.count("#1") == 1
    assert invoke("silence", "remove", "1").exit_code == 0
    assert invoke("silence", "remove", "1").exit_code == 1
    assert "silences: none" in invoke("silence", "list").output
