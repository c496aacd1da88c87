"""A service slower than its timeout gets at most two copies of an alert: the next try waits longer."""

import json

from labmon.testing import Answer, ScriptedServer, wait_until
from labmon_collector.service import Collector
from tests.conftest import collector_table

SLOW_DISCORD = Answer(200, json.dumps({"id": "1"}).encode(), {"Content-Type": "application/json"}, delay=1.5)


def test_a_discord_slower_than_its_timeout_gets_two_copies_not_one_a_try(lab, broker, write_config, monkeypatch):
    rule = {"name": "hot", "select": f"{lab[0]}/laser1/lock_error", "above": 0.01, "for": "0s"}
    with ScriptedServer(SLOW_DISCORD) as discord:
        monkeypatch.setenv("TEST_SLOW_DISCORD", f"{discord.url}/api/webhooks/1/token")
        notifiers = {
            "slow": {"type": "discord", "webhook_url": "${TEST_SLOW_DISCORD}", "timeout": "1s", "notices": False}
        }
        table = collector_table(broker, lab, notifiers=notifiers, rules=[rule])
        table["collector"]["delivery"] = {"retry_initial": "100ms"}
        collector = Collector(write_config(table))
        collector.start()
        assert collector.wait_connected(10)
        collector.run_cycle(1)
        courier = collector.couriers["notifier:slow"]
        wait_until(lambda: len(discord.requests) >= 2 and courier.idle.is_set(), 60, "the alert delivered")
        collector.stop()
        copies = len(discord.requests)
    assert copies == 2  # the try that timed out (the service still posted it), and the one that waited 2s
    assert collector.notifiers["slow"].timeout == 2.0
