"""Hostile payloads over a real broker: counted, logged briefly and escaped, never a traceback, nothing blocked."""

import logging
import random

from labmon.messages import Inquiry, Topics, decode_result, encode_inquiry
from labmon.testing import wait_until
from labmon_collector.service import Collector
from tests.conftest import collector_table
from tests.core.test_messages import _hostile

RANDOM_PER_TOPIC = 1000


def test_hostile_payloads_on_every_topic(lab, broker, write_config, listen, caplog):
    caplog.set_level(logging.INFO)
    collector = Collector(write_config(collector_table(broker, lab)))
    collector.start()
    assert collector.wait_connected(10)
    target = Topics("labmon", lab[0])
    rng = random.Random(15)
    payloads = _hostile() + [rng.randbytes(rng.randint(0, 300)) for _ in range(RANDOM_PER_TOPIC)]
    with listen("hostile") as attacker:
        attacker.watch(target.results)
        for topic in (target.results, target.status, target.inquiries):
            for payload in payloads:
                attacker.client.publish(topic, payload)
        attacker.client.publish(target.inquiries, encode_inquiry(Inquiry("after-the-storm", 1.0)))
        answers = attacker.wait_for(target.results, lambda got: any(b"after-the-storm" in p for p in got))
    counted = collector.counters
    wait_until(lambda: counted.malformed + counted.foreign + counted.late >= 2 * len(payloads))
    assert decode_result(answers[-1]).inquiry_id == "after-the-storm"
    batch = collector.run_cycle(1)  # the channel is not blocked: both measurers still answer
    collector.stop()
    assert sorted(r.measurer for r in batch.results) == sorted(lab)
    assert not [r for r in caplog.records if r.exc_info], "a payload produced a traceback"
    lines = [r.getMessage() for r in caplog.records]
    assert all("\n" not in line and "\x1b" not in line and len(line) < 800 for line in lines)
    ignored = [line for line in lines if line.startswith("ignored a malformed")]
    assert len(ignored) == 3, ignored  # results, status, inquiries: each logged once in the minute
