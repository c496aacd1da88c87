"""Mute windows: recurring hours in which matching alerts notify nobody, as a silence would."""

from datetime import UTC, datetime

import pytest

from labmon.rule_config import MuteWindow
from labmon_collector.alerting.rules import RulesEngine
from tests.conftest import collector_table, invoke
from tests.core.test_config import COLLECTOR, problems

from .test_collector import started
from .test_rules import MINUTE, SERIES, feed, rule, states

SATURDAY = datetime(2026, 11, 28, tzinfo=UTC).timestamp()  # 00:00 UTC on a Saturday
HOUR = 3600.0


def test_a_window_is_open_on_its_days_between_its_times():
    bakeout = MuteWindow(start="02:00", end="06:00", days=["sat"])
    opened = [h for h in range(48) if bakeout.active(SATURDAY + h * HOUR + 1, UTC)]
    assert opened == [2, 3, 4, 5]  # Saturday only, not Sunday
    nightly = MuteWindow(start="22:00", end="06:00", days=["fri"])  # Friday night, into Saturday morning
    assert [h for h in range(-24, 24) if nightly.active(SATURDAY + h * HOUR + 1, UTC)] == [-2, -1, 0, 1, 2, 3, 4, 5]
    assert MuteWindow(start="02:00", end="06:00").active(SATURDAY + 27 * HOUR, UTC)  # no days: every day


def test_a_window_keeps_its_own_time_zone_across_daylight_saving():
    berlin = MuteWindow(start="02:00", end="06:00", timezone="Europe/Berlin")
    winter, summer = datetime(2026, 1, 10, tzinfo=UTC).timestamp(), datetime(2026, 7, 10, tzinfo=UTC).timestamp()
    assert [h for h in range(24) if berlin.active(winter + h * HOUR + 1, UTC)] == [1, 2, 3, 4]  # UTC+1
    assert [h for h in range(24) if berlin.active(summer + h * HOUR + 1, UTC)] == [0, 1, 2, 3]  # UTC+2


def test_a_holiday_window_covers_whole_dates():
    christmas = MuteWindow(start="00:00", end="24:00", dates=["2026-12-24", "2026-12-25"], timezone="UTC")
    eve = datetime(2026, 12, 24, tzinfo=UTC).timestamp()
    opened = [h for h in range(-24, 72) if christmas.active(eve + h * HOUR + 1)]
    assert opened == list(range(48))  # the two dates, every hour, not the days around them
    weekends = MuteWindow(start="00:00", end="24:00", days=["sat", "sun"], dates=["2026-12-24"], timezone="UTC")
    assert weekends.active(eve + 1) and weekends.active(SATURDAY + 1) and not weekends.active(eve + 24 * HOUR + 1)
    assert christmas.text() == "2026-12-24,2026-12-25 00:00-24:00 UTC *"


def test_muted_alerts_notify_when_the_window_ends_if_still_firing():
    window = MuteWindow(start="02:00", end="03:00", select="table1", comment="bakeout")
    engine = RulesEngine((rule(for_=0.0),), mute_windows=(window,))
    engine.tz = UTC
    assert feed(engine, [0.9], start=SATURDAY + 2 * HOUR) == []
    assert engine.notes == [("unlocked", SERIES, "muted", "by the mute window daily 02:00-03:00 table1 (bakeout)")]
    assert engine.muted == {("unlocked", SERIES): window.text()}
    alerts = feed(engine, [0.9] * 70, start=SATURDAY + 2 * HOUR + MINUTE)
    assert states(alerts) == [(59, "firing", 0)]  # at 03:00, still firing: now it is news
    assert engine.muted == {}


def test_an_alert_that_clears_inside_the_window_says_nothing():
    engine = RulesEngine((rule(for_=0.0),), mute_windows=(MuteWindow(start="02:00", end="03:00"),))
    engine.tz = UTC
    assert feed(engine, [0.9] * 10 + [0.1] * 60, start=SATURDAY + 2 * HOUR) == []


@pytest.mark.parametrize(
    ("window", "complaint"),
    [
        ('start = "2am"\nend = "06:00"', "[collector.mute_windows[0]] start: '2am' is not a time of day"),
        ('start = "02:00"\nend = "24:01"', "end: '24:01' is not a time of day"),
        ('start = "24:00"\nend = "02:00"', "start: '24:00' is not a time of day"),
        ('start = "02:00"\nend = "06:00"\ndates = ["24.12.2026"]', "dates: '24.12.2026' is not a date"),
        ('start = "02:00"\nend = "06:00"\ntimezone = "Mars/Olympus"', "timezone: 'Mars/Olympus' is not a known"),
        ('start = "02:00"\nend = "02:00"', "end: the window is empty"),
        ('start = "02:00"\nend = "06:00"\ndays = ["saturday"]', "days: 'saturday' is not a day"),
        ('start = "02:00"\nend = "06:00"\nselect = "a//b"', "select: 'a//b' has an empty part"),
        ('start = "02:00"\nend = "06:00"\nevery = "week"', "every: unknown key"),
    ],
)
def test_labmon_check_explains_mute_window_mistakes(tmp_path, registry, window, complaint):
    text = problems(tmp_path, registry, COLLECTOR + f"[[collector.mute_windows]]\n{window}\n")
    assert complaint in text and "node.toml" in text


ALWAYS = [  # two windows that together cover every minute of every day
    {"start": "00:00", "end": "12:00", "select": "*/laser1", "comment": "bakeout"},
    {"start": "12:00", "end": "00:00", "select": "*/laser1", "comment": "bakeout"},
]


def test_status_shows_the_windows_in_force_and_the_muted_alerts(lab, broker, write_config, tmp_path, capsys):
    rules = [{"name": "hot", "select": "*/laser1/lock_error", "above": 0.01}]
    notifiers = {"console": {"type": "console"}}
    config = collector_table(broker, lab, notifiers=notifiers, rules=rules, mute_windows=ALWAYS)
    collector = started(write_config(config))
    path = str(tmp_path / "labmon.toml")
    try:
        collector.run_cycle(1)
        status = invoke("status", path)  # while it runs
        morning = datetime.now().hour < 12
    finally:
        collector.stop()
    assert status.exit_code == 0  # muted alerts are no warning, as silenced ones
    assert "FIRING" in status.output and "(muted)" in status.output
    listed = [line.strip() for line in status.output.splitlines() if line.strip().startswith(("IN FORCE", "daily"))]
    assert listed == [  # one of them is in force, whatever the time
        f"{'IN FORCE' if morning else ''} daily 00:00-12:00 */laser1 (bakeout)".strip(),
        f"{'' if morning else 'IN FORCE'} daily 12:00-00:00 */laser1 (bakeout)".strip(),
    ]
    assert "muted" in invoke("alerts", path).output
    assert "ALERT [warning] hot" not in capsys.readouterr().out
