"""The whole system as separate processes through a real Mosquitto, as it runs on the Pis."""

import signal
import sqlite3

from labmon.broker import PrivateBroker, free_port
from labmon.messages import OFFLINE, ONLINE
from labmon_collector.service import Collector
from tests.conftest import Listener, collector_table, measurer_table, status_topic


def start_measurers(spawn, broker, names):
    """Start one measurer process per name and wait until each has announced itself online."""
    processes = {}
    with Listener(broker, "e2e-watch") as listener:
        for name in names:
            listener.watch(status_topic(name))
        for name in names:
            processes[name] = spawn("measurer", measurer_table(broker, name))
        for name in names:
            listener.wait_for(status_topic(name), lambda got: got[-1:] == [ONLINE], timeout=20)
    return processes


def test_a_collector_and_three_measurers_complete_cycles(spawn, own_broker, tmp_path):
    names = ["table1", "table2", "table3"]
    start_measurers(spawn, own_broker, names)
    collector = spawn(
        "collector", collector_table(own_broker, names, interval="500ms", reply_timeout="400ms"), "--cycles", "2"
    )
    assert collector.wait(timeout=30) == 0
    rows = sqlite3.connect(tmp_path / "history.sqlite").execute(
        "SELECT measurer, COUNT(*) FROM readings GROUP BY measurer"
    )
    assert dict(rows) == {"table1": 2, "table2": 2, "table3": 2}


def test_a_killed_measurer_goes_offline_and_is_reported_missing(spawn, own_broker, write_config):
    names = ["table1", "table2", "table3"]
    processes = start_measurers(spawn, own_broker, names)
    collector = Collector(write_config(collector_table(own_broker, names)))
    collector.start()
    assert collector.wait_connected(10)
    assert collector.run_cycle(1).missing == ()
    with Listener(own_broker, "will-watch") as listener:
        listener.watch(status_topic("table2"))
        processes["table2"].send_signal(signal.SIGKILL)
        listener.wait_for(status_topic("table2"), lambda got: got[-1:] == [OFFLINE])
    batch = collector.run_cycle(2)
    collector.stop()
    assert batch.missing == ("table2",)
    assert [r.measurer for r in batch.results] == ["table1", "table3"]
    assert collector.status["table2"] == "offline"


def test_a_broker_restart_is_survived_without_help(spawn, own_broker, write_config):
    start_measurers(spawn, own_broker, ["table1"])
    collector = Collector(write_config(collector_table(own_broker, ["table1"])))
    collector.start()
    assert collector.wait_connected(10)
    assert collector.run_cycle(1).missing == ()
    own_broker.restart()
    # The collector recovers by itself: within a bounded number of cycles every measurer answers again.
    batches = []
    for number in range(2, 20):
        batches.append(collector.run_cycle(number))
        if not batches[-1].missing:
            break
    collector.stop()
    assert batches[-1].missing == (), f"no recovery after {len(batches)} cycles"


def test_a_measurer_started_before_its_broker_connects_when_it_comes_up(spawn, tmp_path):
    broker = PrivateBroker(port=free_port())  # not started yet
    process = spawn("measurer", measurer_table(broker, "early"))
    broker.start()
    try:
        with Listener(broker, "late-broker") as listener:
            listener.watch(status_topic("early"))
            listener.wait_for(status_topic("early"), lambda got: got[-1:] == [ONLINE], timeout=60)
    finally:
        process.kill()
        process.wait()
        broker.stop()


def test_each_measurer_on_its_own_broker_as_in_the_original_lab(spawn, broker, own_broker, write_config):
    """The collector's broker holds table-a; table-b runs its own broker, named in the collector config."""
    start_measurers(spawn, broker, ["own-a"])
    start_measurers(spawn, own_broker, ["own-b"])
    config = collector_table(broker, [])
    config["collector"]["measurers"] = {"own-a": {}, "own-b": {"broker": {"port": own_broker.port}}}
    collector = Collector(write_config(config))
    collector.start()
    assert collector.wait_connected(10) and len(collector.clients) == 2
    batch = collector.run_cycle(1)
    collector.stop()
    assert [r.measurer for r in batch.results] == ["own-a", "own-b"] and batch.missing == ()
