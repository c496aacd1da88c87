"""Fixtures of labmon-core's tests (they run with labmon-core alone installed: import nothing else)."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from labmon.broker import free_port
from labmon.testing import PrivateBroker


@pytest.fixture
def node_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write config text to node.toml in tmp_path and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "node.toml"
        path.write_text(text)
        return path

    return write


class TlsBroker(NamedTuple):
    plain_port: int
    tls_port: int
    ca: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-days", "2", "-subj", f"/CN=labmon test {name}", cwd=directory)  # fmt: skip


@pytest.fixture(scope="session")
def tls_broker() -> Iterator[TlsBroker]:
    """A Mosquitto with a plain and a TLS listener; the server certificate names `localhost` only."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (scripts/debian/test-tls.txt)")
    directory = Path(tempfile.mkdtemp(prefix="labmon-tls-"))
    os.chmod(directory, 0o755)  # mosquitto drops to its own user and must read the key
    _make_ca(directory, "ca")
    _make_ca(directory, "other")
    (directory / "ext.cnf").write_text("subjectAltName=DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=directory)  # fmt: skip
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=directory)  # fmt: skip
    for path in directory.iterdir():
        path.chmod(0o644)
    tls_port = free_port()
    listener = (
        f"listener {tls_port} 127.0.0.1\ncafile {directory / 'ca.pem'}\n"
        f"certfile {directory / 'server.pem'}\nkeyfile {directory / 'server.key'}\n"
    )
    with PrivateBroker(extra_config=listener) as broker:
        yield TlsBroker(broker.port, tls_port, directory / "ca.pem", directory / "other.pem")
    shutil.rmtree(directory, ignore_errors=True)
