"""The overview tiles' badges: each watched series' lock uptime and excursions over the last 7 days.

Computed in a thread of their own every REFRESH seconds, never while a page waits: a lab's week of many
series takes seconds, and the overview is polled every few.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from labmon.rule_config import RuleConfig
from labmon_collector.health.figures import figures
from labmon_collector.health.report import watched
from labmon_collector.health.summaries import segments, step_of
from labmon_collector.history.reader import History

log = logging.getLogger(__name__)

WEEK = 7 * 86400.0
REFRESH = 600.0
"""Seconds between two computations of every badge (a bucket window: the figures move little in between)."""
STALE = 2 * REFRESH
"""Seconds after the last computation that a failing one leaves the badges shown before it hides them."""


def badges(
    history: History, rules: list[RuleConfig], now: float, interval: float, stop: threading.Event | None = None
) -> dict[str, dict[str, Any]]:
    """Return, per watched series, its figures over the 7 days to `now` under the rule it fared worst by (those
    computed before `stop` is set)."""
    found: dict[str, dict[str, Any]] = {}
    stored = history.series()
    for rule in rules:
        for info in [s for s in stored if fnmatchcase(s.key, rule.select)]:
            if stop is not None and stop.is_set():
                return found
            step = step_of(history, info.id, now, interval)
            [week] = figures(segments(history, info.id, rule, now - WEEK, now, step), [(now - WEEK, now)], "week")
            badge = {
                "rule": rule.name, "since": week.start, "until": week.end, "uptime": week.uptime, "out": week.out,
                "unknown": week.unknown, "excursions": week.excursions, "longest": week.longest_excursion,
            }  # fmt: skip
            if info.key not in found or badge["uptime"] < found[info.key]["uptime"]:
                found[info.key] = badge
    return found


class Badges:
    """Keeps every watched series' badge, computed again every REFRESH seconds in a daemon thread."""

    def __init__(
        self, rules: tuple[RuleConfig, ...], interval: float, path: Path | None, clock: Callable[[], float]
    ) -> None:
        self._rules = watched(rules)
        self._interval = interval
        self._path = path
        self._clock = clock
        self._shown: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def get(self, series: str) -> dict[str, Any] | None:
        """Return the series' badge as last computed (None: not watched, or not computed yet); start the thread."""
        with self._lock:
            if self._thread is None and self._rules and self._path is not None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="labmon-badges", daemon=True)
                self._thread.start()
        return self._shown.get(series)

    def close(self) -> None:
        """Stop the thread (after the series it is on)."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(30)

    def _run(self) -> None:
        assert self._path is not None
        history: History | None = None
        computed = time.monotonic()
        while not self._stop.is_set():
            try:
                if history is None and self._path.exists():
                    history = History(self._path)
                if history is not None:
                    found = badges(history, self._rules, self._clock(), self._interval, self._stop)
                    if not self._stop.is_set():
                        self._shown, computed = found, time.monotonic()  # swapped whole
            except Exception:  # a bad moment of the file (or a bug) must not end them for good
                log.exception("the overview's health badges could not be computed; trying again")
                if time.monotonic() - computed > STALE:
                    self._shown = {}  # none rather than a week's figures this old shown as the last 7 days'
            self._stop.wait(REFRESH if history is not None else 5.0)
        if history is not None:
            history.close()
