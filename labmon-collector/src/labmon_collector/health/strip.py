"""The strip of days on a series page: each of the last 7 days' figures under each rule that bounds the series."""

from __future__ import annotations

from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from labmon.rule_config import RuleConfig
from labmon_collector.health.figures import figures, periods
from labmon_collector.health.report import watched
from labmon_collector.health.summaries import segments, step_of
from labmon_collector.history.reader import History, SeriesInfo

DAYS = 7
REFRESH = 600.0
"""Seconds a series' strip is shown before it is computed again (the page polls far more often)."""


class Strips:
    """Computes a series' strip of days when its page asks, at most every REFRESH seconds per series."""

    def __init__(self, rules: tuple[RuleConfig, ...], interval: float) -> None:
        self._rules = watched(rules)
        self._interval = interval
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def strip(self, history: History, info: SeriesInfo, now: float) -> list[dict[str, Any]]:
        """Return per rule selecting the series: its name and the last DAYS local days' figures, oldest first."""
        cached = self._cache.get(info.key)
        if cached is not None and now - cached[0] < REFRESH:
            return cached[1]
        zone = datetime.now().astimezone().tzinfo
        assert zone is not None
        since = datetime.fromtimestamp(now, zone).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        days = periods(since - (DAYS - 1) * 86400, now, zone, "day")[-DAYS:]
        found = []
        for rule in [r for r in self._rules if fnmatchcase(info.key, r.select)]:
            step = step_of(history, info.id, now, self._interval)
            line = segments(history, info.id, rule, days[0][0], now, step)
            shown = [
                {
                    "start": f.start, "end": f.end, "uptime": f.uptime, "out": f.out, "unknown": f.unknown,
                    "excursions": f.excursions, "longest": f.longest_excursion,
                }
                for f in figures(line, days, "day")
            ]  # fmt: skip
            found.append({"rule": rule.name, "days": shown})
        self._cache[info.key] = (now, found)
        return found
