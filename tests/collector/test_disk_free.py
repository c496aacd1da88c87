"""The data disk's free space is looked at every FREE_EVERY seconds, and afresh when writes start or stop failing."""

import errno

from labmon_collector.disk import FREE_EVERY, DiskHealth

from .test_full_disk import small_disk  # noqa: F401 (a fixture)

MB = 1 << 20


def test_free_space_is_looked_at_again_after_a_while_or_when_writes_start_or_stop_failing(small_disk):  # noqa: F811
    now = [100.0]
    health = DiskHealth(small_disk, clock=lambda: now[0])
    first = health.free()
    assert first is not None and 7 * MB < first <= 8 * MB
    (small_disk / "one").write_bytes(b"\0" * MB)
    assert health.free() == first  # within FREE_EVERY: the last look stands
    now[0] += FREE_EVERY
    second = health.free()
    assert second is not None and second <= first - MB  # looked again
    (small_disk / "two").write_bytes(b"\0" * MB)
    health.refuse("outbox", OSError(errno.ENOSPC, "No space left on device"))
    third = health.free()
    assert third is not None and third <= second - MB  # a refused write: looked afresh at once
    (small_disk / "one").unlink()
    health.refuse("outbox", OSError(errno.ENOSPC, "No space left on device"))  # the same run: no new look
    assert health.free() == third
    health.stored("outbox")
    assert health.free() == third + MB  # the run ended: looked afresh
