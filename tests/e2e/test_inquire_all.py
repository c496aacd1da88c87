"""`inquire = "all"`: one inquiry per broker reaches every measurer, and each answers it once."""

from labmon.messages import Topics
from labmon_collector.service import Collector
from tests.conftest import collector_table


def test_one_inquiry_per_broker_is_answered_by_every_measurer(lab, broker, write_config, listen):
    config = write_config(collector_table(broker, lab, inquire="all"), "collector.toml")
    with listen("inquiries") as listener:
        addressed = [Topics("labmon", name).inquiries for name in lab]
        for topic in [Topics("labmon", "").everyone, *addressed]:
            listener.watch(topic)
        collector = Collector(config)
        collector.start()
        try:
            assert collector.wait_connected(10)
            batches = [collector.run_cycle(number) for number in (1, 2)]
        finally:
            collector.stop()
        listener.wait_for(Topics("labmon", "").everyone, lambda got: len(got) == 2)
    for batch in batches:
        assert sorted(r.measurer for r in batch.results) == sorted(lab) and batch.missing == ()
    assert all(listener.messages[topic] == [] for topic in addressed)
    assert collector.counters.late == 0
