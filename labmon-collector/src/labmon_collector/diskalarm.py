"""The `disk` rule's observations: this collector's data disk refusing writes, or running low on free space."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from labmon.rule_config import ALONE, RuleConfig, Severity, selector_covers
from labmon.times import iso
from labmon_collector.alerting.conditions import Observation
from labmon_collector.disk import DiskHealth
from labmon_collector.reserve import ROOM, Reserve

WRITES = "disk/writes"
FREE = "disk/free"
HYSTERESIS = 1.05
"""A low-space warning resolves only above min_free by this factor: free space hovering at the bound is one alert."""


def severities(rules: Iterable[RuleConfig]) -> Callable[[str, str], Severity]:
    """Return the severity of a rule's state on a series, as its alerts say it (the disk's early warning: warning)."""
    by_name = {rule.name: rule.severity for rule in rules}
    disk = {rule.name for rule in rules if rule.disk}

    def severity(rule: str, series: str) -> Severity:
        if rule in disk and series.endswith(f"/{FREE}"):
            return "warning"
        return by_name.get(rule, "warning")

    return severity


class DiskAlarm:
    """Looks at one collector's data disk for the rules engine; its series carry the collector's node name, so a
    pair's two disks are two alerts, each the business of its own collector."""

    def __init__(self, health: DiskHealth, min_free: int, node: str = ALONE, reserve: Reserve | None = None) -> None:
        self.health = health
        self.reserve = reserve
        """The alert store's room on the full disk: while some is spent, the disk is as full as when it was (what it
        gave back is taken by the other writes), and the `writes` alert holds until the disk has room for it again."""
        self.min_free = min_free
        self.node = node
        self.writes, self.free = f"{node}/{WRITES}", f"{node}/{FREE}"
        self._covers: dict[str, bool] = {}
        """Whether a disk rule's `select` covers this collector's node, by selector (judged once, not every cycle)."""
        self._full_at_start: bool | None = None
        """Whether the disk refused writes at this run's first look (until it takes them again): the run before
        could not store that it told the `writes` alert, which this run then tells again, saying so."""

    def observe(
        self, rule: RuleConfig, active: Callable[[str], bool], states: Mapping[tuple[str, str], object]
    ) -> list[Observation]:
        """Return this cycle's observations for a disk rule (`active`: whether a series is pending or firing).

        A series of this rule that is not this collector's (its node renamed since) ends: every alert can resolve.
        """
        covers = self._covers.get(rule.select)
        if covers is None:
            covers = self._covers[rule.select] = selector_covers(rule.select, self.node)
        if not covers:
            return []
        free, since = self.health.free(), self.health.refused_since()
        self._full_at_start = since is not None and self._full_at_start in (None, True)
        if self.reserve is not None and self.reserve.spent and free is not None and free >= ROOM:
            self.reserve.fill()
        short = since is None and self.reserve is not None and self.reserve.spent
        steady = since is None and not short and (free is None or free >= self.min_free)
        # A steady disk with no alert of its own says only "does not hold": nothing worded for it each cycle.
        observations = (
            [] if steady and not (active(self.writes) or active(self.free)) else self._own(active, free, since, short)
        )
        gone = "no longer this collector's disk (its node was renamed)"
        others = [s for r, s in states if r == rule.name and s not in (self.writes, self.free)]
        return observations + [Observation(series, series.split("/")[0], False, detail=gone) for series in others]

    def _own(
        self, active: Callable[[str], bool], free: int | None, since: float | None, short: bool
    ) -> list[Observation]:
        """Return the observations of this collector's two disk series (`short`: the disk takes writes, but
        has no room yet for the alert store's reserve)."""
        room = "free space unknown" if free is None else f"{free} bytes free on {self.health.directory}"
        value = None if free is None else float(free)
        again = "; full as this collector started: possibly told before its restart" if self._full_at_start else ""
        if short:
            detail = (  # at a start on a full disk too, before a write was refused: not "takes writes again"
                f"the disk is nearly full: {room}, {ROOM} bytes needed to keep the reserve that stores what is"
                " told on a full disk"
            )
        elif since is None:
            detail = f"history stored again, {room}"
        else:
            detail = (
                f"history not stored since {iso(since)}, {room} (the disk refuses writes to the"
                f" {', '.join(self.health.failing())}; notifications go out from memory{again})"
            )
        holds = since is not None or short
        observations = [Observation(self.writes, self.node, holds, value, "B", began=since, detail=detail)]
        if free is not None:
            low = free < self.min_free * (HYSTERESIS if active(self.free) else 1.0)
            observations.append(
                Observation(
                    self.free, self.node, low, value, "B", side="below", threshold=float(self.min_free),
                    threshold_text=f"min_free = {self.min_free} bytes", severity="warning",
                    detail=f"{room}, below min_free = {self.min_free} bytes" if low else f"{room} again",
                )
            )  # fmt: skip
        return observations
