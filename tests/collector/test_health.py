"""Lock health from a synthetic history: time within bounds, excursions, unknown time, per day and per week."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from labmon.rule_config import RuleConfig
from labmon_collector.alerting.conditions import level_holds
from labmon_collector.health.figures import excursions, figures, periods
from labmon_collector.health.report import health
from labmon_collector.health.timeline import BAD, GOOD, UNKNOWN, Segments, timeline
from labmon_collector.history.reader import History
from tests.collector.healthkit import collector_config, write_history
from tests.conftest import invoke

DAY = 86400.0
MONDAY = 1764547200.0  # 2025-12-01 00:00 UTC
STEP = 60.0
LOCK = RuleConfig(name="lock", select="t1/laser/lock", above=1.0)


def lock_value(t: float) -> float | None:
    """Out 10:00-10:30 on Monday and Tuesday 23:50 to Wednesday 00:20; errors Tuesday 13:53-14:03."""
    offset = t - MONDAY
    if 36000 <= offset < 37800 or DAY + 85800 <= offset < 2 * DAY + 1200:
        return 2.0
    if DAY + 50000 <= offset < DAY + 50600:
        return None
    return 0.5


STOPPED = (MONDAY + DAY + 14400, MONDAY + DAY + 21600)
"""Tuesday 04:00-06:00: the collector was stopped (then restarted: the sink closed and opened again)."""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("health") / "history.sqlite"
    times = [MONDAY + i * STEP for i in range(int(3 * DAY / STEP))]
    write_history(
        path,
        {"t1/laser/lock": lock_value, "t1/laser/piezo": lambda t: 3.0},
        [t for t in times if not STOPPED[0] <= t < STOPPED[1]],
        restart_at=STOPPED[1],
    )
    return path


def test_each_day_splits_time_within_out_and_unknown(lab: Path) -> None:
    history = History(lab)
    [item] = health(history, [LOCK], MONDAY, MONDAY + 3 * DAY, ZoneInfo("UTC"))
    history.close()
    monday, tuesday, wednesday = item.days
    assert (monday.good, monday.out, monday.unknown) == (DAY - 1800, 1800, 0)
    assert (monday.excursions, monday.longest_excursion) == (1, 1800)
    # the stop (2 h) and the error readings (10 min) are unknown, never good; the midnight excursion began Tuesday
    assert (tuesday.out, tuesday.unknown) == (600, 7200 + 600)
    assert tuesday.good == DAY - 600 - 7800
    assert (tuesday.excursions, tuesday.longest_excursion) == (1, 1800)
    assert tuesday.shortest_between == DAY + 85800 - 37800
    assert (wednesday.good, wednesday.out, wednesday.excursions) == (DAY - 1200, 1200, 0)
    [week] = item.weeks
    assert (week.excursions, week.out, week.unknown) == (2, 3600, 7800)
    assert week.uptime == pytest.approx((3 * DAY - 3600 - 7800) / (3 * DAY))


def reference(history: History, series: int, rule: RuleConfig, since: float, until: float) -> list[float]:
    """Return good, out and unknown seconds judged reading by reading (each standing for one step)."""
    times = [0.0, 0.0, 0.0]
    covered = 0.0
    for t, value, status, _ in history.readings(series, since - STEP + 1e-6, until):
        start, end = max(t, since), min(t + STEP, until)
        assert rule.above is not None
        times[UNKNOWN if status != "ok" else BAD if value is not None and value > rule.above else GOOD] += end - start
        covered += end - start
    times[UNKNOWN] += (until - since) - covered
    return times


def test_buckets_give_the_figures_the_readings_give(tmp_path: Path) -> None:
    rng = random.Random(5)
    spans = [(MONDAY + rng.uniform(0, 2 * DAY), rng.uniform(60, 3000), rng.random() < 0.3) for _ in range(25)]

    def value(t: float) -> float | None:
        for start, length, error in spans:
            if start <= t < start + length:
                return None if error else 1.5 + rng.random()
        return rng.random() * 0.9

    path = tmp_path / "h.sqlite"
    write_history(path, {"t1/laser/lock": value}, [MONDAY + i * STEP for i in range(int(2 * DAY / STEP))])
    history = History(path)
    [info] = history.series()
    since, until = MONDAY + 1234.0, MONDAY + 2 * DAY - 777.0  # not on any bucket's edge
    segments = timeline(history, info.id, LOCK, since, until, STEP)
    ours = [sum(e - s for s, e, state in segments if state == k) for k in (GOOD, BAD, UNKNOWN)]
    assert ours == pytest.approx(reference(history, info.id, LOCK, since, until), abs=1e-6)
    assert segments[0][0] == since and segments[-1][1] == until
    history.close()


def test_unknown_time_neither_ends_nor_lengthens_an_excursion() -> None:
    segments = [(0.0, 10.0, GOOD), (10.0, 20.0, BAD), (20.0, 50.0, UNKNOWN), (50.0, 60.0, BAD), (60.0, 100.0, GOOD)]
    [run] = excursions(segments)
    assert (run.start, run.end, run.out) == (10.0, 60.0, 20.0)


def test_days_of_a_daylight_saving_change_are_23_and_25_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = datetime(2026, 3, 29, tzinfo=berlin).timestamp()  # clocks go forward at 02:00
    days = periods(spring - DAY, spring + 23 * 3600 + DAY, berlin, "day")
    assert [e - s for s, e in days] == [DAY, 23 * 3600, DAY]
    autumn = datetime(2026, 10, 25, tzinfo=berlin).timestamp()  # clocks go back at 03:00
    assert [e - s for s, e in periods(autumn, autumn + DAY + 3600, berlin, "day")] == [25 * 3600]
    [week] = periods(spring, spring + 3600, berlin, "week")  # Sunday: the week began on Monday 23 March
    assert week == (spring, spring + 3600)  # clipped to the range asked for
    [day] = figures([(spring, spring + 23 * 3600, GOOD)], periods(spring, spring + 23 * 3600, berlin, "day"), "day")
    assert day.uptime == 1.0


def test_report_command_reads_a_history_file_or_a_config(lab: Path, tmp_path: Path) -> None:
    since, until = "2025-12-01T00:00+00:00", "2025-12-04T00:00+00:00"
    shown = invoke("report", str(lab), "--since", since, "--until", until, "--above", "1", "--json")
    assert shown.exit_code == 0, shown.output
    found = {item["series"]: item for item in json.loads(shown.output)}
    assert found["t1/laser/lock"]["weeks"][0]["excursions"] == 2
    assert found["t1/laser/piezo"]["weeks"][0]["out_fraction"] == pytest.approx(1 - 7200 / (3 * DAY))  # but the stop
    config = collector_config(
        tmp_path / "collector.toml",
        '[collector.notifiers.console]\ntype = "console"',
        f'[collector.sinks.history]\ntype = "sqlite"\npath = "{lab}"',
        '[[collector.rules]]\nname = "lock"\nselect = "t1/laser/lock"\nabove = 1.0',
    )
    table = invoke("report", str(config), "--since", since, "--until", until, "--csv", "--tz", "UTC")
    assert table.exit_code == 0, table.output
    rows = table.output.splitlines()
    assert rows[0].startswith("rule,series,period") and len(rows) == 1 + 1 + 3  # a week and three days
    assert rows[2].startswith("lock,t1/laser/lock,day,2025-12-01")
    text = invoke("report", str(config), "--since", since, "--until", until, "--tz", "UTC")
    assert "week 2025-W49" in text.output and "Tue 2025-12-02" in text.output


def test_report_explains_what_is_missing(lab: Path) -> None:
    bare = invoke("report", str(lab))
    assert bare.exit_code == 2 and "give a bound with --above" in bare.output
    zone = invoke("report", str(lab), "--above", "1", "--tz", "Mars/Olympus")
    assert zone.exit_code == 2 and "not a time zone" in zone.output


def test_hysteresis_keeps_an_excursion_until_the_value_passes_clear(tmp_path: Path) -> None:
    levels = [0.5] * 10 + [1.3] * 5 + [1.1] * 5 + [0.9] * 5 + [1.1] * 5  # one reading a minute
    path = tmp_path / "h.sqlite"
    write_history(
        path, {"t1/laser/lock": lambda t: levels[int((t - MONDAY) // STEP)]}, [MONDAY + i * STEP for i in range(30)]
    )
    history = History(path)
    [info] = history.series()
    rule = RuleConfig(name="lock", select="t1/laser/lock", above=1.2, clear=1.0)
    segments = timeline(history, info.id, rule, MONDAY, MONDAY + 30 * STEP, STEP)
    history.close()
    assert segments == [
        (MONDAY, MONDAY + 600, GOOD),
        (MONDAY + 600, MONDAY + 1200, BAD),
        (MONDAY + 1200, MONDAY + 1800, GOOD),
    ]


def judged_in_python(
    history: History, series: int, rule: RuleConfig, since: float, until: float, step: float
) -> list[tuple[float, float, int]]:
    """Return the timeline as the first version judged it, a window or a reading at a time in plain Python.

    A complete two-hour (each of its ten-minute ones about complete), else ten-minute, bucket settles its window
    when all its values are on one side
    whatever came before; elsewhere each reading stands until the next within 1.5 steps (else one step), even
    one past the window.
    """
    out = Segments(since)
    for window in range(int(since // 7200 * 7200), math.ceil(until), 7200):
        state = settled(history, series, rule, 7200, window, since, until, step)
        if state is not None:
            out.add(window, window + 7200, state)
            continue
        for part in range(max(window, int(since // 600 * 600)), min(window + 7200, math.ceil(until)), 600):
            lo, hi = max(part, since), min(part + 600, until)
            state = settled(history, series, rule, 600, part, since, until, step)
            if state is not None:
                out.add(lo, hi, state)
                continue
            rows = history.readings(series, lo - 1.5 * step, hi + 1.5 * step)
            for i, (t, value, status, _) in enumerate(rows):
                following = rows[i + 1][0] if i + 1 < len(rows) else math.inf
                start, end = max(t, lo), min(following if following - t <= 1.5 * step else t + step, hi)
                if end > start:
                    known = status == "ok" and value is not None
                    holds = known and level_holds(rule, value, out.active)
                    out.add(start, end, UNKNOWN if not known else BAD if holds else GOOD)
    out.add(out.end, until, UNKNOWN)
    return out.items


def settled(
    history: History, series: int, rule: RuleConfig, width: int, window: int, since: float, until: float, step: float
) -> int | None:
    """Return GOOD or BAD if a complete bucket settles the window whatever came before it, else None."""
    rows = history.query("SELECT n, min, max FROM buckets WHERE series = ? AND width = ? AND start = ?",
                         (series, width, window))  # fmt: skip
    marks = history.query("SELECT value FROM history_meta WHERE key = ?", (f"buckets_through_{width}",))
    mark = marks[0][0] if marks else -math.inf
    found = rows[0] if rows else None
    if found is None or window < since or window + width > min(until, mark) or found[0] * step < width - step / 2:
        return None
    if width == 7200:  # each ten-minute bucket there, about full: a count made up by denser readings hides no outage
        parts = history.query(
            "SELECT n FROM buckets WHERE series = ? AND width = 600 AND start >= ? AND start < ?",
            (series, window, window + width),
        )
        if len([n for (n,) in parts if n * step >= 600 - 1.5 * step]) < 12:
            return None
    values = [
        found[1],
        found[2],
        *([rule.clear] if rule.clear is not None and found[1] <= rule.clear <= found[2] else []),
    ]
    states = {level_holds(rule, v, active) for v in values for active in (False, True)}
    return None if len(states) > 1 else BAD if states.pop() else GOOD


@pytest.mark.parametrize(
    "rule",
    [
        RuleConfig(name="lock", select="*", above=1.0),
        RuleConfig(name="lock", select="*", above=1.0, clear=0.3),
        RuleConfig(name="low", select="*", below=0.1, clear=0.6),
        RuleConfig(name="band", select="*", outside=[0.05, 0.95]),
    ],
)
def test_the_timeline_is_the_one_its_readings_give(rule: RuleConfig, jittery_lab: Path) -> None:
    history = History(jittery_lab)
    [info] = history.series()
    for since, until in [(MONDAY, MONDAY + 2 * DAY), (MONDAY + 1234.5, MONDAY + 2 * DAY - 777.25)]:
        ours = timeline(history, info.id, rule, since, until, STEP)
        assert ours == judged_in_python(history, info.id, rule, since, until, STEP)
    history.close()


@pytest.fixture(scope="module")
def jittery_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of one series a minute (times off by up to 2 s): excursions, values between bound and clear,
    error bursts, readings dropped here and there and a restart gap."""
    rng = random.Random(11)
    spans = [
        (MONDAY + rng.uniform(0, 2 * DAY), rng.uniform(60, 2400), rng.choice(["out", "err", "mid"])) for _ in range(30)
    ]

    def value(t: float) -> float | None:
        for start, length, kind in spans:
            if start <= t < start + length:
                return None if kind == "err" else 1.2 + rng.random() if kind == "out" else 0.3 + 0.6 * rng.random()
        return 0.2 + 0.1 * rng.random()

    times = [MONDAY + i * STEP + rng.uniform(-2, 2) for i in range(int(2 * DAY / STEP)) if rng.random() > 0.01]
    path = tmp_path_factory.mktemp("jittery") / "history.sqlite"
    stop = (MONDAY + 0.6 * DAY, MONDAY + 0.7 * DAY)
    write_history(path, {"t1/laser/lock": value}, [t for t in times if not stop[0] <= t < stop[1]], restart_at=stop[1])
    return path


def test_times_near_zero_are_read_as_digits(tmp_path: Path) -> None:
    """Times from 0 (a clock not set): no tick holds them all, so they travel as 17 digits; the same timeline."""
    rng = random.Random(3)
    path = tmp_path / "h.sqlite"
    values = [None if rng.random() < 0.05 else 2.0 if rng.random() < 0.2 else 0.5 for _ in range(300)]
    write_history(path, {"t1/laser/lock": lambda t: values[int(t // STEP)]}, [i * STEP + 0.123 for i in range(300)])
    history = History(path)
    [info] = history.series()
    ours = timeline(history, info.id, LOCK, 0.0, 300 * STEP, STEP)
    assert ours == judged_in_python(history, info.id, LOCK, 0.0, 300 * STEP, STEP)
    assert {state for _, _, state in ours} == {GOOD, BAD, UNKNOWN}
    history.close()


def test_readings_ten_minutes_apart_judged_as_in_python(tmp_path: Path) -> None:
    """A reading every 10 minutes: a reading may stand in two stretches (they are a window apart), each judges it."""
    rng = random.Random(8)
    path = tmp_path / "h.sqlite"
    values = [None if rng.random() < 0.1 else 2.0 if rng.random() < 0.3 else 0.5 for _ in range(300)]
    times = [MONDAY + i * 600.0 + rng.uniform(-5, 5) for i in range(300)]
    write_history(path, {"t1/laser/lock": lambda t: values[round((t - MONDAY) / 600.0)]}, times)
    history = History(path)
    [info] = history.series()
    since, until = MONDAY + 1000.0, MONDAY + 290 * 600.0
    ours = timeline(history, info.id, LOCK, since, until, 600.0)
    assert ours == judged_in_python(history, info.id, LOCK, since, until, 600.0)
    assert {state for _, _, state in ours} == {GOOD, BAD, UNKNOWN}
    history.close()
