"""The alert store's reserve: room on the full data disk (a real 8 MB tmpfs) for a commit recording a told alert."""

import errno
import sqlite3
import subprocess

import pytest

from labmon.models import Batch
from labmon_collector.alerting.alertstore import AlertStore, SeriesState
from labmon_collector.alerting.rules import RulesEngine, with_builtin_rules
from labmon_collector.delivery.outbox import Outbox
from labmon_collector.disk import DiskHealth, free_bytes
from labmon_collector.diskalarm import DiskAlarm
from labmon_collector.reserve import NAME, OPEN, PIECE, ROOM, SIZE, Reserve

from .test_full_disk import fill, small_disk  # noqa: F401 (a fixture)

FULL = OSError(errno.ENOSPC, "No space left on device")


def stored(path):
    """Return the alert states the file holds, read by a connection of its own."""
    with sqlite3.connect(path) as db:
        return {(rule, series): (state, told) for rule, series, state, told in db.execute(
            "SELECT rule, series, state, notified_at FROM alert_state"
        )}  # fmt: skip


def test_a_told_alert_is_stored_on_the_full_disk_in_the_reserve_and_nothing_else_spends_it(small_disk):  # noqa: F811
    path = small_disk / "alerts.sqlite"
    store = AlertStore(path, DiskHealth(small_disk))
    reserve = store.reserve
    assert reserve is not None and reserve.path.stat().st_blocks * 512 >= SIZE  # allocated, not sparse
    store.save({("gone", "m1"): SeriesState("pending", 1000.0)}, {}, 1000.0)
    filler = fill(small_disk)
    store.save({("gone", "m1"): SeriesState("pending", 1000.0, last_value=1.0)}, {}, 1010.0)  # nothing told
    assert not reserve.spent and stored(path)[("gone", "m1")] == ("pending", None)
    store.save({("gone", "m1"): SeriesState("firing", 1000.0, notified_at=1020.0)}, {}, 1020.0)  # told
    assert stored(path)[("gone", "m1")] == ("firing", 1020.0)
    assert reserve.spent and reserve.path.stat().st_size == SIZE - PIECE
    fill(small_disk, "taken")  # the other writes take what was given back
    store.close()
    reopened = AlertStore(path, DiskHealth(small_disk))  # a start on the still full disk: room to open its files
    assert reopened.reserve is not None and reopened.reserve.spent
    assert reopened.reserve.path.stat().st_size <= SIZE - PIECE - OPEN and free_bytes(small_disk) >= OPEN
    reopened.save({}, {}, 1030.0)  # told resolved
    assert stored(path) == {}
    reopened.close()
    filler.unlink()
    whole = AlertStore(path, DiskHealth(small_disk))  # a start with room: made whole
    assert whole.reserve is not None and not whole.reserve.spent and whole.reserve.path.stat().st_size == SIZE
    whole.close()


def test_the_disk_alert_holds_until_the_disk_has_room_for_the_reserve_again(small_disk):  # noqa: F811
    health = DiskHealth(small_disk, clock=iter(range(0, 10**6, 10)).__next__)  # each look at the free space afresh
    store = AlertStore(small_disk / "alerts.sqlite", health)
    judge = RulesEngine(with_builtin_rules(()), store)
    judge.disk = DiskAlarm(health, 1, reserve=store.reserve)
    disk = next(rule for rule in judge.rules if rule.disk)

    def cycle(now):
        return [
            (a.state, a.message) for a in judge.evaluate(Batch(int(now), now, ()), now) if a.series.endswith("writes")
        ]

    filler = fill(small_disk)
    health.refuse("outbox", FULL)
    [(state, _)] = cycle(1000.0)
    assert state == "firing" and stored(small_disk / "alerts.sqlite")[("disk", "collector/disk/writes")][0] == "firing"
    filler.unlink()
    keep = small_disk / "keep"
    keep.write_bytes(b"\0" * (health.free() - ROOM // 2))  # writes go through, but no room to make the reserve whole
    health.stored("outbox")
    assert cycle(1010.0) == [] and judge.states[("disk", "collector/disk/writes")].state == "firing"
    [writes] = [seen for seen in judge.disk.observe(disk, lambda series: True, {}) if seen.series.endswith("writes")]
    assert writes.holds and "needed to keep the reserve" in writes.detail, writes.detail
    keep.unlink()
    [(state, message)] = cycle(1020.0)
    assert state == "resolved" and "history stored again" in message and not store.reserve.spent
    store.close()


def test_a_reserve_that_cannot_be_made_for_another_reason_than_room_is_said_and_holds_nothing(tmp_path, caplog):
    (tmp_path / NAME).mkdir()  # its name taken
    store = AlertStore(tmp_path / "alerts.sqlite", DiskHealth(tmp_path))
    assert store.reserve is not None and not store.reserve.spent  # the disk alert is not held for it
    assert "cannot keep a reserve of disk space for the alert state" in caplog.text
    store.close()


@pytest.fixture
def no_fallocate(tmp_path):
    """A ramfs mounted for this test (root only): a filesystem without fallocate, as NFSv3 or an old ZFS."""
    disk = tmp_path / "ramfs"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "ramfs", "ramfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a ramfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_the_reserve_is_made_on_a_filesystem_without_fallocate(no_fallocate, caplog):
    store = AlertStore(no_fallocate / "alerts.sqlite", DiskHealth(no_fallocate))
    reserve = store.reserve
    assert reserve is not None and not reserve.spent, caplog.text  # glibc writes its blocks one by one instead
    assert reserve.path.stat().st_blocks * 512 >= SIZE  # allocated, not sparse
    assert "cannot keep a reserve" not in caplog.text
    store.close()


def test_a_notification_delivered_while_the_disk_refuses_its_delete_is_not_sent_again_unsaid(small_disk):  # noqa: F811
    """Stored with room (the reserve's, given back for a told alert), then the disk full again: its notifier answers
    but the delete is refused. A stop writes the delete in the reserve: a restart must not send it again as new."""
    health = DiskHealth(small_disk)
    reserve = Reserve(small_disk)
    assert reserve.fill()
    outbox = Outbox(small_disk / "outbox.sqlite", health=health, reserve=reserve)
    outbox.put("notifier:discord", {"message": "the disk is full"})
    filler = fill(small_disk)
    item = outbox.oldest("notifier:discord")
    outbox.sending(item.id)  # refused: not marked
    outbox.delivered("notifier:discord", item.id)  # refused: the delete owed, in memory
    assert health.failing() == ["outbox"]
    outbox.close()
    filler.unlink()
    again = Outbox(small_disk / "outbox.sqlite")
    try:
        left = again.oldest("notifier:discord")
        assert left is None or left.repeat, left  # gone, or at least said as possibly a repeat
    finally:
        again.close()
