"""A measurer whose clock is days off (a Pi booted without network): its readings are filed on the collector's clock.

The measurer runs as its own process under libfaketime (Debian's `faketime`), three days behind.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from labmon.testing import wait_until
from labmon_collector.service import Collector
from tests.conftest import collector_table, invoke, measurer_table

THREE_DAYS = 3 * 86400


@pytest.fixture
def skewed_measurer(broker, write_config, tmp_path):
    """Start `labmon measurer` three days behind the real time, with its monotonic clock left alone."""
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.fail("faketime is not installed: run LABMON_DEV=1 bash scripts/setup (scripts/debian/test-install.txt)")
    table = measurer_table(broker, "skewed")
    table["measurer"]["min_inquiry_interval"] = "0s"
    write_config(table, "measurer.toml")
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    labmon = [sys.executable, "-m", "labmon", "measurer", str(tmp_path / "measurer.toml")]
    process = subprocess.Popen(
        [faketime, "-f", f"-{THREE_DAYS}s", *labmon], env=env, stderr=subprocess.DEVNULL, start_new_session=True
    )
    yield "skewed"
    os.killpg(process.pid, signal.SIGTERM)  # faketime is a script: its child, the measurer, too
    process.wait(10)


def test_a_measurer_three_days_behind_is_filed_on_the_collectors_clock_and_alerted_once(
    broker,
    write_config,
    skewed_measurer,
    victoria,
    postgres,
    monkeypatch,
    tmp_path,
):
    monkeypatch.setenv("TEST_PG_DSN", postgres.dsn)
    sinks = {
        "history": {"type": "sqlite", "path": "history.sqlite"},
        "victoria": {"type": "influx", "url": victoria.url, "database": "lab", "measurement": "skew"},
        "pg": {"type": "postgres", "dsn": "${TEST_PG_DSN}", "table": "skew_readings"},
    }
    collector = Collector(
        write_config(collector_table(broker, [skewed_measurer], sinks=sinks, reply_timeout="5s", interval="10s"))
    )
    collector.start()
    began = time.time()
    try:
        assert collector.wait_connected(10)
        wait_until(lambda: collector.run_cycle(0).results, 30, "a first answer from the skewed measurer")
        batches = [collector.run_cycle(number) for number in range(1, 4)]
    finally:
        collector.stop()
    ended = time.time()
    offset = collector.clocks.offsets()[skewed_measurer].offset
    assert abs(offset + THREE_DAYS) < 2, offset  # measured from the round trip, to within its half
    for batch in batches:
        (result,) = batch.results
        assert batch.started_at <= result.measured_at <= ended
        assert result.clock_offset is not None and abs(result.clock_offset + THREE_DAYS) < 2

    history = sqlite3.connect(tmp_path / "history.sqlite")
    times = [at for (at,) in history.execute("SELECT measured_at FROM readings")]
    assert times and all(began <= at <= ended for at in times), times
    rows = postgres.query("SELECT extract(epoch FROM time) FROM skew_readings")
    assert rows and all(began <= float(at) <= ended for (at,) in rows), rows
    series = victoria.wait_for('{__name__=~"skew_.*"}', 1)
    stamps = [ms / 1000 for s in series for ms in s["timestamps"]]
    assert stamps and all(began - 1 <= at <= ended + 1 for at in stamps), stamps

    events = sqlite3.connect(tmp_path / "labmon-data" / "events.sqlite")
    fired = events.execute("SELECT series, value, unit FROM events WHERE rule = 'clock' AND kind = 'firing'").fetchall()
    assert len(fired) == 1, fired
    assert fired[0][0] == skewed_measurer and abs(fired[0][1] + THREE_DAYS) < 2 and fired[0][2] == "s"
    status = invoke("status", str(tmp_path / "labmon.toml"))
    assert "measurer skewed's clock is 3d behind (its readings are filed on the collector's clock)" in status.output
    offsets = json.loads(invoke("status", "--json", str(tmp_path / "labmon.toml")).output)["collector"]["clock_offsets"]
    assert abs(offsets[skewed_measurer] + THREE_DAYS) < 2
