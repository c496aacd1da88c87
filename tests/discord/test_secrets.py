"""The webhook token never shows: not in logs, outbox.sqlite, `labmon status` or `notify-test`, however it fails."""

import logging
from urllib.parse import quote

import pytest

from labmon.testing import SilentListener, wait_until
from labmon_collector.delivery.outbox import Outbox
from labmon_collector.service import Collector
from tests.conftest import collector_table, invoke

TOKEN = "t0ken/with%odd+chars-that-must-never-show"
HOOK_ID = "112233445566778899"
FORMS = [TOKEN, quote(TOKEN, safe=""), quote(TOKEN), HOOK_ID, "t0ken"]


@pytest.fixture(params=["refused", "unresolvable", "connect-timeout"])
def dead_url(request):
    if request.param == "refused":
        yield "http://127.0.0.1:9"
    elif request.param == "unresolvable":
        yield "http://labmon-test.invalid"
    else:
        with SilentListener() as silent:
            yield silent.url


def test_a_failing_webhook_never_shows_its_token(dead_url, lab, broker, write_config, monkeypatch, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_DISCORD_DEAD", f"{dead_url}/api/webhooks/{HOOK_ID}/{quote(TOKEN, safe='')}")
    notifiers = {"discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_DEAD}", "connect_timeout": "300ms"}}
    rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s"}
    config = write_config(collector_table(broker, lab, notifiers=notifiers, rules=[rule]))
    collector = Collector(config)
    collector.start()
    assert collector.wait_connected(10)
    collector.run_cycle(1)
    wait_until(lambda: _last_error(collector.outbox), 20, "the Discord error in the outbox")
    collector.stop(grace=0)
    recorded = _last_error(Outbox(tmp_path / "labmon-data" / "outbox.sqlite"))
    assert recorded and "Discord unreachable" in recorded
    status = invoke("status", str(config.path)).output
    tested = invoke("notify-test", str(config.path)).output
    stored = b"".join(p.read_bytes() for p in (tmp_path / "labmon-data").glob("outbox.sqlite*"))
    assert "FAILED: Discord unreachable" in tested
    for form in FORMS:
        assert form not in caplog.text and form not in status and form not in tested, form
        assert form.encode() not in stored, form


def _last_error(outbox):
    return next((t.last_error for t in outbox.status() if t.target == "notifier:discord"), None)
