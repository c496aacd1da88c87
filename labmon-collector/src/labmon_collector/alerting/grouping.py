"""Alerts for one notifier raised together go out as one item: gathered per cycle, or for `group_wait`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from labmon.config import NotifierPolicy
from labmon.models import Alert
from labmon.rule_config import series_label
from labmon_collector.alerting.conditions import lasted

SEVERITY = ("info", "warning", "critical")


class Grouper:
    """Holds each notifier's alerts, per group (`group_by`), until `group_wait` after the first has passed, and
    `group_interval` after the group was last sent, as Alertmanager does."""

    def __init__(self, policies: Mapping[str, NotifierPolicy], tick: float = 0.0) -> None:
        self._lock = threading.Lock()
        """The cycle and a held cycle's release (another thread) gather and take at once."""
        self._policies = policies
        self._tick = tick
        self._pending: dict[tuple[str, tuple[str, ...]], tuple[float, list[Alert]]] = {}
        self._sent: dict[tuple[str, tuple[str, ...]], float] = {}

    def add(self, notifier: str, alert: Alert, now: float) -> None:
        """Gather `alert` for `notifier`, in the group its `group_by` labels make."""
        policy = self._policies.get(notifier, NotifierPolicy())
        key = (notifier, tuple(_label(alert, label) for label in policy.group_by or []))
        with self._lock:
            self._pending.setdefault(key, (now, []))[1].append(alert)

    def ready(self, now: float, *, everything: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """Return (notifier, outbox payload) for every group whose waits are over (all of them if `everything`)."""
        with self._lock:
            return self._ready(now, everything=everything)

    def _ready(self, now: float, *, everything: bool) -> list[tuple[str, dict[str, Any]]]:
        due = [key for key, (first, _) in self._pending.items() if everything or self._due(key, first, now)]
        for key in due:
            self._sent[key] = now
        for key in [key for key, at in self._sent.items() if key not in self._pending and not self._held(key, at, now)]:
            del self._sent[key]  # a quiet group starts afresh: its next alert waits group_wait only
        return [(key[0], payload(self._pending.pop(key)[1])) for key in due]

    def _due(self, key: tuple[str, tuple[str, ...]], first: float, now: float) -> bool:
        policy = self._policies.get(key[0], NotifierPolicy())
        last = self._sent.get(key)
        return lasted(now - first, policy.group_wait, self._tick) and (last is None or not self._held(key, last, now))

    def _held(self, key: tuple[str, tuple[str, ...]], last: float, now: float) -> bool:
        """Return whether a group sent at `last` is still inside its `group_interval`."""
        interval = self._policies.get(key[0], NotifierPolicy()).group_interval
        return interval > 0 and not lasted(now - last, interval, self._tick)


def _label(alert: Alert, label: str) -> str:
    if label == "rule":
        return alert.rule
    if label == "severity":
        return alert.severity
    return series_label(alert.series, label)


def payload(alerts: list[Alert]) -> dict[str, Any]:
    """Return what the outbox keeps: one alert as itself, several as {"message": title, "alerts": [...]}."""
    if len(alerts) == 1:
        return alerts[0].to_dict()
    return {"message": title(alerts), "alerts": [a.to_dict() for a in alerts]}


def title(alerts: list[Alert]) -> str:
    """Return a group's headline: "table3: 4 alerts" when they share a measurer, else "4 alerts"."""
    measurers = {a.series.split("/")[0] for a in alerts}
    where = f"{measurers.pop()}: " if len(measurers) == 1 else ""
    return f"{where}{len(alerts)} alerts"


def grouped_alert(alerts: list[Alert]) -> Alert:
    """Return one Alert that says all of `alerts`, for a notifier without `notify_group`."""
    worst = max(alerts, key=lambda a: SEVERITY.index(a.severity) if a.severity in SEVERITY else 1)
    lines = "\n".join(f"- [{a.state if a.state == 'resolved' else a.severity}] {a.rule}: {a.message}" for a in alerts)
    return Alert(
        rule=", ".join(dict.fromkeys(a.rule for a in alerts)),
        state="firing" if any(a.state == "firing" for a in alerts) else "resolved",
        series=alerts[0].series if len({a.series for a in alerts}) == 1 else title(alerts).partition(":")[0],
        message=f"{title(alerts)}\n{lines}",
        severity=worst.severity,
        since=min(a.since for a in alerts),
        at=max(a.at for a in alerts),
        labels={"grouped": str(len(alerts))},
    )


def deliver_group(notifier: Any, alerts: list[Alert]) -> None:
    """Hand a group to `notifier`: its own `notify_group(alerts)` if it has one, else one grouped Alert."""
    notify_group = getattr(notifier, "notify_group", None)
    if notify_group is not None:
        notify_group(alerts)
    else:
        notifier.notify(grouped_alert(alerts))
