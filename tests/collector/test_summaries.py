"""Health summaries kept as windows close give the timeline and figures the stored points give."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from labmon.config import CollectorConfig, load_config
from labmon.models import Batch, Reading, Result
from labmon.plugins import collect, get_plugin_manager
from labmon.rule_config import RuleConfig
from labmon.testing import wait_until
from labmon_collector.health import summaries
from labmon_collector.health.report import health
from labmon_collector.health.summaries import WIDTH, Summarizer, open_summaries, segments, step_of, summarize
from labmon_collector.health.timeline import timeline
from labmon_collector.history.reader import History
from labmon_collector.history.writer import HistoryConfig, HistorySink
from tests.collector.healthkit import collector_config, write_history

DAY = 86400.0
FRIDAY = 1774569600.0  # 2026-03-27 00:00 UTC; Berlin and London move their clocks on Sunday the 29th
STEP = 60.0
RULES = [
    RuleConfig(name="lock", select="t1/laser/*", above=1.0),
    RuleConfig(name="hyst", select="t1/laser/*", above=1.0, clear=0.3),
    RuleConfig(name="low", select="t1/laser/*", below=0.1, clear=0.6),
    RuleConfig(name="band", select="t1/laser/*", outside=[0.05, 0.95]),
]
CHANGED = [  # the same rules with other bounds: their summaries do not exist
    RuleConfig(name="hyst", select="t1/laser/*", above=1.0, clear=0.4),
    RuleConfig(name="lock", select="t1/laser/*", above=0.9),
]
W1, W2 = FRIDAY + 5 * WIDTH, FRIDAY + 9 * WIDTH
PLANTED = [  # windows that begin between bound and clear: after an excursion (out still), and after good readings
    (W1 - 1500, 900, "out"), (W1 - 600, 2400, "mid"), (W2 - 300, 1500, "mid"),
]  # fmt: skip
STOP = (FRIDAY + 1.3 * DAY + 1234, FRIDAY + 1.4 * DAY)
"""The collector stopped mid-window, then restarted (the sink closed and opened again)."""


def lab_values(seed: int) -> dict[str, Callable[[float], float | None]]:
    rng = random.Random(seed)
    spans = PLANTED + [
        (FRIDAY + rng.uniform(0, 3 * DAY), rng.uniform(60, 2400), rng.choice(["out", "err", "mid", "low"]))
        for _ in range(40)
    ]

    def value(t: float) -> float | None:
        for start, length, kind in spans:
            if start <= t < start + length:
                return {"err": None, "out": 1.2 + rng.random(), "mid": 0.3 + 0.6 * rng.random(), "low": 0.02}[kind]
        return 0.2 + 0.1 * rng.random()

    return {"t1/laser/lock": value, "t1/laser/piezo": lambda t: value(t + 3600)}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days a minute apart (times off by up to 2 s, a reading dropped here and there), a restart, then the
    summaries the collector writes as windows close."""
    rng = random.Random(4)
    times = [FRIDAY + i * STEP + rng.uniform(-2, 2) for i in range(int(3 * DAY / STEP)) if rng.random() > 0.01]
    path = tmp_path_factory.mktemp("summaries") / "history.sqlite"
    write_history(path, lab_values(4), [t for t in times if not STOP[0] <= t < STOP[1]], restart_at=STOP[1])
    return path


def settings(folder: Path, *tables: str) -> CollectorConfig:
    """Return a collector's settings with these TOML tables."""
    found = load_config(collector_config(folder / "c.toml", *tables), collect(get_plugin_manager())).collector
    assert found is not None
    return found


def summarise_all(path: Path, rules: list[RuleConfig], now: float) -> None:
    """Run the collector's summariser over the file until every window it would summarise is."""
    sink = f'[collector.sinks.h]\ntype = "sqlite"\npath = "{path}"'
    summarizer = Summarizer(settings(path.parent, sink), lambda: now)
    summarizer._rules = rules  # the config's own rules are not the point here
    history, db = History(path), open_summaries(path)
    while summarizer.catch_up(db, history, now):
        pass
    history.close()
    db.close()


@pytest.fixture(scope="module")
def summarised(lab: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("summarised") / "history.sqlite"
    with sqlite3.connect(lab) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    summarise_all(copy, RULES, FRIDAY + 3 * DAY)
    with sqlite3.connect(copy) as db:  # one window without a summary between two with: judged from the points
        db.execute("DELETE FROM health_summaries WHERE start = ?", (W1,))
    return copy


RANGES = [
    (FRIDAY, FRIDAY + 3 * DAY),
    (FRIDAY + 4 * WIDTH, FRIDAY + 2 * DAY),
    (FRIDAY + 1234.5, FRIDAY + 3 * DAY - 777.25),
    (W1 + 60, W2 + 7000),
    (W2 + 100, W2 + 200),
]


@pytest.mark.parametrize("rule", RULES + CHANGED, ids=lambda r: f"{r.name}{r.clear}{r.above}")
def test_the_summaries_give_the_timeline_the_points_give(rule: RuleConfig, lab: Path, summarised: Path) -> None:
    raw, history = History(lab), History(summarised)
    for info in history.series():
        for since, until in RANGES:
            ours = segments(history, info.id, rule, since, until, STEP)
            assert ours == segments(raw, info.id, rule, since, until, STEP)
            if since % WIDTH == until % WIDTH == 0:  # whole windows: the timeline of the range itself
                assert ours == timeline(raw, info.id, rule, since, until, STEP)
    history.close()
    raw.close()


def test_a_window_that_begins_in_the_band_is_as_the_one_before_ended(summarised: Path) -> None:
    history = History(summarised)
    [info] = history.series("t1/laser/lock")
    hyst = RULES[1]
    for start, was in ((W1, 1), (W2, 0)):  # after an excursion: still out; after good readings: within
        *_, (_, _, state) = segments(history, info.id, hyst, FRIDAY, start + 2, STEP)
        assert state == was
    history.close()


def test_the_summaries_are_read_and_cover_the_closed_windows(summarised: Path) -> None:
    history = History(summarised)
    info = history.series("t1/laser/lock")[0]
    rows = history.query("SELECT COUNT(DISTINCT start) FROM health_summaries", ())
    assert rows == [(3 * DAY // WIDTH - 1,)]  # every window with readings (the restart's too) but W1, deleted
    rule = RULES[1]
    assert step_of(history, info.id, FRIDAY + 2 * DAY, 60.0) == STEP
    before = segments(history, info.id, rule, FRIDAY, FRIDAY + 2 * DAY, STEP)
    history.close()
    with sqlite3.connect(summarised) as db:  # a summary said otherwise: the figures follow it (they are read)
        db.execute(
            "UPDATE health_summaries SET segments = ? WHERE series = ? AND start = ? AND bounds = ?",
            (f"{W2!r},{W2 + WIDTH!r},1", info.id, W2, summaries.key(rule)),
        )
    history = History(summarised)
    tampered = segments(history, info.id, rule, FRIDAY, FRIDAY + 2 * DAY, STEP)
    history.close()
    with sqlite3.connect(summarised) as db:
        db.execute("DELETE FROM health_summaries WHERE series = ? AND start = ?", (info.id, W2))
    assert tampered != before and any(s <= W2 and e >= W2 + WIDTH and state == 1 for s, e, state in tampered)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_the_report_is_the_same_with_and_without_summaries(zone: str, lab: Path, summarised: Path) -> None:
    reports = []
    for path in (lab, summarised):
        history = History(path)
        reports.append(health(history, RULES + CHANGED, FRIDAY + 999.0, FRIDAY + 3 * DAY, ZoneInfo(zone)))
        history.close()
    assert reports[0] == reports[1]
    assert any(f.excursions for item in reports[0] for f in item.days)


def test_a_batch_stored_after_its_window_was_summarised_is_counted(lab: Path, tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(lab) as source, sqlite3.connect(path) as target:
        source.backup(target)
    summarise_all(path, RULES[:1], FRIDAY + 3 * DAY)
    late = FRIDAY + 7 * WIDTH + 30.0  # a dead letter retried: between two readings of a summarised window
    sink = HistorySink(HistoryConfig(path=path))
    readings = (Reading("lock", 5.0, "V", instrument="laser"),)
    sink.write(Batch(99999, late, (Result("late", "t1", late, readings),)))
    sink.close()
    history = History(path)
    [info] = history.series("t1/laser/lock")
    ours = segments(history, info.id, RULES[0], FRIDAY, FRIDAY + 2 * DAY, STEP)
    assert ours == timeline(history, info.id, RULES[0], FRIDAY, FRIDAY + 2 * DAY, STEP)
    assert any(s <= late < e and state == 1 for s, e, state in ours)
    history.close()


def test_the_collector_summarises_windows_as_they_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries, "CHECK", 0.05)
    path = tmp_path / "history.sqlite"
    write_history(path, lab_values(9), [FRIDAY + i * STEP for i in range(int(0.5 * DAY / STEP))])
    rules = '[[collector.rules]]\nname = "lock"\nselect = "t1/laser/*"\nabove = 1.0\nclear = 0.3\n'
    sink = f'[collector.sinks.h]\ntype = "sqlite"\npath = "{path}"\nretention = "1d"\n'
    console = '[collector.notifiers.console]\ntype = "console"'
    summarizer = Summarizer(settings(tmp_path, console, sink, rules), lambda: FRIDAY + 0.5 * DAY)
    summarizer.start()
    history = History(path)
    query = "SELECT COUNT(DISTINCT start) FROM health_summaries"
    made = "SELECT 1 FROM sqlite_master WHERE name = 'health_summaries'"
    wait_until(lambda: history.query(made, ()) and history.query(query, ()) == [(5,)], 60, "the windows summarised")
    summarizer.close()
    assert not summarizer._thread or not summarizer._thread.is_alive()
    [info] = history.series("t1/laser/lock")
    rule = RuleConfig(name="lock", select="t1/laser/*", above=1.0, clear=0.3)
    until = FRIDAY + 0.5 * DAY
    ours = segments(history, info.id, rule, FRIDAY, until, STEP)
    assert ours == timeline(history, info.id, rule, FRIDAY, until, STEP)
    history.close()


def test_a_window_summarised_twice_keeps_one_row(summarised: Path) -> None:
    history, db = History(summarised), open_summaries(summarised)
    (before,) = history.query("SELECT COUNT(*) FROM health_summaries", ())
    summarize(db, history, RULES, FRIDAY, 60.0)
    assert history.query("SELECT COUNT(*) FROM health_summaries", ()) == [before]
    history.close()
    db.close()
