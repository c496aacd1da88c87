"""Many series judged together give each the timeline, step and readings it has alone: across gaps, a restart and
a change of interval."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import pytest

from labmon.rule_config import RuleConfig
from labmon_collector.health.report import health
from labmon_collector.health.summaries import (
    WIDTH,
    open_summaries,
    segments,
    segments_of,
    step_of,
    steps_of,
    summarize,
    window_steps,
)
from labmon_collector.health.timeline import UNKNOWN, timeline, timelines
from labmon_collector.history.reader import History
from tests.collector.healthkit import write_history

START = 1774569600.0 - 3000.0  # mid-window: the history's first window is partly before its first reading
HOURS = 10
STOP = (START + 4 * 3600 + 1234, START + 5 * 3600)
"""The collector stopped mid-window, then restarted."""
FASTER = START + 7 * 3600 + 600
"""From here on the lab is read every 30 s instead of every 60 s."""
RULES = [
    RuleConfig(name="lock", select="t*/laser/*", above=1.0),
    RuleConfig(name="hyst", select="t*/laser/*", above=1.0, clear=0.3),
    RuleConfig(name="band", select="t*/laser/*", outside=[0.05, 0.95]),
]


def values(seed: int) -> Callable[[float], float | None]:
    rng = random.Random(seed)
    spans = [(START + rng.uniform(0, HOURS * 3600), rng.uniform(60, 1800), rng.choice("om-e")) for _ in range(12)]

    def value(t: float) -> float | None:
        for start, length, kind in spans:
            if start <= t < start + length:
                return {"o": 1.5, "m": 0.6, "-": 0.02, "e": None}[kind]
        return 0.2

    return value


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six series (one beginning hours after the rest) read every minute, then every 30 s, a minute's jitter of a
    second, a reading dropped here and there, a restart; then each closed window summarised as the collector does."""
    rng = random.Random(3)
    times, t = [], START
    while t < START + HOURS * 3600:
        if not STOP[0] <= t < STOP[1] and rng.random() > 0.02:
            times.append(t + rng.uniform(-1, 1))
        t += 60.0 if t < FASTER else 30.0
    path = tmp_path_factory.mktemp("batched") / "history.sqlite"
    lab = {f"t{k}/laser/lock": values(k) for k in range(5)}
    late = values(9)
    lab["t9/laser/lock"] = lambda t: late(t) if t > START + 3 * 3600 else None
    write_history(path, lab, times, restart_at=STOP[1])
    history, db = History(path), open_summaries(path)
    start = START // WIDTH * WIDTH
    while start + WIDTH <= START + HOURS * 3600 - WIDTH:
        summarize(db, history, RULES, start, 60.0)
        start += WIDTH
    history.close()
    db.close()
    return path


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_the_timelines_of_many_series_are_each_ones_alone(rule: RuleConfig, lab: Path) -> None:
    history = History(lab)
    ids = [info.id for info in history.series()]
    steps = {s: (60.0, 30.0, 45.0)[k % 3] for k, s in enumerate(ids)}
    ranges = [(START - 777.0, START + HOURS * 3600), (STOP[0] - 100, STOP[1] + 100), (FASTER - 3000, FASTER + 999.5)]
    for since, until in ranges:
        many = timelines(history, rule, steps, since, until)
        assert many == {s: timeline(history, s, rule, since, until, steps[s]) for s in ids}
        assert any(state != UNKNOWN for line in many.values() for _, _, state in line)
        assert segments_of(history, rule, steps, since, until) == {
            s: segments(history, s, rule, since, until, steps[s]) for s in ids
        }
    history.close()


def test_the_steps_of_many_series_are_each_ones_alone(lab: Path) -> None:
    history = History(lab)
    ids = [info.id for info in history.series()]
    for until in (START + 600.0, STOP[0] + 60, STOP[1] + 1800, FASTER + 1200, START + HOURS * 3600):
        assert steps_of(history, ids, until, 99.0) == {s: step_of(history, s, until, 99.0) for s in ids}
        owner, times = history.times_before_each(ids, until, 200)
        for s in ids:
            assert times[owner == s].tolist() == sorted(history.times_before(s, until, 200))
    history.close()


def test_a_window_s_step_is_the_report_s_after_the_interval_changed(lab: Path, tmp_path: Path) -> None:
    history = History(lab)
    ids = [info.id for info in history.series()]
    later = window_steps(history, ids, FASTER // WIDTH * WIDTH + 2 * WIDTH, 60.0)
    assert set(later.values()) == {30.0}
    assert set(window_steps(history, ids, START // WIDTH * WIDTH + 2 * WIDTH, 60.0).values()) == {60.0}
    # a report now takes 30 s: the summaries of the windows read every minute (step 60) are not its own, and those
    # windows are judged from their points; the figures are the same either way
    until = START + HOURS * 3600
    assert steps_of(history, ids, until, 60.0) == dict.fromkeys(ids, 30.0)
    with sqlite3.connect(lab) as source, sqlite3.connect(tmp_path / "raw.sqlite") as target:
        source.backup(target)
        target.execute("DROP TABLE health_summaries")
    raw = History(tmp_path / "raw.sqlite")
    assert health(history, RULES, START, until, UTC) == health(raw, RULES, START, until, UTC)
    raw.close()
    history.close()


def test_windows_before_the_first_reading_get_no_row_and_the_late_series_none_before_its_own(lab: Path) -> None:
    history = History(lab)
    [late] = history.series("t9/*/*")
    rows = history.query("SELECT MIN(start), COUNT(DISTINCT start) FROM health_summaries WHERE series = ?", (late.id,))
    assert rows[0][0] >= (START + 3 * 3600) // WIDTH * WIDTH
    db = open_summaries(lab)
    assert summarize(db, history, RULES, START // WIDTH * WIDTH - WIDTH, 60.0) == 0
    db.close()
    # every series' summaries are read by a report (the steps agree): the first window's too
    steps = {s: 60.0 for s in [info.id for info in history.series()]}
    first = START // WIDTH * WIDTH
    stored = history.query("SELECT COUNT(*) FROM health_summaries WHERE start = ? AND step = 60.0", (first,))
    assert stored[0][0] == len(RULES) * (len(steps) - 1)
    history.close()


def test_the_last_readings_of_a_series_stopped_long_ago_are_its_own(tmp_path: Path) -> None:
    times = [START + i * 60.0 for i in range(600)]
    write_history(tmp_path / "h.sqlite", {"t1/laser/lock": lambda t: 0.2}, times[:90])  # stopped after 90 minutes
    write_history(tmp_path / "h.sqlite", {"t2/laser/lock": lambda t: 0.2}, times[90:])
    history = History(tmp_path / "h.sqlite")
    ids = [info.id for info in history.series()]
    owner, found = history.times_before_each(ids, times[-1] + 1, 200)
    for s in ids:
        assert found[owner == s].tolist() == sorted(history.times_before(s, times[-1] + 1, 200))
    assert [len(found[owner == s]) for s in ids] == [90, 200]
    history.close()


def test_a_window_read_at_two_spacings_far_apart_has_a_step(tmp_path: Path) -> None:
    end = START // WIDTH * WIDTH + 2 * WIDTH
    times = [end - 7000.0 + i * 60 for i in range(100)] + [end - 400.0, end - 390.0, end - 290.0]  # 10 s, then 100 s
    write_history(tmp_path / "h.sqlite", {"t1/laser/lock": lambda t: 0.2}, times)
    history = History(tmp_path / "h.sqlite")
    [info] = history.series()
    assert window_steps(history, [info.id], end, 60.0) == {info.id: 55.0}  # their median: no spacing near it
    history.close()


def test_a_report_from_summaries_is_the_raw_one_across_errors_retention_and_a_clock_change(tmp_path: Path) -> None:
    """Series with errors only, one stopped early, one in the band across window edges, a rule selecting none, the
    oldest readings deleted by retention after their windows were summarised (mid-window: the window's two-hour
    bucket and its count stay), days split in Berlin across its change to summer time."""
    from zoneinfo import ZoneInfo

    from labmon_collector.history.writer import HistoryConfig, HistorySink

    begin = 1774742400.0 - 5000.0  # 2026-03-29 00:00 UTC: Berlin moves its clocks an hour later
    times = [begin + i * 60.0 for i in range(10 * 60)]
    band = values(4)
    lab: dict[str, Callable[[float], float | None]] = {
        "t1/laser/lock": values(1),
        "t2/laser/lock": lambda t: None,  # only error readings
        "t3/laser/lock": lambda t: 0.2 if t < begin + 3600 else None,
        "t4/cav/lock": lambda t: 0.6 if int(t) % 2400 < 2000 else band(t),  # mostly between bound and clear
    }
    path = tmp_path / "h.sqlite"
    write_history(path, lab, times)
    rules = [
        *RULES,
        RuleConfig(name="none", select="zz/*/*", above=1.0),
        RuleConfig(name="hc", select="*/cav/*", above=1.0, clear=0.3),
    ]
    history, db = History(path), open_summaries(path)
    start = begin // WIDTH * WIDTH - WIDTH
    while start + WIDTH <= times[-1]:
        summarize(db, history, rules, start, 60.0)
        start += WIDTH
    db.close()
    assert history.query("SELECT COUNT(*) FROM health_summaries WHERE step = 60.0", ())[0][0] > 0
    sink = HistorySink(HistoryConfig(path=path))
    assert sink.apply_retention(begin + 2 * 3600 + 300) > 0
    sink.close()
    with sqlite3.connect(path) as source, sqlite3.connect(tmp_path / "raw.sqlite") as target:
        source.backup(target)
        target.execute("DROP TABLE health_summaries")
    raw, berlin = History(tmp_path / "raw.sqlite"), ZoneInfo("Europe/Berlin")
    for since, until in [(begin, times[-1] + 60), (begin + 7777.5, begin + 6 * 3600 + 10), (begin - 86400, begin)]:
        found = health(history, rules, since, until, berlin)
        assert found == health(raw, rules, since, until, berlin)
        assert {h.rule for h in found} == {"lock", "hyst", "band", "hc"}
    raw.close()
    history.close()
