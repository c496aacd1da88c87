"""Alerts for one notifier raised together go out as one item: gathered per cycle, or for `group_wait`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labmon.models import Alert
from labmon_collector.alerting.conditions import lasted

SEVERITY = ("info", "warning", "critical")


class Grouper:
    """Holds each notifier's alerts from the first of a group until its `group_wait` has passed."""

    def __init__(self, waits: Mapping[str, float], tick: float = 0.0) -> None:
        self._waits = waits
        self._tick = tick
        self._pending: dict[str, tuple[float, list[Alert]]] = {}

    def add(self, notifier: str, alert: Alert, now: float) -> None:
        """Gather `alert` for `notifier`."""
        self._pending.setdefault(notifier, (now, []))[1].append(alert)

    def ready(self, now: float, *, everything: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """Return (notifier, outbox payload) for every group whose wait is over (all of them if `everything`)."""
        due = [
            name
            for name, (first, _) in self._pending.items()
            if everything or lasted(now - first, self._waits.get(name, 0.0), self._tick)
        ]
        return [(name, payload(self._pending.pop(name)[1])) for name in due]


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
