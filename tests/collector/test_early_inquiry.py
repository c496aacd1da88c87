"""A measurer that comes online after the collector's first cycle is asked at once, not a whole interval on."""

import sqlite3
import threading

from labmon.testing import wait_until
from labmon_collector.service import Collector
from labmon_measurer.service import Measurer
from tests.conftest import collector_table, measurer_table


def test_a_measurer_that_comes_online_after_the_first_cycle_is_asked_at_once(broker, write_config, tmp_path):
    """A collector started with its measurers: the late one is not left out for a whole interval."""
    collector = Collector(write_config(collector_table(broker, ["late"], interval="60s", reply_timeout="2s")))
    collector.start()
    stop = threading.Event()
    runner = threading.Thread(target=collector.run, kwargs={"stop": stop})
    history = tmp_path / "history.sqlite"

    def count(sql):
        try:
            return sqlite3.connect(history).execute(sql).fetchone()[0]
        except sqlite3.OperationalError:  # not made yet
            return 0

    runner.start()
    measurer = None
    try:
        wait_until(lambda: count("SELECT COUNT(*) FROM missing"), 30, "a first cycle without the measurer")
        measurer = Measurer(write_config(measurer_table(broker, "late"), "late.toml"))
        measurer.start()
        wait_until(lambda: count("SELECT COUNT(*) FROM readings WHERE measurer = 'late'"), 20, "its first reading")
        assert count("SELECT COUNT(DISTINCT cycle_at) FROM readings") == 1  # long before the next 60 s tick
    finally:
        stop.set()
        runner.join(30)
        collector.stop()
        if measurer is not None:
            measurer.stop()
