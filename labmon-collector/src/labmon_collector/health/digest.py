"""The weekly digest: the week's health of every watched series in one message, with a plot of the worst one."""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from labmon.config import CollectorConfig, DigestConfig
from labmon.models import Alert
from labmon.rule_config import RuleConfig
from labmon.times import format_duration
from labmon_collector.alerting.evidence import PLOT_KEY
from labmon_collector.alerting.pngplot import render
from labmon_collector.health.figures import Figures, figures
from labmon_collector.health.report import watched
from labmon_collector.health.summaries import segments, step_of
from labmon_collector.history.reader import History

log = logging.getLogger(__name__)
WEEK = 7 * 86400.0
SHOWN = 25
"""Series listed at the most, worst first; the message says how many more were all within bounds."""
DIGEST_RULE = "labmon-digest"


@dataclass(frozen=True)
class Line:
    """One series in the digest: this week's figures and last week's."""

    series: str
    rule: RuleConfig
    week: Figures
    before: Figures


@dataclass(frozen=True)
class Digest:
    """A built digest: its message and the PNG of its worst series (None when nothing is watched)."""

    alert: Alert
    png: bytes | None

    def payload(self) -> dict[str, Any]:
        """Return the outbox payload: the alert, its plot attached as an alert's is."""
        data = self.alert.to_dict()
        return data if self.png is None else {**data, PLOT_KEY: base64.b64encode(self.png).decode()}


def lines(history: History, rules: list[RuleConfig], until: float, interval: float) -> list[Line]:
    """Return every watched series' figures over the 7 days before `until` and the 7 before those, worst first."""
    found = []
    for rule in rules:
        for info in history.series(rule.select):
            step = step_of(history, info.id, until, interval)
            line = segments(history, info.id, rule, until - 2 * WEEK, until, step)
            before, week = figures(line, [(until - 2 * WEEK, until - WEEK), (until - WEEK, until)], "week")
            found.append(Line(info.key, rule, week, before))
    return sorted(found, key=lambda line: (line.week.uptime, -line.week.out))


def text(found: list[Line], until: float, tz: tzinfo) -> str:
    """Return the digest's message: a line per series (uptime, excursions, longest, change from last week)."""
    end = datetime.fromtimestamp(until, tz)
    head = f"labmon weekly digest: the 7 days to {end:%a %Y-%m-%d %H:%M} ({end:%Z})"
    if not found:
        return f"{head}\nno stored series is watched by a threshold or band rule"
    rows = [f"{'series':<36} {'uptime':>7} {'unknown':>7} {'exc.':>5} {'longest':>8} {'vs last week':>12}"]
    for line in found[:SHOWN]:
        week, before = line.week, line.before
        trend = _points(week.uptime - before.uptime) if before.good + before.out > 0 else "new"
        rows.append(
            f"{line.series:<36} {_percent(week.uptime):>7} {_percent(week.unknown / WEEK):>7} {week.excursions:>5}"
            f" {_longest(week.longest_excursion):>8} {trend:>12}"
        )
    rest = found[SHOWN:]
    if rest:
        rows.append(f"and {len(rest)} more, the worst at {_percent(rest[0].week.uptime)} uptime")
    return "\n".join([head, *rows, f"worst: {found[0].series} (plot of the week attached)"])


def build(settings: CollectorConfig, history_file: Path | None, until: float) -> Digest:
    """Return the digest of the week before `until` from the collector's history and rules."""
    zone = (settings.digest or DigestConfig()).zone()
    found: list[Line] = []
    png = None
    if history_file is not None and history_file.exists():
        history = History(history_file)
        try:
            found = lines(history, watched(settings.rules), until, settings.interval)
            if found:
                png = _plot(history, found[0], until)
        finally:
            history.close()
    message = text(found, until, zone)
    alert = Alert(DIGEST_RULE, "firing", "digest", message, severity="info", since=until, at=until)
    return Digest(alert, png)


def _plot(history: History, worst: Line, until: float) -> bytes:
    [info] = [s for s in history.series(worst.series) if s.key == worst.series]
    plot = history.plot(info.id, until - WEEK, until)
    bound = worst.rule.above if worst.rule.above is not None else worst.rule.below
    return render(list(zip(plot.t, plot.mean, strict=True)), until - WEEK, until, bound)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%" if fraction < 0.9995 or fraction == 1 else "99.9%"


def _points(change: float) -> str:
    return f"{change * 100:+.1f} pts" if abs(change) >= 0.0005 else "same"


def _longest(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


class Scheduler:
    """Builds the digest in a thread of its own when its time comes; the cycle picks it up when it is ready."""

    def __init__(
        self, settings: CollectorConfig, history_file: Path | None, last_sent: float | None, now: float
    ) -> None:
        assert settings.digest is not None
        self._settings, self._file, self._config = settings, history_file, settings.digest
        self.due = self._config.next_after(last_sent if last_sent is not None else now)
        """When the next digest goes out (a missed one, the collector stopped over it: at the first cycle)."""
        self._ready: list[Digest] = []
        self._lock = threading.Lock()
        self._building: threading.Thread | None = None

    def tick(self, now: float) -> list[Digest]:
        """Start building the digest if it is due; return the digests built since the last tick."""
        if now >= self.due and self._building is None:
            at = self.due
            self.due = self._config.next_after(now)
            self._building = threading.Thread(target=self._build, args=(min(at, now),), name="digest", daemon=True)
            self._building.start()
        with self._lock:
            ready, self._ready = self._ready, []
        if ready:
            self._building = None
        return ready

    def _build(self, until: float) -> None:
        try:
            digest = build(self._settings, self._file, until)
        except Exception:
            log.exception("the weekly digest could not be built")
            digest = Digest(
                Alert(DIGEST_RULE, "firing", "digest", "the weekly digest could not be built: see the collector's log",
                      severity="warning", since=until, at=until),
                None,
            )  # fmt: skip
        with self._lock:
            self._ready.append(digest)

    def targets(self, notifiers: list[str]) -> list[str]:
        """Return the notifiers the digest goes to."""
        return [n for n in notifiers if self._config.notifiers is None or n in self._config.notifiers]


def send_now(settings: CollectorConfig, digest: Digest) -> list[tuple[str, str | None]]:
    """Send `digest` through the digest's notifiers now (not through the outbox); return (name, error or None)."""
    chosen = (settings.digest or DigestConfig()).notifiers
    done: list[tuple[str, str | None]] = []
    for entry in settings.notifiers:
        if chosen is not None and entry.name not in chosen:
            continue
        try:
            notifier = entry.cls(entry.config)
            with_plot = getattr(notifier, "notify_with_plot", None)
            if digest.png is not None and with_plot is not None:
                with_plot(digest.alert, digest.png)
            else:
                notifier.notify(digest.alert)
            notifier.close()
        except Exception as exc:
            done.append((entry.name, str(exc) or type(exc).__name__))
        else:
            done.append((entry.name, None))
    return done
