"""Broker connections that fail say why on the first failure: DNS, refusal, TLS verification, TLS vs plain."""

import logging
import time

import pytest

from labmon.broker import free_port
from labmon.config import BrokerConfig
from labmon.mqtt import BrokerClient
from tests.core.conftest import TlsBroker


def first_failure(caplog: pytest.LogCaptureFixture, broker: BrokerConfig, timeout: float = 15.0) -> str:
    """Start a client on `broker`, return its first warning about the broker, stop it."""
    client = BrokerClient(broker, f"test-failure-{time.monotonic_ns()}")
    client.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            found = [r.getMessage() for r in caplog.records if r.name == "labmon.mqtt" and r.levelno >= logging.WARNING]
            if found:
                return found[0]
            time.sleep(0.02)  # polling the log with a deadline
        pytest.fail(f"no warning within {timeout}s")
    finally:
        client.stop()


def test_a_verified_tls_connection_works(tls_broker: TlsBroker) -> None:
    client = BrokerClient(BrokerConfig("localhost", tls_broker.tls_port, tls=True, ca_file=tls_broker.ca), "test-tls")
    client.start()
    try:
        assert client.connected.wait(10)
    finally:
        client.stop()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong CA", "attempt 1): TLS certificate verify failed: "),
        ("hostname mismatch", "verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'"),
        ("TLS to a plain port", "does not seem to speak TLS"),
        ("plain to a TLS port", "expects TLS; set tls = true"),
    ],
)
def test_tls_failures_name_their_cause_first_time(
    tls_broker: TlsBroker, caplog: pytest.LogCaptureFixture, case: str, expected: str
) -> None:
    tls, plain = tls_broker.tls_port, tls_broker.plain_port
    broker = {
        "wrong CA": BrokerConfig("localhost", tls, tls=True, ca_file=tls_broker.other_ca),
        "hostname mismatch": BrokerConfig("127.0.0.1", tls, tls=True, ca_file=tls_broker.ca),
        "TLS to a plain port": BrokerConfig("localhost", plain, tls=True, ca_file=tls_broker.ca),
        "plain to a TLS port": BrokerConfig("127.0.0.1", tls),
    }[case]
    message = first_failure(caplog, broker)
    assert expected in message
    if case == "wrong CA":
        assert "certificate" in message.split("verify failed: ")[1] and "other.pem" in message


def test_an_unresolvable_host_is_named_with_the_cause(caplog: pytest.LogCaptureFixture) -> None:
    message = first_failure(caplog, BrokerConfig("labmon-test.invalid", 1883, username="u"))
    assert "cannot resolve host 'labmon-test.invalid'" in message and "attempt 1" in message


def test_a_refused_connection_says_nothing_listens(caplog: pytest.LogCaptureFixture) -> None:
    message = first_failure(caplog, BrokerConfig("127.0.0.1", free_port(), username="u"))
    assert "attempt 1): connection refused: nothing listens on port" in message


def test_failures_are_logged_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    client = BrokerClient(BrokerConfig("127.0.0.1", free_port(), username="u"), "test-bounded")
    caplog.set_level(logging.WARNING)
    for _ in range(25):
        client._on_connect_fail(client._client, None)  # the same cause, as paho reports each retry
    warnings = [r for r in caplog.records if r.name == "labmon.mqtt"]
    assert len(warnings) == 3  # attempts 1, 10 and 20


def test_anonymous_to_a_broker_off_loopback_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        client = BrokerClient(BrokerConfig("labmon-anon-test.invalid", 1883), "test-anon")
        client.start()
        client.stop()
    warned = [r.getMessage() for r in caplog.records if "without a username" in r.getMessage()]
    assert len(warned) == 1 and "ACL" in warned[0] and "forge" in warned[0]
    caplog.clear()
    local = BrokerClient(BrokerConfig("127.0.0.1", free_port()), "test-local")
    local.start()
    local.stop()
    assert not [r for r in caplog.records if "without a username" in r.getMessage()]  # loopback: no warning
