"""A measurer that comes online after the collector's first cycle is asked at once, not a whole interval on."""

import sqlite3
import threading

from labmon.testing import wait_until
from labmon_collector.service import Collector
from labmon_measurer.service import Measurer
from tests.conftest import SIM_LASER, collector_table, measurer_table


def test_a_measurer_that_comes_online_after_the_first_cycle_is_asked_at_once_with_the_whole_lab(
    broker, write_config, tmp_path, lab_with
):
    """A collector started with its measurers: the late one is not left out for a whole interval, and the
    early cycle is a whole one (the punctual measurer answers it too, nobody else is called missing)."""
    (punctual,) = lab_with({"laser1": SIM_LASER})
    config = collector_table(broker, [punctual, "late"], interval="60s", reply_timeout="2s")
    collector = Collector(write_config(config))
    collector.start()
    stop = threading.Event()
    runner = threading.Thread(target=collector.run, kwargs={"stop": stop})
    history = tmp_path / "history.sqlite"

    def rows(sql):
        try:
            return sqlite3.connect(history).execute(sql).fetchall()
        except sqlite3.OperationalError:  # not made yet
            return []

    runner.start()
    measurer = None
    try:
        wait_until(lambda: rows("SELECT measurer FROM missing"), 30, "a first cycle without the late measurer")
        measurer = Measurer(write_config(measurer_table(broker, "late"), "late.toml"))
        measurer.start()
        wait_until(lambda: rows("SELECT 1 FROM readings WHERE measurer = 'late'"), 20, "its first reading")
        cycles = rows("SELECT DISTINCT cycle_at FROM readings ORDER BY cycle_at")
        assert len(cycles) == 2  # the first tick and the early cycle, long before the next 60 s tick
        both = rows(f"SELECT DISTINCT measurer FROM readings WHERE cycle_at = {cycles[1][0]} ORDER BY measurer")
        assert both == sorted([("late",), (punctual,)])
        assert rows("SELECT measurer FROM missing") == [("late",)]  # only the first cycle's
    finally:
        stop.set()
        runner.join(30)
        collector.stop()
        if measurer is not None:
            measurer.stop()
