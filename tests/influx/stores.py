"""What the influx and postgres tests share: a real collector writing to a store, and a store outage."""

import threading
from collections.abc import Callable
from pathlib import Path

from labmon import Batch, Sink
from labmon.testing import PrivateBroker
from labmon_collector.delivery.courier import Courier
from labmon_collector.delivery.outbox import Outbox
from labmon_collector.service import Collector
from tests.conftest import collector_table
from tests.influx.conftest import poll


def collect_into(write_config, broker: PrivateBroker, measurers: list[str], sink: dict, cycles: int = 2) -> list[Batch]:
    """Run a real collector whose only sink is `sink` for `cycles` cycles, then stop it (its outbox drains)."""
    collector = Collector(
        write_config(collector_table(broker, measurers, sinks={"store": sink}, reply_timeout="5s", interval="10s"))
    )
    collector.start()
    try:
        assert collector.wait_connected(10)
        return [collector.run_cycle(number) for number in range(1, cycles + 1)]
    finally:
        collector.stop()


def deliver_across_an_outage(
    store: Sink, outbox_path: Path, batches: list[Batch], stop: Callable[[], None], start: Callable[[], None]
) -> None:
    """Deliver the first batch, stop the server, queue the rest, check they are kept, start it, wait for all."""
    outbox = Outbox(outbox_path)
    delivered = threading.Semaphore(0)

    def deliver(item):
        store.write(Batch.from_dict(item.payload))
        delivered.release()

    courier = Courier(outbox, "sink:store", deliver, retry_base=0.05, retry_cap=0.2)
    courier.start()
    first, *rest = batches
    try:
        outbox.put("sink:store", first.to_dict())
        courier.nudge()
        assert delivered.acquire(timeout=10)
        stop()
        try:
            for batch in rest:
                outbox.put("sink:store", batch.to_dict())
                courier.nudge()
            poll(lambda: outbox.status()[0].last_error, "a failed delivery while the store is down")
            assert outbox.status()[0].backlog == len(rest)
        finally:
            start()
        for _ in rest:
            assert delivered.acquire(timeout=30)
    finally:
        courier.stop()
        outbox.close()
