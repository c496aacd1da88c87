"""Fixtures of labmon-collector's tests."""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labmon.testing import PrivateBroker
from labmon_collector.delivery.outbox import Outbox


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite", max_items=5)
    yield box
    box.close()


ACL = """user collector
topic write labmon/+/inquiries
topic write labmon/inquiries
topic read labmon/+/results
topic read labmon/+/status
pattern read labmon/%u/inquiries
pattern read labmon/inquiries
pattern write labmon/%u/results
pattern readwrite labmon/%u/status
"""


def _password_acl(directory: Path, users: list[str]) -> tuple[str, dict[str, str]]:
    """Return Mosquitto config lines for a password file and an ACL, and each user's password."""
    passwords = directory / "passwords"
    secrets = {user: f"pw-{user}" for user in users}
    for user, password in secrets.items():
        flags = ["-b", "-c"] if not passwords.exists() else ["-b"]
        subprocess.run(["mosquitto_passwd", *flags, str(passwords), user, password], check=True, capture_output=True)
    passwords.chmod(0o600)
    (directory / "acl").write_text(ACL)
    return f"allow_anonymous false\npassword_file {passwords}\nacl_file {directory / 'acl'}\n", secrets


def _tls(directory: Path) -> str:
    """Create a CA and a server certificate for 127.0.0.1; return the Mosquitto lines making the listener TLS."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=labmon test CA",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    return f"cafile {directory / 'ca.crt'}\ncertfile {directory / 'server.crt'}\nkeyfile {directory / 'server.key'}\n"


@dataclass
class Secured:
    """A private broker of one test's own, and the [broker] keys each user needs to reach it."""

    broker: PrivateBroker
    keys: dict[str, dict[str, Any]]


@pytest.fixture(params=["plain", "password+acl", "tls"])
def secured_broker(request, tmp_path, monkeypatch) -> Iterator[Secured]:
    """A Mosquitto of the test's own: plain, with passwords and an ACL, or TLS with a CA the test made."""
    users = ["collector", "drop-0", "drop-1"]
    base: dict[str, Any] = {}
    extra = ""
    keys: dict[str, dict[str, Any]] = {user: {} for user in users}
    if request.param == "password+acl":
        extra, secrets = _password_acl(tmp_path, users)
        for user, password in secrets.items():
            variable = f"TEST_BROKER_PW_{user.upper().replace('-', '_')}"
            monkeypatch.setenv(variable, password)
            keys[user] = {"username": user, "password": f"${{{variable}}}"}
    if request.param == "tls":
        extra = _tls(tmp_path)
        base = {"tls": True, "ca_file": str(tmp_path / "ca.crt")}
    # Run as root, Mosquitto drops to its own user, which cannot read the test's private tmp_path; as any
    # other user `user` has no effect.
    with PrivateBroker(extra_config=f"user root\n{extra}") as broker:
        yield Secured(
            broker, {user: {"host": broker.host, "port": broker.port, **base, **k} for user, k in keys.items()}
        )
