"""The lab-network broker set-up of docs/operations.md (passwords, ACL) holds: forgeries never reach the nodes."""

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from labmon.config import BrokerConfig
from labmon.messages import Inquiry, Topics, encode_inquiry, encode_result
from labmon.models import Reading, Result
from labmon.mqtt import BrokerClient
from labmon.testing import PrivateBroker, wait_until
from labmon_collector.service import Collector
from labmon_measurer.service import Measurer
from tests.conftest import SIM_LASER

USERS = {"collector": "c-pass", "acl-table1": "t1-pass", "acl-table2": "t2-pass"}


def documented_acl() -> str:
    """Return the ACL that docs/operations.md gives for a lab network, without its first line (the file's name)."""
    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    block = text.split("```\n# /etc/mosquitto/labmon.acl", 1)[1].split("```", 1)[0]
    return block.split("\n", 1)[1]


ACL = documented_acl()


@contextmanager
def password_acl_broker(users: dict[str, str], acl: str) -> Iterator[PrivateBroker]:
    """Run a Mosquitto that requires one of `users`' passwords and applies `acl`."""
    directory = Path(tempfile.mkdtemp(prefix="labmon-acl-"))
    os.chmod(directory, 0o755)  # mosquitto drops to its own user and must read both files
    passwd, acl_file = directory / "passwd", directory / "acl"
    passwd.touch()
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True, timeout=30)
    acl_file.write_text(acl)
    for path in (passwd, acl_file):
        path.chmod(0o644)
    extra = f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl_file}\n"
    try:
        with PrivateBroker(extra_config=extra) as broker:
            yield broker
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def acl_broker():
    """A Mosquitto that requires a password and applies the documented ACL."""
    with password_acl_broker(USERS, ACL) as broker:
        yield broker


def _config(broker, user, write_config, monkeypatch, role, inquire="each"):
    monkeypatch.setenv(f"TEST_PASS_{user.replace('-', '_')}", USERS[user])
    table = {
        "host": broker.host, "port": broker.port, "username": user,
        "password": f"${{TEST_PASS_{user.replace('-', '_')}}}",
    }  # fmt: skip
    if role == "measurer":
        return write_config(
            {"broker": table, "measurer": {"name": user, "instruments": {"laser1": SIM_LASER}}}, f"{user}.toml"
        )
    collector = {
        "interval": "2s", "reply_timeout": "1s", "measurers": ["acl-table1"], "data_dir": "data", "inquire": inquire,
    }  # fmt: skip
    return write_config({"broker": table, "collector": collector}, "collector.toml")


@pytest.mark.parametrize("inquire", ["each", "all"])
def test_forged_inquiries_and_results_are_stopped_by_the_acl(acl_broker, write_config, monkeypatch, caplog, inquire):
    caplog.set_level(logging.INFO)
    measurer = Measurer(_config(acl_broker, "acl-table1", write_config, monkeypatch, "measurer"))
    collector = Collector(_config(acl_broker, "collector", write_config, monkeypatch, "collector", inquire))
    measurer.start()
    collector.start()
    assert measurer.client.connected.wait(10) and collector.wait_connected(10)
    forger = BrokerClient(
        BrokerConfig(acl_broker.host, acl_broker.port, username="acl-table2", password=USERS["acl-table2"]),
        "forger",
    )
    forger.start()
    assert forger.connected.wait(10)
    topics = Topics("labmon", "acl-table1")
    forged = Result("x", "acl-table1", time.time(), (Reading("lock_error", 99.0, "V", instrument="laser1"),))
    for i in range(20):
        forger.publish(topics.inquiries, encode_inquiry(Inquiry(f"forged-{i}", 1.0)))
        forger.publish(topics.everyone, encode_inquiry(Inquiry(f"forged-all-{i}", 1.0)))
        forger.publish(topics.results, encode_result(forged))
    forger.publish(Topics("labmon", "acl-table2").results, b"its own topic: allowed, but nobody listens")
    batch = collector.run_cycle(1)
    forger.stop()
    collector.stop()
    measurer.stop()
    (result,) = batch.results
    assert result.readings[0].value == 0.05  # the real reading, not the forged 99
    assert measurer.answered == 1 and measurer.excess == 0  # forged inquiries never arrived
    assert collector.counters.foreign == collector.counters.late == 0
    assert not [r for r in caplog.records if "without a username" in r.getMessage()]


def test_an_anonymous_client_is_refused_and_says_so(acl_broker, caplog):
    client = BrokerClient(BrokerConfig(acl_broker.host, acl_broker.port), "anonymous")
    client.start()
    wait_until(lambda: [r for r in caplog.records if "refused the login" in r.getMessage()], 10, "the refusal")
    client.stop()
    assert not client.connected.is_set()
