"""A real PostgreSQL cluster made by initdb in a temp dir, on a free loopback port, for the whole session."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labmon.testing import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


class Postgres:
    """A private cluster; initdb and the server refuse root, so as root they run as Debian's postgres user."""

    def __init__(self) -> None:
        if not (BIN / "initdb").exists():
            pytest.fail(f"no PostgreSQL in {BIN}: run LABMON_DEV=1 bash scripts/setup (scripts/debian/test-stores.txt)")
        self.root = Path(tempfile.mkdtemp(prefix="labmon-pg-"))
        self.port = free_port()
        self.dsn = f"host=127.0.0.1 port={self.port} user=labmon dbname=postgres password=pg-s3cret-never-shown"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.root / "data"), "-A", "trust", "-U", "labmon", "--no-sync")

    def _run(self, *argv: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*as_postgres, str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=120
        )
        if done.returncode:
            pytest.fail(f"{argv[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> Postgres:
        """Start the server and return once it accepts connections (pg_ctl -w waits for that)."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        """Stop the server, ending its connections, and wait until it is down."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def query(self, statement: str) -> list[tuple[object, ...]]:
        """Run one statement in its own connection; return its rows."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL for the session (tests use distinct tables)."""
    server = Postgres().start()
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)
