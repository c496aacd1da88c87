"""A two-hour bucket settles its window only if it has no hole: readings denser than the range's step must not
make up for an outage (the report would say in bounds while nothing was read)."""

from __future__ import annotations

from pathlib import Path

from labmon.rule_config import RuleConfig
from labmon_collector.health.timeline import GOOD, UNKNOWN, timeline
from labmon_collector.history.reader import History
from tests.collector.healthkit import write_history

W = 1_800_000_000 - 1_800_000_000 % 7200
"""A two-hour window's start."""
SERIES = "t1/laser/lock_error"


def test_a_window_read_more_often_than_the_step_with_an_outage_in_it_is_not_settled(tmp_path: Path) -> None:
    # the window read every 30 s for 70 minutes, then the collector was down for 50; every 60 s before and after
    # (the range's step): 140 readings, more than a full window's 120 at that step
    before = [W - 7200 + i * 60 for i in range(120)]
    times = before + [W + i * 30 for i in range(140)] + [W + 7200 + i * 60 for i in range(1440)]
    write_history(tmp_path / "history.sqlite", {SERIES: lambda t: 0.1}, times)
    history = History(tmp_path / "history.sqlite")
    (info,) = history.series(SERIES)
    rule = RuleConfig(name="unlocked", select=SERIES, above=0.5)
    found = timeline(history, info.id, rule, W - 7200, W + 3 * 7200, 60.0)
    history.close()
    outage = (W + 139 * 30 + 60, W + 7200)  # the last reading stands for one step
    assert found == [
        (W - 7200, outage[0], GOOD),
        (outage[0], outage[1], UNKNOWN),
        (outage[1], W + 3 * 7200, GOOD),
    ]
