"""A full data disk never silences alerts: a real 8 MB tmpfs as data_dir, filled to the last byte under a collector."""

import errno
import os
import sqlite3
import subprocess
import threading

import pytest

from labmon.testing import Answer, ScriptedServer, wait_until
from labmon_collector.service import Collector
from tests.conftest import collector_table, invoke, measurer_table

DISCORD_OK = Answer.json(200, {"id": "1"})


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 8 MB mounted for this test (root only, as on the CI machine)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(directory):
    """Write a file into `directory` until its disk refuses a single byte more; return the file."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out:
        for chunk in (1 << 16, 1 << 12, 1):
            while True:
                try:
                    out.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return filler


class Recording(Collector):
    """A collector that remembers the time of every cycle it dispatched with readings."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cycles = []

    def dispatch(self, batch, **how):
        if batch.results:
            self.cycles.append(batch.started_at)
        super().dispatch(batch, **how)


def stored_cycles(path):
    with sqlite3.connect(path) as db:
        return {t for (t,) in db.execute("SELECT DISTINCT cycle_at FROM readings")}


def test_a_full_disk_keeps_the_cycle_and_the_alerts(small_disk, lab, broker, write_config, monkeypatch):
    from labmon_measurer.service import Measurer

    history = small_disk / "history.sqlite"
    doomed = Measurer(write_config(measurer_table(broker, "fulldisk-table"), "doomed.toml"))
    doomed.start()
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")
        rules = [{"name": "gone", "select": "*", "offline": True, "for": "0s", "severity": "critical"}]
        config = collector_table(
            broker,
            [*lab, "fulldisk-table"],
            interval="500ms",
            reply_timeout="300ms",
            data_dir=str(small_disk),
            min_free="4MB",
            notifiers={"discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_URL}"}},
            rules=rules,
        )
        config["collector"]["sinks"]["history"]["path"] = str(history)
        loaded = write_config(config)
        collector = Recording(loaded)
        collector.start()
        stop = threading.Event()
        runner = threading.Thread(target=collector.run, kwargs={"stop": stop})
        runner.start()

        def said(text):
            return [r.json()["embeds"][0]["description"] for r in discord.requests if text in r.body.decode()]

        try:
            wait_until(lambda: len(stored_cycles(history)) >= 3, 30, "three cycles stored")
            before = stored_cycles(history)
            filler = fill(small_disk)
            wait_until(lambda: said("history not stored since"), 30, "the disk alert")
            wait_until(lambda: collector.outbox.held() >= 3, 30, "three batches held in memory")
            doomed.stop()  # an alert that starts while the disk is full still goes out
            wait_until(lambda: said("fulldisk-table"), 30, "the offline alert")
            assert runner.is_alive()
            status = invoke("status", str(loaded.path))
            assert f"bytes free on {small_disk}, below min_free = 4000000" in status.output, status.output
            os.remove(filler)
            wait_until(lambda: said("history stored again"), 30, "the disk alert resolved")
            wait_until(lambda: collector.outbox.held() == 0, 30, "the held batches written")
        finally:
            stop.set()
            runner.join()
            collector.stop()
    after = stored_cycles(history)
    assert before <= after  # nothing accepted before the disk filled is lost
    assert set(collector.cycles) <= after  # nor after: held in memory, written when the disk took them again
    messages = [r.json()["embeds"][0]["description"] for r in discord.requests]
    full = [m for m in messages if "history not stored since" in m]
    assert len(full) == 1 and f"bytes free on {small_disk}" in full[0], messages
    assert len([m for m in messages if "history stored again" in m]) == 1, messages
    low = [m for m in messages if "below min_free" in m]
    assert len(low) == 1, messages
    assert collector.disk.refusals > 0


def test_the_outbox_holds_what_a_full_disk_refuses_and_writes_it_in_order_later(small_disk):
    from labmon_collector.delivery.outbox import Outbox
    from labmon_collector.disk import DiskHealth

    health = DiskHealth(small_disk)
    box = Outbox(small_disk / "outbox.sqlite", health=health)
    box.put("notifier:x", {"n": 1})
    box.put("notifier:x", {"n": 2})
    filler = fill(small_disk)
    for n in range(3, 6):
        box.put("notifier:x", {"n": n})
    assert box.held() == 3 and health.failing() == ["outbox"]
    delivered = []
    for _ in range(2):  # stored items delivered while the disk is full: each handed out once
        item = box.oldest("notifier:x")
        delivered.append(item.payload["n"])
        box.delivered("notifier:x", item.id)
    flying = box.oldest("notifier:x")  # a courier holds item 3 as the disk comes back
    os.remove(filler)
    box.put("notifier:x", {"n": 6})
    assert box.held() == 0 and health.failing() == []
    box.delivered("notifier:x", flying.id)
    delivered.append(flying.payload["n"])
    while (item := box.oldest("notifier:x")) is not None:
        delivered.append(item.payload["n"])
        box.delivered("notifier:x", item.id)
    box.close()
    assert delivered == [1, 2, 3, 4, 5, 6]
    reopened = Outbox(small_disk / "outbox.sqlite")
    assert reopened.oldest("notifier:x") is None and reopened.status()[0].delivered == 6
    reopened.close()
