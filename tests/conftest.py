"""Fixtures every package's tests share: real Mosquitto brokers, config files, a plugin registry (core only)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner

from labmon.cli import with_plugin_commands
from labmon.config import BrokerConfig, Config, load_config
from labmon.messages import Topics
from labmon.mqtt import BrokerClient
from labmon.plugins import Registry, collect, get_plugin_manager
from labmon.testing import PrivateBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[PrivateBroker]:
    """One Mosquitto for the whole session (tests use distinct measurer names)."""
    with PrivateBroker() as running:
        yield running


@pytest.fixture
def own_broker() -> Iterator[PrivateBroker]:
    """A Mosquitto of this test's own, for tests that stop or restart it."""
    with PrivateBroker() as running:
        yield running


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The types every installed plugin provides."""
    return collect(get_plugin_manager())


@pytest.fixture
def write_config(tmp_path: Path, registry: Registry) -> Callable[..., Config]:
    """Write a dict as TOML into tmp_path and load it as a validated Config."""

    def write(data: dict[str, Any], name: str = "labmon.toml") -> Config:
        path = tmp_path / name
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
        return load_config(path, registry)

    return write


def broker_table(broker: PrivateBroker) -> dict[str, Any]:
    """Return the [broker] table pointing at `broker`."""
    return {"host": broker.host, "port": broker.port}


class Listener:
    """A test-side MQTT client that records what arrives on chosen topics and lets tests wait for it."""

    def __init__(self, broker: PrivateBroker, name: str) -> None:
        self.client = BrokerClient(BrokerConfig(host=broker.host, port=broker.port), f"test-{name}")
        self.messages: dict[str, list[bytes]] = {}
        self._arrived = threading.Condition()

    def watch(self, topic: str) -> None:
        """Record messages on `topic`."""
        self.messages.setdefault(topic, [])
        self.client.subscribe(topic, self._record)

    def _record(self, topic: str, payload: bytes) -> None:
        with self._arrived:
            self.messages[topic].append(payload)
            self._arrived.notify_all()

    def wait_for(self, topic: str, predicate: Callable[[list[bytes]], bool], timeout: float = 10.0) -> list[bytes]:
        """Wait until `predicate(messages on topic)` holds; fail the test after `timeout` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: predicate(self.messages[topic]), timeout):
                pytest.fail(f"timed out waiting on {topic}; got {self.messages[topic]!r}")
            return list(self.messages[topic])

    def __enter__(self) -> Listener:
        self.client.start()
        assert self.client.connected.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.stop()


@pytest.fixture
def listen(broker: PrivateBroker) -> Callable[[str], Listener]:
    """Return a factory of Listeners on the session broker."""
    return lambda name: Listener(broker, name)


def status_topic(name: str) -> str:
    """Return the status topic of measurer `name` under the default prefix."""
    return Topics("labmon", name).status


SIM_LASER = {"type": "sim", "signal": "laser-lock", "reading": "lock_error", "unit": "V", "level": 0.05}


def measurer_table(broker: PrivateBroker, name: str, instruments: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a measurer node config (as a dict) with sim instruments by default."""
    return {
        "broker": broker_table(broker),
        "measurer": {"name": name, "instruments": instruments or {"laser1": SIM_LASER}},
    }


def collector_table(broker: PrivateBroker, measurers: list[str], **collector: Any) -> dict[str, Any]:
    """Return a collector node config (as a dict) with a SQLite history sink and fast cadence."""
    settings = {
        "interval": "2s",
        "reply_timeout": "1s",
        "measurers": measurers,
        "sinks": {"history": {"type": "sqlite", "path": "history.sqlite"}},
        **collector,
    }
    return {"broker": broker_table(broker), "collector": settings}


def invoke(*args: str) -> Any:
    """Run the `labmon` command in-process with every installed plugin, as `main` does."""
    pm = get_plugin_manager()
    return CliRunner().invoke(with_plugin_commands(pm), list(args), obj=pm)


@pytest.fixture
def lab_with(broker, write_config, request):
    """Start in-process measurers with the given instruments, named after the test; stop them after it."""
    from labmon_measurer.service import Measurer  # here: core's own tests run without labmon-measurer

    started = []

    def start(*instrument_sets: dict[str, Any]) -> list[str]:
        prefix = request.node.name[5:25]
        names = []
        for i, instruments in enumerate(instrument_sets):
            name = f"{prefix}-{i}"
            table = measurer_table(broker, name, instruments)
            table["measurer"]["min_inquiry_interval"] = "0s"  # cycles run back to back here: a new reading each
            measurer = Measurer(write_config(table, f"{name}.toml"))
            measurer.start()
            assert measurer.client.connected.wait(10)
            started.append(measurer)
            names.append(name)
        return names

    yield start
    for measurer in started:
        measurer.stop()


@pytest.fixture
def lab(lab_with: Callable[..., list[str]]) -> list[str]:
    """Two in-process measurers with a sim laser each, named after the test."""
    return lab_with({"laser1": SIM_LASER}, {"laser1": SIM_LASER})
