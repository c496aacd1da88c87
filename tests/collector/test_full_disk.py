"""A full data disk never silences alerts: a real 8 MB tmpfs as data_dir, filled to the last byte under a collector."""

import errno
import os
import sqlite3
import subprocess
import threading
from contextlib import contextmanager

import pytest

from labmon.testing import Answer, ScriptedServer, wait_until
from labmon_collector.disk import refused
from labmon_collector.history.reader import History
from labmon_collector.history.writer import HistoryConfig, HistorySink
from labmon_collector.service import Collector
from tests.collector.test_history_windows import batch, old_file
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


def fill(directory, name="filler"):
    """Write a file into `directory` until its disk refuses a single byte more; return the file."""
    filler = directory / name
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


def told(discord):
    """Return every message the Discord stand-in was sent (a group of alerts is one embed each)."""
    return [embed["description"] for r in discord.requests for embed in r.json()["embeds"]]


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
            return [m for m in told(discord) if text in m]

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
    messages = told(discord)
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


def on_disk(broker, lab, data, min_free, **collector):
    """Return a fast collector config (as a dict) keeping everything in `data`, telling the Discord stand-in."""
    config = collector_table(
        broker, lab, interval="500ms", reply_timeout="300ms", data_dir=str(data), min_free=min_free,
        notifiers={"discord": {"type": "discord", "webhook_url": "${TEST_DISCORD_URL}"}}, **collector,
    )  # fmt: skip
    config["collector"]["sinks"]["history"]["path"] = str(data / "history.sqlite")
    return config


@contextmanager
def told_on(data, broker, lab, write_config, monkeypatch):
    """Yield a fast collector's config keeping everything in `data`, and what its Discord stand-in was told that
    holds a text (the stand-in answers while the block runs)."""
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")
        yield write_config(on_disk(broker, lab, data, "1MB")), lambda text: [m for m in told(discord) if text in m]


def stored_twice(data):
    """Wait until the collector running on `data` has stored two cycles in its history."""
    wait_until(lambda: len(stored_cycles(data / "history.sqlite")) >= 2, 30, "two cycles stored")


def running(collector):
    """Run `collector` in a thread; return a function that stops it."""
    collector.start()
    stop = threading.Event()
    runner = threading.Thread(target=collector.run, kwargs={"stop": stop})
    runner.start()

    def halt():
        stop.set()
        runner.join()
        collector.stop()

    return halt


def test_the_disk_alert_is_acknowledged_silenced_shown_and_kept_in_the_history_like_any_other(
    small_disk, lab, broker, write_config, monkeypatch
):
    from labmon.broker import free_port
    from tests.web.conftest import fetch
    from tests.web.test_http import basic

    port = free_port()
    monkeypatch.setenv("LABMON_TEST_PAGE_PASSWORD", "s3cret-page")
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")
        web = {"listen": f"127.0.0.1:{port}", "password": "${LABMON_TEST_PAGE_PASSWORD}"}
        loaded = write_config(on_disk(broker, lab, small_disk, "4MB", web=web))
        collector = Collector(loaded)
        halt = running(collector)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: len(stored_cycles(small_disk / "history.sqlite")) >= 2, 30, "two cycles stored")
            silenced = invoke("silence", "add", "-c", str(loaded.path), "collector/disk/free", "--for", "1h")
            assert silenced.exit_code == 0, silenced.output
            filler = fill(small_disk)
            wait_until(lambda: [m for m in told(discord) if "history not stored since" in m], 30, "the disk alert")
            taken = fill(small_disk, "taken")  # what the alert store's reserve gave back, taken by the other writes
            refused = invoke("ack", "-c", str(loaded.path), "collector/disk/writes")  # its own process: no memory
            assert refused.exit_code == 1 and "the alert on the status page" in refused.output, refused.output
            token = fetch(url + "/api/meta", headers=basic("s3cret-page", "alice"))[1]["csrf"]
            headers = {"Content-Type": "application/json", "X-Labmon-Csrf": token, "Origin": url}
            ack = {"selector": "collector/disk/writes", "comment": "clearing space"}
            status, body = fetch(url + "/api/acks", data=ack, headers=headers | basic("s3cret-page", "alice"))
            assert status == 200 and body["acknowledged"] == [{"rule": "disk", "series": "collector/disk/writes"}]
            wait_until(lambda: [m for m in told(discord) if m.startswith("acknowledged by alice")], 30, "the ack told")
            mute = ["silence", "add", "-c", str(loaded.path), "collector/disk/writes", "--for", "1h"]
            refused = invoke(*mute)  # a silence needs the file: said, no traceback
            assert refused.exit_code == 1 and "the silence cannot be stored" in refused.output, refused.output
            silence = {"selector": "collector/disk/writes", "duration": "1h"}
            status, body = fetch(url + "/api/silences", data=silence, headers=headers | basic("s3cret-page", "alice"))
            assert status == 507 and "the silence cannot be stored" in body["error"], body
            shown = fetch(url + "/api/alerts", headers=basic("s3cret-page", "alice"))[1]["active"]
            disk = {a["series"]: a for a in shown if a["rule"] == "disk"}
            assert disk["collector/disk/writes"]["acknowledged"] == "acknowledged by alice: clearing space"
            assert disk["collector/disk/free"]["silenced"] and disk["collector/disk/free"]["state"] == "firing"
            metrics = fetch(url + "/metrics", headers=basic("s3cret-page", "alice"))[1]
            assert 'alertname="disk",alertstate="firing",series="collector/disk/writes",severity="critical"' in metrics
            assert 'alertname="disk",alertstate="firing",series="collector/disk/free",severity="warning"' in metrics
            os.remove(filler)
            os.remove(taken)
            wait_until(lambda: [m for m in told(discord) if "history stored again" in m], 30, "the disk alert resolved")
            events = wait_until(
                lambda: [
                    (e["kind"], e["series"])
                    for e in fetch(url + "/api/events?rule=disk", headers=basic("s3cret-page", "alice"))[1]["events"]
                ],
                30,
                "the history",
            )
        finally:
            halt()
    messages = told(discord)
    assert len([m for m in messages if "history not stored since" in m]) == 2, messages  # fired, and its ack
    assert len([m for m in messages if "history stored again" in m]) == 1, messages
    assert not [m for m in messages if "below min_free" in m], messages  # silenced
    assert ("acknowledged", "collector/disk/writes") in events and ("firing", "collector/disk/free") in events, events


def test_a_low_space_warning_firing_across_a_restart_is_not_told_again_and_resolves_once(
    small_disk, lab, broker, write_config, monkeypatch
):
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")
        loaded = write_config(on_disk(broker, lab, small_disk, "4MB"))
        ballast = small_disk / "ballast"
        ballast.write_bytes(b"\0" * 5_000_000)  # 3 MB left: below min_free, the disk still takes writes
        halt = running(Collector(loaded))
        try:
            wait_until(lambda: [m for m in told(discord) if "below min_free" in m], 30, "the warning")
        finally:
            halt()
        status = invoke("status", "--json", str(loaded.path))
        assert '"series": "collector/disk/free"' in status.output, status.output  # kept in the alert store
        again = Collector(loaded)
        halt = running(again)
        try:
            wait_until(lambda: again.gauges.health.cycles >= 3, 30, "three cycles after the restart")
            assert again.rules.states[("disk", "collector/disk/free")].state == "firing"
            ballast.unlink()
            wait_until(lambda: [m for m in told(discord) if "bytes free" in m and "again" in m], 30, "resolved")
        finally:
            halt()
    messages = told(discord)
    assert len([m for m in messages if "below min_free" in m]) == 1, messages
    assert len([m for m in messages if "again" in m and "bytes free" in m]) == 1, messages


def test_in_a_pair_the_standby_tells_its_own_full_disk_and_the_active_does_not(
    small_disk, lab, broker, write_config, monkeypatch, tmp_path
):
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")
        collectors = {}
        for node, data in (("collector-a", tmp_path / "a"), ("collector-b", small_disk)):
            failover = {"node": node, "order": ["collector-a", "collector-b"]}
            config = on_disk(broker, lab, data, "1MB", failover=failover)
            collectors[node] = Collector(write_config(config, f"{node}.toml"))
        halts = [running(collectors["collector-a"])]
        try:
            wait_until(lambda: collectors["collector-a"].active, 30, "a active")
            halts.append(running(collectors["collector-b"]))
            wait_until(lambda: len(stored_cycles(small_disk / "history.sqlite")) >= 2, 30, "b stores its history")
            filler = fill(small_disk)
            wait_until(lambda: [m for m in told(discord) if "history not stored" in m], 30, "b's full disk told")
            assert not collectors["collector-b"].active
            os.remove(filler)
            wait_until(lambda: [m for m in told(discord) if "history stored again" in m], 30, "b's disk resolved")
        finally:
            for halt in reversed(halts):
                halt()
    messages = told(discord)
    full = [m for m in messages if "history not stored" in m]
    assert len(full) == 1 and full[0].startswith("collector-b/disk/writes: "), messages
    back = [m for m in messages if "history stored again" in m]
    assert len(back) == 1 and back[0].startswith("collector-b/disk/writes: "), messages
    assert not [m for m in messages if m.startswith("collector-a/disk")], messages


def test_a_restart_while_the_disk_is_full_knows_the_disk_alert_was_told_and_resolves_it_once(
    small_disk, lab, broker, write_config, monkeypatch
):
    """The run before stored that it told the alert (in the room of the alert store's reserve): this run, started on
    the still full disk, does not tell it again, and tells its end once."""
    with ScriptedServer(DISCORD_OK) as discord:
        monkeypatch.setenv("TEST_DISCORD_URL", f"{discord.url}/api/webhooks/1/token")
        loaded = write_config(on_disk(broker, lab, small_disk, "1MB"))

        def full():
            return [m for m in told(discord) if "history not stored since" in m]

        halt = running(Collector(loaded))
        try:
            wait_until(lambda: len(stored_cycles(small_disk / "history.sqlite")) >= 2, 30, "two cycles stored")
            filler = fill(small_disk)
            wait_until(full, 30, "the disk alert")
        finally:
            halt()
        again = Collector(loaded)  # its files opened in the room the stop left (their WALs checkpointed)
        taken = fill(small_disk, "taken")  # that room taken again before its first cycle: the disk still full
        halt = running(again)
        try:
            wait_until(lambda: again.gauges.health.cycles >= 3, 30, "three cycles after the restart")
            assert again.disk.failing(), "the disk still refuses writes"
            assert again.rules.states[("disk", "collector/disk/writes")].state == "firing"
            os.remove(filler)
            os.remove(taken)
            wait_until(lambda: [m for m in told(discord) if "history stored again" in m], 30, "resolved")
        finally:
            halt()
    assert len(full()) == 1, told(discord)
    assert "possibly told before its restart" not in full()[0]
    assert len([m for m in told(discord) if "history stored again" in m]) == 1


def test_a_disk_alert_told_while_the_disk_was_full_resolves_once_after_a_restart_with_space_freed(
    small_disk, lab, broker, write_config, monkeypatch
):
    """The alert store stores that the disk alert was told even on the full disk: the run after resolves it."""
    with told_on(small_disk, broker, lab, write_config, monkeypatch) as (loaded, said):
        halt = running(Collector(loaded))
        try:
            stored_twice(small_disk)
            filler = fill(small_disk)
            wait_until(lambda: said("history not stored since"), 30, "the disk alert")
        finally:
            halt()
        filler.unlink()  # space freed while the collector is stopped
        again = Collector(loaded)
        halt = running(again)
        try:
            wait_until(lambda: said("history stored again"), 30, "the disk alert resolved after the restart")
            cycles = again.gauges.health.cycles
            wait_until(lambda: again.gauges.health.cycles >= cycles + 3, 30, "three more cycles")
        finally:
            halt()
    assert len(said("history not stored since")) == 1, said("")
    assert len(said("history stored again")) == 1, said("")


def test_a_history_the_full_disk_cannot_migrate_waits_and_the_collector_still_starts(small_disk):
    """An upgrade's migration needs room for a copy: the sink starts without its file and opens it once it can."""
    path = small_disk / "history.sqlite"
    rows = old_file(path, series=3, points=200)
    filler = fill(small_disk)
    sink = HistorySink(HistoryConfig(path=path))  # raised here before: the collector (and its alerts) never started
    with pytest.raises(sqlite3.Error) as refusal:
        sink.write(batch(2400.0, {"i1": 5.0}))
    assert refused(refusal.value)  # counted for the disk alert; the courier keeps the batch
    filler.unlink()
    sink.write(batch(2400.0, {"i1": 5.0}))
    sink.close()
    history = History(path)
    try:
        assert history.readings(2, 0.0, 1e12) == [(row[1], row[2], "ok", None) for row in rows if row[0] == 2]
        assert history.readings(1, 2400.0, 2401.0) == [(2400.0, 5.0, "ok", None)]
    finally:
        history.close()


def test_a_collector_starts_on_a_disk_full_to_the_last_byte_and_tells_it(
    small_disk, lab, broker, write_config, monkeypatch
):
    """A Pi whose card filled while the collector was stopped: the restart opens its files in the room of the alert
    store's reserve, runs its cycles and tells the full disk once, never a crash loop; freed, it says so once."""
    with told_on(small_disk, broker, lab, write_config, monkeypatch) as (loaded, said):
        halt = running(Collector(loaded))
        try:
            stored_twice(small_disk)
        finally:
            halt()
        filler = fill(small_disk)
        again = Collector(loaded)
        halt = running(again)
        try:
            wait_until(lambda: again.gauges.health.cycles >= 3, 30, "three cycles on the full disk")
            # told as refused writes, or as too little room for the reserve if no write was refused yet
            wait_until(lambda: said("history not stored since") or said("nearly full"), 30, "the disk alert")
            filler.unlink()
            wait_until(lambda: said("history stored again"), 30, "resolved")
        finally:
            halt()
    assert len(said("history not stored since") + said("nearly full")) == 1, said("")
    assert len(said("history stored again")) == 1, said("")


def test_a_first_start_on_a_full_disk_says_the_disk_is_full_without_a_traceback(
    small_disk, lab, broker, write_config, monkeypatch
):
    monkeypatch.setenv("TEST_DISCORD_URL", "http://127.0.0.1:9/api/webhooks/1/token")
    loaded = write_config(on_disk(broker, lab, small_disk, "1MB"))
    fill(small_disk)
    result = invoke("collector", str(loaded.path), "--once")
    assert result.exit_code == 1, result.output
    assert "its disk is full" in result.output and str(small_disk) in result.output, result.output
    assert "Traceback" not in result.output
