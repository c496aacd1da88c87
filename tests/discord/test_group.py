"""Alerts raised together: one Discord message of several embeds, within 10 embeds and 6000 characters."""

import dataclasses

import pytest

from labmon.testing import ScriptedServer
from labmon_collector.service import Collector
from tests.conftest import collector_table

from .test_discord import MESSAGE_OK, alert, discord_would_refuse, notifier


def several(count, message="m"):
    return [dataclasses.replace(alert(message=message), rule=f"rule{i}") for i in range(count)]


def total(embeds):
    texts = [t for e in embeds for t in (e["title"], e["description"], *(f["name"] + f["value"] for f in e["fields"]))]
    return sum(len(t.encode("utf-16-le")) // 2 for t in texts)


def test_a_group_is_one_message_with_an_embed_per_alert():
    with ScriptedServer(MESSAGE_OK) as server:
        notifier(server).notify_group(several(4))
        (request,) = server.wait_for(1)
    body = request.json()
    assert body["content"] == "table1: 4 alerts"
    assert [e["title"] for e in body["embeds"]] == [f"CRITICAL: rule{i}" for i in range(4)]


@pytest.mark.parametrize("filler", ["x", "🔥"])
def test_a_big_group_takes_messages_of_at_most_ten_embeds_and_6000_characters(filler):
    with ScriptedServer(MESSAGE_OK) as server:
        notifier(server).notify_group(several(13, filler * 5000))
        bodies = [r.json() for r in server.wait_for(2)]
    assert [(b["content"], len(b["embeds"])) for b in bodies] == [
        ("table1: 13 alerts (1/2)", 10),
        ("table1: 13 alerts (2/2)", 3),
    ]
    for body in bodies:
        assert total(body["embeds"]) <= 6000
        assert all(discord_would_refuse(e) == [] for e in body["embeds"])
        assert all(e["description"].startswith(filler) for e in body["embeds"])


def test_a_cycles_alerts_reach_discord_as_one_message_through_the_collector(lab, broker, write_config, monkeypatch):
    with ScriptedServer(MESSAGE_OK) as server:
        monkeypatch.setenv("TEST_DISCORD_HOOK", f"{server.url}/api/webhooks/1/token")
        notifiers = {"discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_HOOK}"}}
        rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01}
        collector = Collector(write_config(collector_table(broker, lab, notifiers=notifiers, rules=[rule])))
        collector.announce = False
        collector.start()
        try:
            assert collector.wait_connected(10)
            collector.run_cycle(1)
            (request,) = server.wait_for(1)
        finally:
            collector.stop()
    body = request.json()
    assert body["content"] == "2 alerts"  # one per measurer, in one message
    assert sorted(e["fields"][0]["value"] for e in body["embeds"]) == sorted(lab)
