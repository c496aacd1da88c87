"""What the pages show, as JSON-ready dicts: read from the collector's own files and, when live, its memory."""

from __future__ import annotations

import fnmatch
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from labmon.config import CollectorConfig
from labmon.models import WHOLE_INSTRUMENT
from labmon.rule_config import ALONE, RuleConfig
from labmon.times import parse_duration
from labmon_collector.alerting.alertstore import Ack, AlertStore, SeriesState, Silence
from labmon_collector.alerting.events import EventLog
from labmon_collector.diskalarm import FREE, WRITES
from labmon_collector.health.badges import Badges
from labmon_collector.health.strip import Strips
from labmon_collector.history.reader import History, Plot, SeriesInfo
from labmon_collector.history.writer import HistoryConfig
from labmon_collector.report import mute_windows

PAGE_EVENTS, MAX_EVENTS = 100, 10_000
"""Alert history rows per page, and at most in one answer."""
STATE_ORDER = ("offline", "firing", "silenced", "error", "missing", "pending", "ok")
"""A tile shows the first of these that applies."""
DISK_ABOUT = (
    "A collector's own data disk (writes refused, free space): watched, not stored in the history, so there is"
    " nothing to plot. Its alert is in the alert table; `labmon status` says the free space now."
)


def history_path(settings: CollectorConfig) -> Path | None:
    """Return the file of the first `sqlite` sink, the history the page plots."""
    return next((e.config.path for e in settings.sinks if isinstance(e.config, HistoryConfig)), None)


class LabView:
    """The collector's state, alert history and history store, shaped for the page."""

    def __init__(
        self,
        settings: CollectorConfig,
        store: AlertStore,
        events: EventLog,
        states: Callable[[], dict[tuple[str, str], SeriesState]] | None = None,
        status: Callable[[], dict[str, str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._nodes = set(settings.failover.order) if settings.failover else {ALONE}
        """The collectors whose data disks the `disk` rule watches (NODE/disk/...)."""
        self.store = store
        self.events = events
        self._states = states or (lambda: store.load()[0])
        self._status = status
        self.clock = clock
        path = history_path(settings)
        self._history_path = path
        self._history: History | None = None
        self._lock = threading.Lock()
        self._epoch = secrets.token_hex(4)
        """Names this process's versions: a client's version from before a restart means nothing now."""
        self._version = 0
        self._shown: dict[str, tuple[int, dict[str, Any]]] = {}
        """Each tile as last sent, with the version at which it last changed."""
        self._sparks: dict[int, tuple[float | None, list[list[Any]]]] = {}
        self.strips = Strips(settings.rules, settings.interval)
        self.badges = Badges(settings.rules, settings.interval, path, clock)

    @property
    def history(self) -> History | None:
        """Return the history, opened once the sink has created it."""
        if self._history is None and self._history_path is not None and self._history_path.exists():
            self._history = History(self._history_path)
        return self._history

    def meta(self) -> dict[str, Any]:
        """Return the page's settings."""
        return {"interval": self.settings.interval, "measurers": [m.name for m in self.settings.measurers]}

    def collector(self) -> dict[str, Any]:
        """Return when the collector last finished a cycle, whether it stopped, whether the page may be stale, the
        measurers' clock offsets that matter and, for a pair, this collector's role."""
        now, facts = self.clock(), self.store.facts()
        last, stopped = facts.get("last_cycle_at"), facts.get("stopped_at")
        if last is None and self.history is not None:  # a collector that has not cycled yet: the history's last
            last = self.history.latest_cycle()
        # Two intervals without a cycle: the readings on the page may no longer be what the lab does.
        late = last is None or now - float(last) > (2 + self.store.lag()) * self.settings.interval
        return {
            "last_cycle_at": last,
            "stopped_at": stopped,
            "interval": self.settings.interval,
            "stale": stopped is not None or late,
            "clock_offsets": facts.get("clocks") or {},
            "failover": facts.get("failover"),
            "resent": facts.get("resent") or {},
        }

    def overview(self, since: str = "") -> dict[str, Any]:
        """Return the tiles that changed since the poll that answered `since` ("epoch:version"), or all of them."""
        now, collector = self.clock(), self.collector()
        tiles = self._tiles(collector["stale"])
        with self._lock:
            for tile in tiles:
                known = self._shown.get(tile["series"])
                if known is None or known[1] != tile:
                    self._version += 1
                    self._shown[tile["series"]] = (self._version, tile)
            keys = [tile["series"] for tile in tiles]
            epoch, _, version = since.partition(":")
            full = epoch != self._epoch or not version.isdigit() or int(version) > self._version
            after = 0 if full else int(version)
            changed = [self._shown[key][1] for key in keys if self._shown[key][0] > after]
            token = f"{self._epoch}:{self._version}"
        return {"now": now, "collector": collector, "since": token, "full": full, "keys": keys, "tiles": changed}

    def _tiles(self, stale: bool) -> list[dict[str, Any]]:
        """Return one tile per series: latest value, time, state and sparkline."""
        history = self.history
        if history is None:
            return []
        states, silences, status = self._states(), self.store.silences(self.clock()), self.measurer_status(stale)
        latest = history.latest_cycle() or 0.0
        every = history.series()
        # An instrument that could not be read at all stores one error reading named "*": show it on its readings.
        whole = {_instrument(s.key): s for s in every if _is_whole(s.key)}
        readable = {_instrument(s.key) for s in every if not _is_whole(s.key)}
        shown = [s for s in every if not _is_whole(s.key) or _instrument(s.key) not in readable]
        active: dict[str, list[str]] = {}
        for (_, series), state in states.items():
            if state.state != "inactive":
                silenced = state.state == "firing" and any(s.covers(series) for s in silences)
                active.setdefault(series, []).append("silenced" if silenced else state.state)
        tiles = []
        for info in shown:
            if info.measurer not in status:
                continue
            failed = whole.get(_instrument(info.key))
            if failed is not None and failed is not info and (failed.last_at or 0) > (info.last_at or 0):
                info = replace(info, last_status="error", last_error=failed.last_error, last_at=failed.last_at)
            flags = dict.fromkeys(active.get(info.key, []) + active.get(info.measurer, []), True)
            flags["offline"] = status[info.measurer] == "offline"
            flags["error"] = info.last_status == "error"
            flags["missing"] = info.last_at is not None and info.last_at < latest - 0.5 * self.settings.interval
            tiles.append(
                {
                    "series": info.key,
                    "measurer": info.measurer,
                    "unit": info.unit,
                    "value": info.last_value,
                    "at": info.last_at,
                    "error": info.last_error,
                    "state": next((s for s in STATE_ORDER if flags.get(s)), "ok"),
                    "spark": self._spark(history, info),
                    "health": self.badges.get(info.key),
                }
            )
        return tiles

    def _spark(self, history: History, info: SeriesInfo) -> list[list[Any]]:
        """Return a series' sparkline, read again only when the series has a new reading."""
        cached = self._sparks.get(info.id)
        if cached is None or cached[0] != info.last_at:
            spark = history.recent(info.id)
            cached = self._sparks[info.id] = (info.last_at, [spark.t, spark.mean])
        return cached[1]

    def alerts(self) -> dict[str, Any]:
        """Return the alerts that are pending or firing, and the silences in force."""
        now = self.clock()
        silences, acks, escalated = self.store.silences(now), self.store.acks(), self.store.escalated()
        held = {(rule, series): why for rule, series, why in self.store.facts().get("held_back", [])}
        windows = [w for w in self.settings.mute_windows if w.active(now)]
        active = [
            {
                "rule": rule,
                "series": series,
                "state": state.state,
                "since": state.since,
                "value": state.last_value,
                "unit": state.unit,
                "threshold": thresholds(self._rule(rule), series),
                "silenced": any(s.covers(series) for s in silences),
                "acknowledged": acks[rule, series].text() if (rule, series) in acks else None,
                "latched": state.state == "firing" and state.cleared_since is not None and _latches(self._rule(rule)),
                "held_back": held.get((rule, series)),
                "muted": any(w.covers(series) for w in windows),
                "escalated": (rule, series) in escalated,
            }
            for (rule, series), state in sorted(self._states().items())
            if state.state != "inactive"
        ]
        silenced = [asdict(s) for s in silences]
        return {"now": now, "active": active, "silences": silenced, "mute_windows": mute_windows(self.settings, now)}

    def history_events(self, query: dict[str, str]) -> dict[str, Any]:
        """Return the newest `limit` events matching `rule`, `series` and `since` (a duration), and how many match."""
        since = self.clock() - parse_duration(query.get("since") or "30d")
        limit = query.get("limit", "")
        count = min(int(limit), MAX_EVENTS) if limit.isascii() and limit.isdigit() else PAGE_EVENTS
        rule, series = query.get("rule", ""), query.get("series", "")
        found = self.events.query(since=since, rule=rule, series=series, limit=count)
        total = self.events.count(since=since, rule=rule, series=series)
        return {"events": [asdict(e) for e in found], "total": total}

    def series(self, key: str, since: float, until: float) -> dict[str, Any] | None:
        """Return one series' plot with its rules' thresholds and firing periods; None if no such series."""
        history = self.history
        found = [s for s in history.series() if s.key == key] if history is not None else []
        if history is None:
            return None
        if not found:
            # an instrument or a measurer (an alert on a whole instrument links here): the series under it
            below = [s.key for s in history.series(f"{key}/*")]
            if below:
                return {"series": key, "now": self.clock(), "children": below}
            node, _, watched = key.partition("/")
            if watched in (WRITES, FREE) and node in self._nodes:  # a `disk` alert links here (not a measurer's)
                return {"series": key, "now": self.clock(), "about": DISK_ABOUT}
            return None
        plot: Plot = history.plot(found[0].id, since, until)
        lines = [
            {"rule": rule.name, "value": value}
            for rule in self.settings.rules
            if fnmatch.fnmatchcase(key, rule.select)
            for value in thresholds(rule, key)
        ]
        firing = [
            {"rule": rule, "start": start, "end": end}
            for rule, start, end in self.events.firing_periods(key, since)
            if end is None or end >= since
        ]
        return {
            "series": key,
            "now": self.clock(),
            "unit": found[0].unit,
            "since": since,
            "until": until,
            "resolution": plot.resolution,
            # raw readings have no min and max of their own: half the bytes
            "data": [plot.t, plot.mean, plot.low, plot.high] if plot.bucketed else [plot.t, plot.mean],
            "thresholds": lines,
            "firing": firing,
            "health": self.strips.strip(history, found[0], self.clock()),
        }

    def measurers(self) -> dict[str, Any]:
        """Return each polled measurer: status, last answer, answered and missing counts, broker."""
        counts = {c.name: c for c in self.history.measurers()} if self.history is not None else {}
        rows, collector = [], self.collector()
        status = self.measurer_status(collector["stale"])
        for ref in self.settings.measurers:
            c = counts.get(ref.name)
            rows.append(
                {
                    "name": ref.name,
                    "status": status[ref.name],
                    "last_answer": c.last_answer if c else None,
                    "answered": c.answered if c else 0,
                    "missing": c.missing if c else 0,
                    "broker": f"{ref.broker.host}:{ref.broker.port}",
                }
            )
        return {"now": self.clock(), "collector": collector, "measurers": rows}

    def measurer_status(self, stale: bool | None = None) -> dict[str, str]:
        """Return online/offline per measurer: its own status message when live, its last answer otherwise.

        With the collector stopped or late, nobody asks the measurers: unknown, not offline.
        """
        if stale is None:
            stale = self.collector()["stale"]
        live = self._status() if self._status is not None else {}
        counts = {c.name: c for c in self.history.measurers()} if self.history is not None else {}
        now, status = self.clock(), {}
        for ref in self.settings.measurers:
            if ref.name in live:
                status[ref.name] = "online" if live[ref.name] == "online" else "offline"
                continue
            last = counts[ref.name].last_answer if ref.name in counts else None
            if stale:
                status[ref.name] = "unknown"
                continue
            recent = last is not None and now - last <= 3 * self.settings.interval
            status[ref.name] = "online" if recent else "offline" if last is not None else "unknown"
        return status

    def add_silence(self, selector: str, duration: str, comment: str) -> Silence:
        """Silence `selector` for `duration` from now."""
        now = self.clock()
        ends = now + parse_duration(duration)
        silence_id = self.store.add_silence(selector, now, ends, comment)
        return Silence(silence_id, selector, now, ends, comment)

    def acknowledge(self, selector: str, by: str, comment: str) -> list[Ack]:
        """Acknowledge the firing alerts on series `selector` matches; the collector tells their notifiers."""
        return self.store.acknowledge(selector, by, comment, self.clock())

    def close(self) -> None:
        """Stop computing the tiles' health badges."""
        self.badges.close()

    def _rule(self, name: str) -> RuleConfig | None:
        return next((r for r in self.settings.rules if r.name == name), None)


def thresholds(rule: RuleConfig | None, series: str) -> list[float]:
    """Return the value thresholds `rule` draws on `series` (none for error, stale, offline and rate rules)."""
    if rule is None or not fnmatch.fnmatchcase(series, rule.select):
        return []
    values = [rule.above, rule.below, *(rule.outside or [])]
    return [v for v in values if v is not None]


def _latches(rule: RuleConfig | None) -> bool:
    return rule is not None and rule.latch


def _instrument(series: str) -> str:
    return series.rpartition("/")[0]


def _is_whole(series: str) -> bool:
    return series.endswith(f"/{WHOLE_INSTRUMENT}")
