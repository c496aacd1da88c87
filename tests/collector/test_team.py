"""Alerting a team would configure: notices per notifier, the cap naming its rule, scoped dependencies."""

import logging

from labmon.config import NotifierPolicy
from labmon.testing import Answer, ScriptedServer
from labmon_collector.alerting.routing import Router
from labmon_collector.service import Collector
from tests.collector.test_routing import RULES, alert, sent
from tests.conftest import collector_table


def test_an_on_call_phone_gets_alerts_but_not_the_start_and_stop_notices(lab, broker, write_config, monkeypatch):
    rule = {"name": "hot", "select": f"{lab[0]}/laser1/lock_error", "above": 0.01, "for": "0s"}
    with ScriptedServer(Answer.json(200, {"id": "1"})) as phone:
        monkeypatch.setenv("TEST_PHONE_URL", f"{phone.url}/api/webhooks/1/token")
        notifiers = {
            "console": {"type": "console"},
            "phone": {"type": "discord", "webhook_url": "${TEST_PHONE_URL}", "notices": False},
        }
        collector = Collector(write_config(collector_table(broker, lab, notifiers=notifiers, rules=[rule])))
        collector.start()
        assert collector.wait_connected(10)
        collector.run_cycle(1)
        collector.stop()  # waits for the couriers to drain
        titles = [r.json()["embeds"][0]["title"] for r in phone.wait_for(1)]
    assert titles == ["WARNING: hot"]  # no "monitoring started", no "monitoring paused"


def test_the_cap_names_the_rule_it_held_back(caplog):
    router = Router(RULES, {"discord": NotifierPolicy(max_per_hour=1)})
    sent(router, alert("hot", 0), alert("cold", 1), alert("cold", 2))
    held = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(held) == 2 and "held back (rule cold, 2 held back for it so far)" in held[1]


def test_group_by_measurer_through_mosquitto_sends_one_message_per_table(lab, broker, write_config, capsys):
    rules = [
        {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s"},
        {"name": "warm", "select": "*/laser1/lock_error", "above": 0.02, "for": "0s"},
    ]
    notifiers = {"console": {"type": "console", "group_by": ["measurer"], "notices": False}}
    collector = Collector(write_config(collector_table(broker, lab, notifiers=notifiers, rules=rules)))
    collector.start()
    assert collector.wait_connected(10)
    collector.run_cycle(1)
    collector.stop()
    printed = capsys.readouterr().out
    assert [line for line in printed.splitlines() if line.startswith("ALERT")] == [
        f"ALERT [warning] hot, warm: {name}: 2 alerts" for name in lab
    ]
