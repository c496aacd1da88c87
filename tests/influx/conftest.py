"""Real line-protocol stores on free loopback ports: VictoriaMetrics and InfluxDB 1.x, each in a temp dir."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labmon.testing import free_port

SEARCH_PATH = "/usr/bin:/usr/sbin:/usr/local/bin"


def get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    """Return the status and body of a GET (or a POST of `data`), errors included."""
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def poll(
    probe: Callable[[], Any], what: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> Any:
    """Return `probe()`'s first truthy answer; fail after `timeout` seconds or when `process` exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = probe()
        except OSError:
            answer = None
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        if process is not None:
            try:
                process.wait(timeout=0.1)  # the pause between probes, cut short if the server dies
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"{what}: the server exited with status {process.returncode}")
        time.sleep(0.1)  # a poll interval, not a synchronisation: the deadline above bounds it


class ServerProcess:
    """A store's server process on a loopback port, stopped and restarted on the same port and data."""

    def __init__(self, argv: list[str], health: str, log: Path) -> None:
        binary = shutil.which(argv[0], path=SEARCH_PATH)
        if binary is None:
            pytest.fail(
                f"{argv[0]} is not installed: run LABMON_DEV=1 bash scripts/setup (scripts/debian/test-stores.txt)"
            )
        self.argv = [binary, *argv[1:]]
        self.health = health
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        poll(lambda: get(self.health)[0] < 300, f"{self.argv[0]} to answer {self.health}", process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Victoria(ServerProcess):
    """VictoriaMetrics: accepts line protocol on /write and /api/v2/write; read back through /api/v1/export."""

    def __init__(self, root: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        address = self.url.removeprefix("http://")
        argv = ["victoria-metrics", f"-storageDataPath={root}", f"-httpListenAddr={address}", "-loggerLevel=ERROR"]
        argv.append("-dedup.minScrapeInterval=1ms")  # as the README advises: a redelivered point is kept once
        super().__init__(argv, f"{self.url}/health", root / "log")

    def export(self, match: str) -> list[dict[str, Any]]:
        """Return the exported series matching a series selector (an empty list until searchable)."""
        status, body = get(f"{self.url}/api/v1/export?" + urllib.parse.urlencode({"match[]": match}))
        assert status == 200, body
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def wait_for(self, match: str, count: int) -> list[dict[str, Any]]:
        """Poll until `count` series match (data becomes searchable about a second after a write)."""
        get(f"{self.url}/internal/force_flush")
        return poll(lambda: (found := self.export(match)) and len(found) >= count and found, f"{count} series {match}")


class Influx(ServerProcess):
    """InfluxDB 1.x with its meta, data and WAL under a temp dir; `query` answers InfluxQL as JSON."""

    def __init__(self, root: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        conf = root / "influxdb.conf"
        conf.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\ndir = "{root}/meta"\n[data]\ndir = "{root}/data"\nwal-dir = "{root}/wal"\n'
            f'query-log-enabled = false\n[http]\nbind-address = "{self.url.removeprefix("http://")}"\n'
            "log-enabled = false\n[monitor]\nstore-enabled = false\n"
        )
        super().__init__(["influxd", "-config", str(conf)], f"{self.url}/ping", root / "log")

    def query(self, q: str, db: str = "", epoch: str = "ns") -> Any:
        """Run one InfluxQL statement; return its first result."""
        data = urllib.parse.urlencode({"q": q, "db": db, "epoch": epoch}).encode()
        status, body = get(f"{self.url}/query", data)
        assert status == 200, body
        return json.loads(body)["results"][0]

    def rows(self, measurement: str, db: str) -> list[dict[str, Any]]:
        """Return every point of a measurement as dicts, in time order."""
        series = self.query(f'SELECT * FROM "{measurement}"', db).get("series", [])
        return [dict(zip(s["columns"], v, strict=True)) for s in series for v in s["values"]]


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Victoria]:
    """One VictoriaMetrics for the session (tests write distinct measurements)."""
    server = Victoria(tmp_path_factory.mktemp("victoria"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx]:
    """One InfluxDB 1.x for the session (tests use distinct databases)."""
    server = Influx(tmp_path_factory.mktemp("influx"))
    yield server.start()
    server.stop()


@pytest.fixture
def own_influx(tmp_path: Path) -> Iterator[Influx]:
    """An InfluxDB 1.x of this test's own, for tests that stop it."""
    server = Influx(tmp_path)
    server.start()
    yield server
    server.stop()
