"""Denials said, against Mosquitto with the documented password + ACL set-up: who, what, the fix, once each."""

import logging

import pytest

from labmon.config import BrokerConfig
from labmon.mqtt import BrokerClient
from labmon.testing import wait_until
from labmon_collector.service import Collector
from labmon_measurer.service import Measurer
from tests.conftest import SIM_LASER
from tests.e2e.test_security import ACL, USERS, password_acl_broker

READER = {"reader": "r-pass"}
"""A user the ACL lets read everything and write nothing: its inquiries are refused, its subscriptions taken."""


@pytest.fixture(scope="module")
def strict_broker():
    """The documented ACL, plus a read-only user."""
    with password_acl_broker(USERS | READER, ACL + "\nuser reader\ntopic read labmon/#\n") as broker:
        yield broker


def broker_table(broker, user, password):
    return {"host": broker.host, "port": broker.port, "username": user, "password": "${TEST_DENIAL_PASSWORD}"}


def said(caplog, text):
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_a_measurer_named_unlike_its_user_is_told_what_the_acl_refuses(
    strict_broker, write_config, monkeypatch, caplog
):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("TEST_DENIAL_PASSWORD", USERS["acl-table1"])
    table = {
        "broker": broker_table(strict_broker, "acl-table1", USERS["acl-table1"]),
        "measurer": {"name": "table9", "instruments": {"laser1": SIM_LASER}},
    }
    measurer = Measurer(write_config(table, "table9.toml"))
    measurer.start()
    try:
        assert measurer.client.connected.wait(10)
        wait_until(lambda: said(caplog, "publishing to labmon/table9/status"), 10, "the refused status")
    finally:
        measurer.stop()
    (status,) = said(caplog, "publishing to labmon/table9/status")
    assert "refused user 'acl-table1'" in status and "(Not authorized)" in status
    assert "fix: allow it in the broker's ACL file: `topic write labmon/table9/status`" in status
    # Mosquitto 2.0 grants every SUBSCRIBE and filters on delivery: a refused read shows in no SUBACK there


def test_a_wrong_password_names_the_user_and_is_said_once(strict_broker, caplog):
    config = BrokerConfig(strict_broker.host, strict_broker.port, username="acl-table1", password="wrong")
    client = BrokerClient(config, "wrong-password")
    client.start()
    try:
        wait_until(lambda: client.denials.logins_refused >= 3, 60, "three refused logins")
    finally:
        client.stop()
    (refusal,) = said(caplog, "refused the login")
    assert "refused the login of user 'acl-table1'" in refusal and "check [broker] username and password" in refusal


def test_a_collector_whose_inquiries_are_all_refused_raises_one_broker_alert(
    strict_broker, write_config, monkeypatch, capsys, caplog
):
    monkeypatch.setenv("TEST_DENIAL_PASSWORD", READER["reader"])
    rules = [
        {"name": "cut-off", "select": "*", "broker": True, "for": "0s", "severity": "critical"},
        {"name": "silent", "select": "*", "offline": True, "for": "0s"},
    ]
    collector_table = {
        "interval": "2s", "reply_timeout": "1s", "measurers": ["acl-table1"], "data_dir": "data",
        "notifiers": {"console": {"type": "console"}}, "rules": rules,
    }  # fmt: skip
    config = {"broker": broker_table(strict_broker, "reader", READER["reader"]), "collector": collector_table}
    collector = Collector(write_config(config, "reader.toml"))
    collector.start()
    try:
        assert collector.wait_connected(10)
        collector.run_cycle(1)  # its inquiry is refused: the PUBACK says so
        client = next(iter(collector.clients.values()))
        wait_until(lambda: client.denials.refused_since is not None, 10, "the refused inquiry")
        batch = collector.run_cycle(2)
    finally:
        collector.stop()
    assert batch.disconnected == ("acl-table1",) and not batch.missing  # not judged: it was never asked
    printed = capsys.readouterr().out
    assert "ALERT [critical] cut-off: collector cannot reach broker" in printed
    assert "silent" not in printed
    (refusal,) = said(caplog, "refused user 'reader' publishing to labmon/acl-table1/inquiries")
    assert "topic write labmon/acl-table1/inquiries" in refusal
