"""Many labs: a Mosquitto per lab bridged to a central broker, with the stanza `labmon bridge-config` prints."""

import pytest
import tomli_w

from labmon.config import load_config
from labmon.messages import ONLINE, Topics
from labmon.testing import PrivateBroker, free_port
from labmon_collector.service import Collector
from labmon_measurer.service import Measurer
from tests.conftest import Listener, collector_table, invoke, measurer_table

NAMES = ["bridged1", "bridged2"]


@pytest.fixture
def central():
    with PrivateBroker() as running:
        yield running


def write(path, data):
    path.write_text(tomli_w.dumps(data))
    return str(path)


def lab_configs(tmp_path, lab_port, prefix="lab1"):
    """Write one measurer config per name on a lab broker at `lab_port` with its own topic prefix."""
    lab = PrivateBroker(lab_port)  # not started: only its address goes into the configs
    paths = []
    for name in NAMES:
        table = measurer_table(lab, name)
        table["broker"]["topic_prefix"] = prefix
        paths.append(write(tmp_path / f"{name}.toml", table))
    return paths


@pytest.mark.parametrize("inquire", ["each", "all"])
def test_a_full_cycle_crosses_the_bridge(tmp_path, central, registry, inquire):
    lab_port = free_port()
    measurers = lab_configs(tmp_path, lab_port)
    table = collector_table(central, NAMES, interval="10s", reply_timeout="5s", inquire=inquire)
    collector_path = write(tmp_path / "collector.toml", table)
    printed = invoke("bridge-config", collector_path, *measurers)
    assert printed.exit_code == 0, printed.output
    assert ("topic inquiries in 1 lab1/ labmon/" in printed.output) == (inquire == "all")
    with PrivateBroker(lab_port, extra_config=printed.output), Listener(central, "bridge-watch") as listener:
        for name in NAMES:
            listener.watch(Topics("labmon", name).status)
        nodes = [Measurer(load_config(path, registry)) for path in measurers]
        for node in nodes:
            node.start()
        collector = Collector(load_config(collector_path, registry))
        collector.start()
        try:
            for name in NAMES:  # the retained status crossed the bridge: the bridge is up
                listener.wait_for(Topics("labmon", name).status, lambda got: got[-1:] == [ONLINE], timeout=30)
            assert collector.wait_connected(10)
            # The bridge subscribes centrally to the inquiries just as the statuses cross: an inquiry sent in
            # that instant can miss it, so the first complete cycle may be the second.
            for number in range(1, 4):
                batch = collector.run_cycle(number)
                if not batch.missing:
                    break
        finally:
            collector.stop()
            for node in nodes:
                node.stop()
    assert batch.missing == ()
    assert sorted(r.measurer for r in batch.results) == NAMES
    assert all(reading.status == "ok" for r in batch.results for reading in r.readings)


def test_the_stanza_remaps_prefixes_and_carries_no_secret(tmp_path, central, monkeypatch):
    monkeypatch.setenv("CENTRAL_PASSWORD", "br1dge-s3cret")
    measurers = lab_configs(tmp_path, 1884)
    table = collector_table(central, NAMES)
    table["broker"].update(host="central.lab.example", username="collector", password="${CENTRAL_PASSWORD}")
    collector_path = write(tmp_path / "collector.toml", table)
    printed = invoke("bridge-config", collector_path, *measurers, "--username", "lab1", "--name", "lab1-to-central")
    assert printed.exit_code == 0, printed.output
    lines = [line for line in printed.output.splitlines() if not line.startswith("#")]
    assert lines[:3] == [
        "connection lab1-to-central",
        f"address central.lab.example:{central.port}",
        "cleansession true",
    ]
    assert "remote_username lab1" in lines
    assert lines[-3:] == [
        "topic bridged2/inquiries in 1 lab1/ labmon/",
        "topic bridged2/results out 1 lab1/ labmon/",
        "topic bridged2/status out 1 lab1/ labmon/",
    ]
    assert "br1dge-s3cret" not in printed.output


def test_the_stanza_without_remapping_and_a_loopback_warning(tmp_path, central):
    measurers = lab_configs(tmp_path, 1884, prefix="labmon")
    printed = invoke("bridge-config", write(tmp_path / "c.toml", collector_table(central, NAMES)), *measurers)
    assert "topic labmon/bridged1/inquiries in 1" in printed.output.splitlines()
    assert "# this address is loopback" in printed.output


@pytest.mark.parametrize(
    ("collector", "error"),
    [
        ({"measurers": ["bridged1"]}, "does not poll bridged2"),
        ({"measurers": {"bridged1": {"broker": {"port": 1884}}, "bridged2": {}}}, "no bridge needed"),
    ],
)
def test_configs_that_are_not_one_bridged_lab_are_refused(tmp_path, central, collector, error):
    measurers = lab_configs(tmp_path, 1884)
    collector_path = write(tmp_path / "c.toml", {**collector_table(central, NAMES), "collector": collector})
    printed = invoke("bridge-config", collector_path, *measurers)
    assert printed.exit_code == 1 and error in printed.output
