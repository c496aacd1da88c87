"""Escalation end to end: through a real broker, the team channel first, then the phone, on an injected clock."""

from labmon.testing import ScriptedServer
from labmon_collector.service import Collector
from tests.conftest import collector_table

from .test_discord import MESSAGE_OK


def test_an_unacknowledged_alert_goes_to_the_phone_after_escalate_after(lab, broker, write_config, monkeypatch):
    times = iter([100_000.0 + 60 * i for i in range(4)])
    with ScriptedServer(MESSAGE_OK) as team, ScriptedServer(MESSAGE_OK) as phone:
        monkeypatch.setenv("TEST_TEAM_HOOK", f"{team.url}/api/webhooks/1/team")
        monkeypatch.setenv("TEST_PHONE_HOOK", f"{phone.url}/api/webhooks/2/phone")
        notifiers = {
            "team": {"type": "discord", "webhook_url": "${TEST_TEAM_HOOK}"},
            "phone": {"type": "discord", "webhook_url": "${TEST_PHONE_HOOK}"},
        }
        rule = {
            "name": "hot", "select": f"{lab[0]}/laser1/lock_error", "above": 0.01, "notify": ["team"],
            "escalate_after": "2m", "escalate_to": ["phone"],
        }  # fmt: skip
        config = write_config(collector_table(broker, lab, interval="1m", notifiers=notifiers, rules=[rule]))
        collector = Collector(config, clock=lambda: next(times), announce=False)  # an injected clock: no waiting
        collector.start()
        try:
            assert collector.wait_connected(10)
            for number in range(1, 5):
                collector.run_cycle(number)  # fires at once; two minutes later nobody has acknowledged it
            (told,) = team.wait_for(1)
            (escalated,) = phone.wait_for(1)
        finally:
            collector.stop()
    assert told.json()["embeds"][0]["description"].startswith(f"{lab[0]}/laser1/lock_error has been above")
    assert escalated.json()["embeds"][0]["description"].startswith("not acknowledged for 2m: ")
    assert len(team.requests) == 1 and len(phone.requests) == 1  # the phone hears once, the team is not told twice
