"""A pair's active SIGKILLed after telling the other it sends a transition, before its outbox has it (held there
for "what changed before it"): the standby, taking over, sends it. Real Mosquitto, two collector processes."""

import json
import signal
import sqlite3
import threading

import pytest

from labmon.config import BrokerConfig
from labmon.mqtt import BrokerClient
from labmon.testing import wait_until

from .test_failover import both, count, pair, peer, role, told  # noqa: F401 (pair: a fixture)


def queued(data_dir, measurer):
    """Return the notifications for `measurer` in the outbox of the collector of `data_dir`."""
    with sqlite3.connect(data_dir / "outbox.sqlite") as db:
        rows = db.execute("SELECT payload FROM outbox WHERE target LIKE 'notifier:%'").fetchall()
    return [payload for (payload,) in rows if measurer in str(payload)]


@pytest.mark.timeout(180)
def test_an_active_killed_between_telling_the_other_and_its_outbox_loses_no_notification(pair, own_broker):  # noqa: F811
    start, measurers, discord, _ = pair
    nodes, data = both(start)
    a, b = data["collector-a"], data["collector-b"]
    said = []
    heard = threading.Event()

    def on_notified(_topic, payload):
        message = json.loads(payload)
        if message["node"] == "collector-a" and message["key"] == ["down", "fo-2", "firing"]:
            said.append(message)
            heard.set()

    watcher = BrokerClient(BrokerConfig(own_broker.host, own_broker.port), "t-held-watch")
    watcher.subscribe("labmon/failover/notified", on_notified)
    watcher.start()
    # a's alert history held by the test: the cycle that fires stops at writing it, after it told the other what it
    # sends and before the notification (held until that cycle's history is written) reaches its outbox
    history = sqlite3.connect(a / "events.sqlite", isolation_level=None)
    history.execute("BEGIN IMMEDIATE")
    try:
        assert watcher.connected.wait(10)
        measurers.pop("fo-2").stop()  # the `down` rule fires at once
        assert heard.wait(30), "a never said it sends fo-2's alert"
        assert queued(a, "fo-2") == []  # not in a's outbox: a kill now loses it unless b sends it
        nodes["collector-a"][0].send_signal(signal.SIGKILL)
        nodes["collector-a"][0].wait()
    finally:
        history.execute("ROLLBACK")
        history.close()
        watcher.stop()
    wait_until(lambda: role(b) == "active", 30, "b takes over")
    wait_until(lambda: count(discord, "firing", "fo-2") >= 1, 30, "b sends the alert a never queued")
    nodes["collector-a"] = start("collector-a")  # back: its outbox never had it, it sends nothing of it
    wait_until(lambda: role(a) == "standby" and peer(a, "collector-b") == "active", 60, "a back, standby")
    texts = [text for _, text in told(discord) if "fo-2" in text]
    assert count(discord, "firing", "fo-2") == 1, texts
    assert "possibly a repeat: the other collector stopped while sending it" in texts[0], texts
