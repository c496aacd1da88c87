"""A poison item never blocks a channel: rejected items become dead letters, delivery goes on; slow targets get room."""

import itertools
import threading
import time

import pytest

from labmon import RejectedError, TransientError, check_status
from labmon.testing import Answer, ScriptedServer
from labmon_collector.delivery.courier import Courier
from labmon_collector.service import Collector
from tests.collector.test_outbox import Target
from tests.conftest import collector_table, invoke


@pytest.mark.parametrize("status", [400, 413, 422])
def test_an_unfixable_item_is_rejected_not_a_reason_to_pause(status):
    with pytest.raises(RejectedError, match=f"HTTP {status}"):
        check_status("Discord", status)


def test_a_rejected_item_is_set_aside_and_the_next_delivered(outbox):
    target = Target(failures=[RejectedError("Discord rejected the request (HTTP 400)")])
    courier = Courier(outbox, "notifier:d", target)
    for n in range(3):
        outbox.put("notifier:d", {"n": n})
    courier.start()
    target.wait_for(2)
    courier.stop()
    assert target.got == [1, 2]
    (dead,) = outbox.dead_letters()
    assert (dead.target, dead.payload) == ("notifier:d", {"n": 0})
    assert dead.error == "Discord rejected the request (HTTP 400)"
    (status,) = outbox.status()
    assert (status.backlog, status.dead, status.paused) == (0, 1, None)


def test_a_slow_target_is_not_hammered(outbox):
    """Each attempt times out after 0.3 s: the next one waits at least as long, whatever the retry pacing says."""
    starts = []
    release = threading.Event()

    def slow(item):
        starts.append(time.monotonic())
        if release.wait(0.3):
            return
        if len(starts) == 3:
            release.set()
        raise TransientError("Discord unreachable: ReadTimeout")

    courier = Courier(outbox, "notifier:slow", slow, retry_base=0.01, retry_cap=0.02)
    outbox.put("notifier:slow", {"n": 1})
    courier.start()
    courier.nudge()
    deadline = time.monotonic() + 10
    while len(starts) < 4 and time.monotonic() < deadline:
        release.wait(0.05)
    courier.stop()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 3 and all(gap >= 0.6 for gap in gaps[:2]), gaps  # 0.3 s attempt + at least 0.3 s of rest


def test_a_discord_400_becomes_a_dead_letter_and_later_alerts_get_through(lab, broker, write_config, monkeypatch):
    with ScriptedServer(Answer.json(200, {"id": "1"})) as discord:
        discord.script = [Answer.json(400, {"message": "Invalid Form Body", "code": 50035})]
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/t0ken")
        notifiers = {"discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_URL}"}}
        rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "severity": "critical"}
        config = write_config(collector_table(broker, lab, notifiers=notifiers, rules=[rule]))
        collector = Collector(config)
        collector.start()  # "monitoring started" is the poison item
        assert collector.wait_connected(10)
        collector.run_cycle(1)
        discord.wait_for(1, status=200)  # both critical alerts in one message, after the rejected item
        assert collector.couriers["notifier:discord"].idle.wait(10)
        status = invoke("status", str(config.path)).output
        listed = invoke("outbox", "list", "-c", str(config.path)).output
        assert invoke("outbox", "retry", "--all", "-c", str(config.path)).output == "requeued 1 dead letters\n"
        again = discord.wait_for(2, status=200, timeout=15)  # a running collector picks it up by itself
        collector.stop()
    assert "backlog      0" in status and "dead   1" in status and "last error" not in status  # it delivers again
    assert "dead letters were rejected for good" in status and "t0ken" not in status
    assert "notifier:discord" in listed and "monitoring started" in listed
    assert again[-1].json()["embeds"][0]["title"] == "INFO: labmon-collector"
    after = invoke("outbox", "list", "-c", str(config.path)).output
    assert after == "dead letters: none\n"
    assert invoke("outbox", "drop", "-c", str(config.path)).exit_code == 2  # no ids, no --all


def test_a_sheet_slower_than_its_timeout_is_asked_again_only_after_a_rest(lab, broker, write_config, monkeypatch):
    with ScriptedServer(Answer(200, b"Congratulations!", delay=2.0)) as ifttt:  # answers after the client gave up
        monkeypatch.setenv("TEST_IFTTT_KEY", "k3y")
        sheet = {"type": "ifttt", "event": "lab", "key": "${TEST_IFTTT_KEY}", "base_url": ifttt.url, "timeout": "500ms"}
        config = collector_table(
            broker, lab, sinks={"sheet": sheet}, delivery={"retry_initial": "10ms", "retry_max": "20ms"}
        )
        collector = Collector(write_config(config))
        collector.start()
        assert collector.wait_connected(10)
        collector.run_cycle(1)
        seen = []
        for n in (1, 2, 3):
            ifttt.wait_for(n, timeout=20)
            seen.append(time.monotonic())
        collector.stop(grace=0)
    # Each attempt waits 0.5 s for an answer, then rests at least as long: arrivals are >= 1 s apart (without
    # the rest, 0.52 s; the margin covers how late this thread notices a request).
    assert all(b - a >= 0.8 for a, b in itertools.pairwise(seen)), seen


def test_dead_letters_are_bounded_as_the_outbox_is_and_the_oldest_counted_as_dropped(outbox):
    for n in range(8):  # the outbox fixture holds 5 items per target
        outbox.put("sink:a", {"n": n})
        outbox.reject("sink:a", outbox.oldest("sink:a").id, "HTTP 400")
    assert [letter.payload["n"] for letter in outbox.dead_letters()] == [3, 4, 5, 6, 7]
    (status,) = outbox.status()
    assert (status.dead, status.dropped, status.backlog) == (5, 3, 0)
