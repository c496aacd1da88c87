"""The weekly digest: its schedule in a time zone (across daylight-saving changes), its table and its plot."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from labmon.config import CollectorConfig, DeliveryConfig, DigestConfig
from labmon.options import OptionError
from labmon.rule_config import RuleConfig
from labmon.testing import wait_until
from labmon_collector.health.digest import Scheduler, build
from tests.collector.healthkit import write_history
from tests.collector.test_health import DAY, MONDAY, STOPPED, lock_value

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*when: int) -> float:
    return datetime(*when, tzinfo=BERLIN).timestamp()  # type: ignore[misc]


def test_the_schedule_keeps_its_wall_clock_time_across_daylight_saving() -> None:
    digest = DigestConfig(schedule="mon 09:00", timezone="Europe/Berlin")
    # clocks go forward on Sunday 29 March 2026: the next Monday 09:00 is 167 hours after the last
    assert digest.next_after(berlin(2026, 3, 23, 9, 0)) == berlin(2026, 3, 30, 9, 0)
    assert berlin(2026, 3, 30, 9, 0) - berlin(2026, 3, 23, 9, 0) == 167 * 3600
    # and back on Sunday 25 October: 169 hours
    assert digest.next_after(berlin(2026, 10, 19, 9, 0)) == berlin(2026, 10, 26, 9, 0)
    assert berlin(2026, 10, 26, 9, 0) - berlin(2026, 10, 19, 9, 0) == 169 * 3600
    assert digest.next_after(berlin(2026, 3, 30, 8, 59)) == berlin(2026, 3, 30, 9, 0)  # later the same day
    sunday = DigestConfig(schedule="sun 02:30", timezone="Europe/Berlin")  # 02:30 does not exist that night
    at = sunday.next_after(berlin(2026, 3, 28, 12, 0))
    assert datetime.fromtimestamp(at, BERLIN).strftime("%a %H:%M") == "Sun 03:30"  # an hour later, not skipped


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"schedule": "monday"}, "schedule"),
        ({"schedule": "mon 9am"}, "schedule"),
        ({"schedule": "mon 24:00"}, "schedule"),
        ({"timezone": "Mars/Base"}, "timezone"),
    ],
)
def test_a_bad_schedule_or_zone_names_its_key(options: dict[str, str], key: str) -> None:
    with pytest.raises(OptionError) as raised:
        DigestConfig(**options)
    assert raised.value.key == key and raised.value.fix


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The health tests' lock, repeated over two weeks at 5-minute steps (the first week out longer)."""
    path = tmp_path_factory.mktemp("digest") / "history.sqlite"

    def lock(t: float) -> float | None:
        earlier = t < MONDAY
        return (
            2.0
            if earlier and (t - MONDAY) % DAY < 7200
            else lock_value(t if earlier else MONDAY + (t - MONDAY) % (3 * DAY))
        )

    times = [MONDAY - 7 * DAY + i * 300.0 for i in range(int(14 * DAY / 300))]
    write_history(path, {"t1/laser1/lock": lock, "t1/laser1/piezo": lambda t: 1.0}, times, restart_at=STOPPED[1])
    return path


def settings(history: Path, **digest: str) -> CollectorConfig:
    rules = (RuleConfig(name="lock", select="t1/laser1/lock", above=1.0),)
    return CollectorConfig(
        60.0, 10.0, history.parent, DeliveryConfig(), (), (), (), rules, digest=DigestConfig(**digest)
    )


def test_the_digest_has_a_line_per_watched_series_and_the_worst_one_plotted(two_weeks: Path) -> None:
    until = MONDAY + 7 * DAY
    digest = build(settings(two_weeks, timezone="UTC"), two_weeks, until)
    lines = digest.alert.message.splitlines()
    assert lines[0] == "labmon weekly digest: the 7 days to Mon 2025-12-08 00:00 (UTC)"
    [row] = [line for line in lines if line.startswith("t1/laser1/lock ")]
    fields = row.split()
    assert fields[4] == "30m"  # the longest excursion this week; the week before, out 2 h a day
    assert fields[1].endswith("%") and fields[-1] == "pts" and fields[-2].startswith("+")
    assert lines[-1] == "worst: t1/laser1/lock (plot of the week attached)"
    assert digest.png is not None and digest.png.startswith(b"\x89PNG")
    assert "piezo" not in digest.alert.message  # no rule watches it


def test_without_a_history_the_digest_says_so(tmp_path: Path) -> None:
    digest = build(settings(tmp_path / "none.sqlite"), tmp_path / "none.sqlite", MONDAY)
    assert "no stored series is watched" in digest.alert.message and digest.png is None


def test_the_scheduler_builds_in_its_own_thread_once_due_and_resumes_after_a_restart(two_weeks: Path) -> None:
    config = settings(two_weeks, schedule="mon 09:00", timezone="UTC")
    first_due = MONDAY + 7 * DAY + 9 * 3600
    scheduler = Scheduler(config, two_weeks, None, MONDAY + 6 * DAY)
    assert scheduler.due == first_due
    assert scheduler.tick(first_due - 60) == []
    found: list[object] = []
    wait_until(lambda: found.extend(scheduler.tick(first_due + 1)) or found, timeout=60, what="the digest")
    assert scheduler.due == first_due + 7 * DAY
    # stopped over the next one: a restart sends the missed digest at its first cycle, for its own week
    late = Scheduler(config, two_weeks, first_due, first_due + 9 * DAY)
    assert late.due == first_due + 7 * DAY
    built = []
    wait_until(lambda: built.extend(late.tick(first_due + 9 * DAY)) or built, timeout=60, what="the late digest")
    assert built[0].alert.at == first_due + 7 * DAY
