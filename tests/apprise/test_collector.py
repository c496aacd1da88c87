"""End to end: a simulated laser out of lock, through a real broker and the collector, to a mailbox via Apprise."""

import threading
from pathlib import Path

from labmon.testing import wait_until
from labmon_collector.service import Collector
from tests.apprise.conftest import PASSWORD, TOKEN, free_port, text_of
from tests.conftest import collector_table, invoke

# Unlocked from the start and staying so: one mail (Apprise spaces mails to one server 5.5s apart, its flood guard).
UNLOCKED_LASER = {"type": "sim", "signal": "constant", "reading": "lock_error", "unit": "V", "level": 1.05}


def test_a_firing_rule_reaches_a_mailbox_and_a_dead_hook_shows_in_status_without_secrets(
    lab_with, broker, write_config, monkeypatch, smtp, tmp_path
):
    (table,) = lab_with({"laser1": UNLOCKED_LASER})
    smtp.login = ("labmon", PASSWORD)
    monkeypatch.setenv("TEST_APPRISE_MAIL", smtp.url(user=f"labmon:{PASSWORD}"))
    monkeypatch.setenv("TEST_APPRISE_HOOK", f"json://labmon:{PASSWORD}@127.0.0.1:{free_port()}/hooks/{TOKEN}")
    notifiers = {
        "mail": {"type": "apprise", "urls": "${TEST_APPRISE_MAIL}"},
        "hook": {"type": "apprise", "urls": "${TEST_APPRISE_HOOK}"},
    }
    rule = {
        "name": "laser1-unlocked",
        "select": "*/laser1/lock_error",
        "above": 0.5,
        "for": "150ms",
        "severity": "critical",
    }
    table_config = collector_table(
        broker, [table], interval="100ms", reply_timeout="80ms", notifiers=notifiers, rules=[rule]
    )
    config = write_config(table_config)
    collector = Collector(config)
    collector.start()
    stop = threading.Event()
    runner = threading.Thread(target=collector.run, kwargs={"stop": stop})
    runner.start()
    try:
        started, mail = smtp.wait_for(2, timeout=30)  # Apprise paces mails to one server 5.5 s apart
        wait_until(lambda: collector.couriers["notifier:hook"].failing)
    finally:
        stop.set()
        runner.join()
        collector.stop(grace=0.0)
    assert started["Subject"] == "INFO: labmon-collector on collector"
    assert text_of(started).startswith(f"monitoring started: polling {table} every 100ms")
    assert mail["Subject"] == f"CRITICAL: laser1-unlocked on {table}/laser1/lock_error"
    assert text_of(mail).startswith(f"{table}/laser1/lock_error has been above 0.5 V for ")
    assert "value: 1.05 V\nthreshold: 0.5 V\n" in text_of(mail)
    status = invoke("status", str(config.path)).output
    assert "last error: TransientError: url 1 (JSON): A Connection error occurred" in status
    assert TOKEN not in status and PASSWORD not in status
    stored = b"".join(path.read_bytes() for path in Path(tmp_path).rglob("*") if path.is_file())
    assert TOKEN.encode() not in stored and PASSWORD.encode() not in stored
