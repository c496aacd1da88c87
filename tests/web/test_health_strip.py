"""The series page's strip of days: each of the last 7 local days' health under the rules that bound the series."""

from __future__ import annotations

import time
from pathlib import Path

from labmon.config import load_config
from labmon.plugins import Registry
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.events import EventLog
from labmon_collector.web.view import LabView
from tests.collector.healthkit import collector_config, write_history


def test_the_series_answer_carries_seven_days_of_health_per_rule(tmp_path: Path, registry: Registry) -> None:
    now = time.time()
    history = tmp_path / "history.sqlite"
    start = now - 2 * 86400
    write_history(
        history, {"t1/laser1/lock": lambda t: 2.0 if t < start + 3600 else 0.1}, [start + i * 300 for i in range(577)]
    )
    config = collector_config(
        tmp_path / "collector.toml",
        '[collector.notifiers.console]\ntype = "console"',
        f'[collector.sinks.history]\ntype = "sqlite"\npath = "{history}"',
        '[[collector.rules]]\nname = "lock"\nselect = "t1/laser1/lock"\nabove = 1.0',
        '[[collector.rules]]\nname = "stale"\nselect = "t1"\nstale = "10m"',  # no bound: no strip
        keys=f'data_dir = "{tmp_path}"',
    )
    settings = load_config(config, registry).collector
    assert settings is not None
    view = LabView(
        settings, AlertStore(tmp_path / "alerts.sqlite"), EventLog(tmp_path / "events.sqlite"), clock=lambda: now
    )
    answer = view.series("t1/laser1/lock", now - 3600, now)
    assert answer is not None
    [strip] = answer["health"]
    days = strip["days"]
    assert strip["rule"] == "lock" and len(days) == 7 and days[-1]["end"] == now
    assert days[0]["uptime"] == 0.0 and days[0]["unknown"] == days[0]["end"] - days[0]["start"]  # before the history
    assert sum(d["excursions"] for d in days) == 1 and max(d["longest"] or 0 for d in days) == 3600
    assert view.series("t1/laser1/lock", now - 3600, now)["health"] is answer["health"]  # not computed again
