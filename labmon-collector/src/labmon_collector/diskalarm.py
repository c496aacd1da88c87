"""The built-in `disk` alert: a warning when free space runs low, critical while the disk refuses writes."""

from __future__ import annotations

from dataclasses import dataclass

from labmon.models import Alert
from labmon.times import iso
from labmon_collector.disk import DiskHealth, free_bytes

RULE = "disk"
LOW = "collector/disk/free"
REFUSED = "collector/disk/writes"
HYSTERESIS = 1.05
"""A low-space warning resolves only above min_free by this factor: free space hovering at the bound is one alert."""


@dataclass(frozen=True)
class Reading:
    """What the data disk says this cycle."""

    free: int | None
    refused_since: float | None
    failing: tuple[str, ...]


class DiskAlarm:
    """Fires each of the two `disk` alerts once when its condition starts and resolves it once when it ends."""

    def __init__(self, health: DiskHealth, min_free: int, firing: dict[str, Alert] | None = None) -> None:
        self.health = health
        self.min_free = min_free
        self.firing: dict[str, Alert] = dict(firing or {})
        """The `disk` alerts firing now, by series (those a previous run left firing, at start: resolved, not
        fired again, by the first check that finds their condition over or still there)."""

    def check(self, now: float) -> list[Alert]:
        """Look at the disk; return the alerts that start or end now."""
        reading = Reading(free_bytes(self.health.directory), self.health.refused_since(), tuple(self.health.failing()))
        free, where = reading.free, self.health.directory
        room = "free space unknown" if free is None else f"{free} bytes free on {where}"
        low = free is not None and free < self.min_free * (HYSTERESIS if LOW in self.firing else 1.0)
        refused = reading.refused_since is not None
        changes: list[Alert] = []
        if refused != (REFUSED in self.firing):
            message = (
                f"history not stored since {iso(reading.refused_since)}, {room}"
                f" (the disk refuses writes to the {', '.join(reading.failing)}; notifications go out from memory)"
                if reading.refused_since is not None
                else f"history stored again, {room}"
            )
            changes.append(self._change(REFUSED, refused, message, "critical", free, now))
        if low != (LOW in self.firing):
            message = f"{room}, below min_free = {self.min_free} bytes" if low else f"{room} again"
            changes.append(self._change(LOW, low, message, "warning", free, now))
        return changes

    def _change(self, series: str, fires: bool, message: str, severity: str, free: int | None, now: float) -> Alert:
        started = self.firing.pop(series, None)
        alert = Alert(
            RULE,
            "firing" if fires else "resolved",
            series,
            message,
            severity=severity,
            value=None if free is None else float(free),
            unit="B",
            threshold=float(self.min_free) if series == LOW else None,
            since=now if started is None else started.since,
            at=now,
            labels={"kind": RULE},
        )
        if fires:
            self.firing[series] = alert
        return alert
