"""The `disk` alerts across a restart: one left firing is resolved once its condition is over, never fired again."""

from labmon_collector.disk import DiskHealth
from labmon_collector.diskalarm import LOW, DiskAlarm

TERABYTES = 10**15


def left_firing(tmp_path):
    """The low-space alert a first run fired, as it keeps it across a restart."""
    first = DiskAlarm(DiskHealth(tmp_path), TERABYTES)  # more than any disk here has free
    (fired,) = first.check(1000.0)
    assert fired.state == "firing" and fired.series == LOW
    return first.firing


def test_a_disk_alert_still_standing_after_a_restart_is_not_fired_again(tmp_path):
    again = DiskAlarm(DiskHealth(tmp_path), TERABYTES, left_firing(tmp_path))
    assert again.check(2000.0) == []


def test_a_disk_alert_whose_cause_ended_while_the_collector_was_down_is_resolved_once(tmp_path):
    again = DiskAlarm(DiskHealth(tmp_path), 1, left_firing(tmp_path))  # space came back meanwhile
    (resolved,) = again.check(2000.0)
    assert resolved.state == "resolved" and resolved.since == 1000.0
    assert again.check(3000.0) == []
