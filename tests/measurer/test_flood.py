"""A flood of forged inquiries cannot starve the collector: a slow measurer answers the collector first."""

import itertools
import json
import threading
import time

from labmon.config import BrokerConfig
from labmon.messages import Inquiry, Topics, collector_sender
from labmon.mqtt import BrokerClient
from labmon_collector.service import Collector
from labmon_measurer.pending import MAX_SENDERS, Pending
from labmon_measurer.service import Measurer
from tests.conftest import collector_table, measurer_table

SLOW_SCOPE = {"type": "sim", "reading": "vpp", "unit": "V", "level": 1.0, "delay": "600ms"}
FORGED_PER_SECOND = 50


def test_the_collector_is_answered_first_and_strangers_keep_one_slot_each():
    pending = Pending(collector_sender("labmon"))
    assert not pending.add(Inquiry("a1", 0, "stranger-a"))
    assert pending.add(Inquiry("a2", 0, "stranger-a"))  # the newest of a sender displaces its older one
    assert not pending.add(Inquiry("c1", 0, "labmon-collector"))
    for n in range(MAX_SENDERS * 2):
        pending.add(Inquiry(f"x{n}", 0, f"forged-{n}"))
    assert pending.take() == Inquiry("c1", 0, "labmon-collector")
    taken = list(iter(pending.take, None))
    assert len(taken) == MAX_SENDERS - 1 and taken[-1].id == f"x{MAX_SENDERS * 2 - 1}"


def forge(broker, topic, stop):
    """Publish FORGED_PER_SECOND inquiries a second on `topic`: half under ever new senders, half with none."""
    client = BrokerClient(BrokerConfig(host=broker.host, port=broker.port), "test-forger")
    client.start()
    assert client.connected.wait(10)
    started = time.monotonic()
    for n in itertools.count():
        if stop.wait(max(0.0, started + n / FORGED_PER_SECOND - time.monotonic())):
            break
        forged = {"labmon": 1, "type": "inquiry", "id": f"forged-{n}", "sent_at": time.time()}
        client.publish(topic, json.dumps(forged | ({"sender": f"stranger-{n}"} if n % 2 else {})).encode())
    client.stop()


def test_fifty_forged_inquiries_a_second_leave_every_cycle_answered(broker, write_config):
    name = "flooded-scope"
    measurer = Measurer(write_config(measurer_table(broker, name, {"scope": SLOW_SCOPE}), "measurer.toml"))
    measurer.start()
    assert measurer.client.connected.wait(10)
    collector = Collector(write_config(collector_table(broker, [name], interval="5s", reply_timeout="2s")))
    collector.start()
    assert collector.wait_connected(10)
    stop = threading.Event()
    forger = threading.Thread(target=forge, args=(broker, Topics("labmon", name).inquiries, stop))
    forger.start()
    try:
        answered = [name in {r.measurer for r in collector.run_cycle(n).results} for n in range(1, 11)]
    finally:
        stop.set()
        forger.join()
        collector.stop()
        measurer.stop()
    assert measurer.rejected == 0 and measurer.excess > 0  # the flood arrived, and displaced only its own
    assert answered == [True] * 10
