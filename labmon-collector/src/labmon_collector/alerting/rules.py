"""The alert engine: per rule and series, inactive -> pending -> firing -> resolved, as Prometheus does."""

from __future__ import annotations

import contextlib
import fnmatch
import math
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import tzinfo
from typing import TYPE_CHECKING, Literal

from labmon.models import Alert, Batch
from labmon.options import Duration
from labmon.rule_config import RULE_KINDS, MuteWindow, RuleConfig, dependency_order
from labmon.times import format_duration, iso
from labmon_collector.alerting.alertstore import Ack, AlertStore, SeriesState, Silence
from labmon_collector.alerting.conditions import (
    Columns,
    Memory,
    Observation,
    Selection,
    lasted,
    observe,
    still_reported,
    unreachable,
)
from labmon_collector.alerting.depends import holder
from labmon_collector.alerting.events import Note

if TYPE_CHECKING:
    from labmon_collector.diskalarm import DiskAlarm
    from labmon_collector.health.forecast import Forecaster

BROKER_RULE = RuleConfig(name="broker", select="*", broker=True, for_=Duration(60.0), severity="critical")
"""Used when the config has no broker rule of its own: a lab must hear that monitoring is blind."""
CLOCK_RULE = RuleConfig(name="clock", select="*", clock_offset=Duration(2.0), severity="warning")
"""Used when the config has no clock rule of its own: a Pi without a real-time clock may boot days off."""
DISK_RULE = RuleConfig(name="disk", select="*", disk=True, severity="critical")
"""Used when the config has no disk rule of its own: a full disk must be heard (issue 25)."""


GONE = {
    "offline": "the measurer is no longer in the collector's config",
    "broker": "the broker is no longer in the collector's config",
    "clock": "the measurer is no longer in the collector's config",
}
"""Why an alert of these kinds was closed without its cause ending (other kinds: its series is no longer sent)."""


def with_builtin_rules(rules: tuple[RuleConfig, ...]) -> tuple[RuleConfig, ...]:
    """Return `rules`, with BROKER_RULE, CLOCK_RULE and DISK_RULE added unless one of them already watches the same."""
    if not any(rule.broker for rule in rules):
        rules = (*rules, BROKER_RULE)
    if not any(rule.disk for rule in rules):
        rules = (*rules, DISK_RULE)
    if not any(rule.clock_offset is not None for rule in rules):
        rules = (*rules, CLOCK_RULE)
    return rules


class RulesEngine:
    """Evaluates every rule each cycle and decides which notifications to send."""

    def __init__(
        self,
        rules: tuple[RuleConfig, ...],
        store: AlertStore | None = None,
        *,
        tick: float = 0.0,
        mute_windows: tuple[MuteWindow, ...] = (),
    ) -> None:
        self.rules = dependency_order(rules)[0]  # a rule is judged after those it depends on, in the same cycle
        self.tick = tick
        """The collector's interval: durations are counted in whole ticks of it (0: in exact seconds)."""
        self.store = store
        self.states: dict[tuple[str, str], SeriesState] = {}
        """The pending and firing alerts: a series whose rule does not hold has none (most of a large lab)."""
        self.ended: dict[tuple[str, str], SeriesState] = {}
        """The states the last evaluation ended (now inactive, with the values that ended them), for the history."""
        self.memory = Memory()
        self.notes: list[Note] = []
        """What the last evaluation did beside changing states (acknowledged, held back), for the alert history."""
        self._acks: dict[tuple[str, str], Ack] = {}
        self.held: dict[tuple[str, str], str] = {}
        """The firing alerts a dependency holds back, and which (for the history, `labmon status` and the page)."""
        self.muted: dict[tuple[str, str], str] = {}
        """The firing alerts a mute window keeps quiet, and which."""
        self.mute_windows = mute_windows
        self.escalated: dict[tuple[str, str], float] = store.escalated() if store is not None else {}
        """The firing alerts sent to their `escalate_to` notifiers, and when."""
        self.forecasts: Forecaster | None = None
        """Fits the history for forecast rules (the collector sets it when it keeps a history)."""
        self.disk: DiskAlarm | None = None
        """Looks at the collector's data disk for disk rules (the collector sets it)."""
        self.tz: tzinfo | None = None
        """The time zone of the mute windows: the collector's local one (tests set their own)."""
        if store is not None:
            self.states, self.memory.last_valid = store.load()
        for key in [key for key in self.states if key[0] not in {rule.name for rule in rules}]:
            self._drop(key)  # its rule was removed from the config: nothing will ever resolve it
        self._by_name = {rule.name: rule for rule in self.rules}
        self._silences: tuple[float, list[Silence]] | None = None
        """The silences `prepare` read for the cycle at a time, for its evaluation."""
        self._window = max((r.window for r in rules if r.kind == "rate"), default=0.0)
        self._selection = Selection(rules)

    def prepare(self, now: float) -> None:
        """Read the silences in force at `now` for the evaluation of the cycle of that time, while its answers are
        awaited: the alert file is looked at then (the look serves the cycle's acks, save and note), not on the
        way from the last answer to the alerts. A silence added after this look counts from the next cycle."""
        self._silences = None
        if self.store is not None:
            # A busy or failing file: the evaluation reads them itself, once the cycle's batch is stored.
            with contextlib.suppress(sqlite3.Error):
                self._silences = (now, self.store.silences(now))

    def evaluate(self, batch: Batch, now: float, brokers: Mapping[str, float | None] | None = None) -> list[Alert]:
        """Feed one cycle at time `now` (`brokers`: since when each is unreachable, None if not); return alerts."""
        columns = Columns.of(batch)
        gone = set(self.memory.remember(columns, now, self._window))
        self.notes = []
        self.ended = {}
        alerts = self._forget_vanished(batch, now, brokers, gone) if self.states else []
        down = set(batch.missing)
        covered = {m for m in down if any(r.kind == "offline" and fnmatch.fnmatchcase(m, r.select) for r in self.rules)}
        prepared, self._silences = self._silences, None
        if prepared is not None and prepared[0] == now:
            silences = prepared[1]
        else:
            silences = self.store.silences(now) if self.store is not None else []
        selected = self._selection.select(columns)
        active_series: dict[str, set[str]] = {}  # per rule: its pending and firing series
        for name, series in self.states:
            active_series.setdefault(name, set()).add(series)
        windows = [w for w in self.mute_windows if w.active(now, self.tz)]
        self._acks = self.store.acks() if self.store is not None else {}
        for rule in self.rules:

            def active(series: str, rule: RuleConfig = rule) -> bool:
                return (rule.name, series) in self.states

            idle = rule.name not in active_series
            if rule.kind == "broker":  # idle with every broker reachable: each would say "does not hold"
                cut_off = brokers is not None and any(since is not None for since in brokers.values())
                observations = unreachable(rule, brokers or {}) if cut_off or not idle else []
            elif rule.kind == "disk":
                observations = self.disk.observe(rule, active, self.states) if self.disk else []
            elif rule.kind == "forecast":
                observations = self.forecasts.observe(rule, selected.valid(rule.name), now) if self.forecasts else []
            else:
                level = RULE_KINDS[rule.kind].level
                rows = selected.unquiet(rule, active_series.get(rule.name, ())) if level else selected.valid(rule.name)
                observations = observe(rule, batch, now, down, self.memory, active, self.tick, rows, idle=idle)
            for seen in observations:
                if seen.holds is not True and (rule.name, seen.series) not in self.states:
                    continue  # quiet and not pending or firing: nothing to step, hold back or note
                silenced = any(s.covers(seen.series) for s in silences)
                muted = next((w.text() for w in windows if w.covers(seen.series)), None)
                held = holder(rule, seen.series, seen.measurer, self._fires, down, covered)
                quiet = silenced or muted is not None or held is not None
                alert = self._step(rule, seen, now, quiet)
                if alert is not None:
                    alerts.append(alert)
                if rule.escalate_after is not None and not quiet:
                    alerts += self._escalate(rule, seen, now)
                self._keep(self.held, rule.name, seen.series, held, "held back", "by its dependency: ")
                self._keep(self.muted, rule.name, seen.series, muted, "muted", "by the mute window ")
        if self.store is not None:
            self.store.save(self.states, self.memory.last_valid, now)
        return alerts

    def _forget_vanished(
        self, batch: Batch, now: float, brokers: Mapping[str, float | None] | None, gone: set[str]
    ) -> list[Alert]:
        """Close the alerts of series no longer part of the lab; tell those notified that the alert is over."""
        reported = still_reported(batch, brokers)
        alerts = []
        for key in list(self.states):
            rule = self._by_name[key[0]]
            if key[1] not in gone and reported(rule.kind, key[1]):
                continue
            state = self.states[key]
            why = GONE.get(rule.kind, "its measurer no longer reports the series")
            if state.state == "firing":
                self.notes.append((*key, "forgotten", why))
            if state.state == "firing" and state.notified_at is not None:
                seen = Observation(key[1], key[1].split("/")[0], False)
                alert = self._notify(rule, seen, state, now, "resolved")
                alerts.append(replace(alert, message=f"{key[1]}: alert closed, {why}"))
            self._drop(key)
        return alerts

    def _drop(self, key: tuple[str, str]) -> str:
        """Forget the alert of a rule or series that no longer exists, with its ack and escalation; return its state."""
        self.held.pop(key, None)
        self.muted.pop(key, None)
        if self.store is not None:
            self.store.end_ack(*key)
            if self.escalated.pop(key, None) is not None:
                self.store.forget_escalation(*key)
        return self.states.pop(key).state

    def _fires(self, rule: str, alike: Callable[[str], bool]) -> bool:
        return any(key[0] == rule and state.state == "firing" and alike(key[1]) for key, state in self.states.items())

    def _keep(
        self, kept: dict[tuple[str, str], str], rule: str, series: str, why: str | None, kind: str, detail: str
    ) -> None:
        """Keep in `kept` why a firing alert is quiet; note in the history when that starts (or changes)."""
        key = (rule, series)
        state = self.states.get(key)
        if why is None or state is None or state.state != "firing":
            kept.pop(key, None)
            return
        if kept.get(key) != why:
            self.notes.append((rule, series, kind, detail + why))
        kept[key] = why

    def _step(self, rule: RuleConfig, seen: Observation, now: float, quiet: bool) -> Alert | None:
        key = (rule.name, seen.series)
        state = self.states.get(key)
        if seen.holds is None or (state is None and not seen.holds):
            return None
        if state is None:
            state = self.states[key] = SeriesState()
        state.last_value, state.unit, state.error = seen.value, seen.unit, seen.error or state.error
        ack = self._acks.get((rule.name, seen.series))
        if seen.holds:
            state.cleared_since = None
            if state.state == "inactive":
                state.state, state.since, state.repeats, state.notified_at = "pending", now, 0, None
                if ack is not None:  # made while the last incident resolved: it must not silence this one
                    self._forget_ack(rule.name, seen.series)
                    ack = None
            if state.state == "pending" and lasted(now - state.since, rule.for_, self.tick):
                state.state = "firing"
            if state.state != "firing":
                return None
            if ack is not None:
                return self._acknowledge(rule, seen, state, now, ack, quiet)
            if quiet:
                return None
            if state.notified_at is not None and not lasted(now - state.notified_at, rule.repeat_interval, self.tick):
                return None
            state.repeats += state.notified_at is not None
            state.notified_at = now
            return self._notify(rule, seen, state, now, "firing")
        if state.state == "pending":
            self._end(key, state)  # it never fired: nobody hears of it
            return None
        if state.state != "firing":
            return None
        if state.cleared_since is None:
            state.cleared_since = now
        resolves = lasted(now - state.cleared_since, rule.keep_firing_for, self.tick)
        if not resolves or (rule.latch and ack is None):  # a latched alert waits for someone to acknowledge it
            return None if ack is None else self._acknowledge(rule, seen, state, now, ack, quiet)
        notified = state.notified_at is not None
        alert = self._notify(rule, seen, state, now, "resolved", ack) if notified else None  # ends what was told
        self._end(key, state)
        if ack is not None:
            self._end_ack(rule.name, seen.series, ack)
        if self.escalated.pop((rule.name, seen.series), None) is not None and self.store is not None:
            self.store.forget_escalation(rule.name, seen.series)
        return alert

    def _end(self, key: tuple[str, str], state: SeriesState) -> None:
        """Move a state that no longer holds out of `states` (back to inactive) into `ended`."""
        state.state, state.cleared_since = "inactive", None
        self.ended[key] = self.states.pop(key)

    def _forget_ack(self, rule: str, series: str) -> None:
        """End the ack of `rule` on `series` without a note: it belonged to an incident that is over."""
        assert self.store is not None  # acks come from the store
        self.store.end_ack(rule, series)
        del self._acks[(rule, series)]

    def _escalate(self, rule: RuleConfig, seen: Observation, now: float) -> list[Alert]:
        """Send a firing alert nobody acknowledged to `escalate_to`, once, `escalate_after` after it began firing."""
        assert rule.escalate_after is not None
        key = (rule.name, seen.series)
        state = self.states.get(key)
        if state is None or state.state != "firing" or key in self.escalated or key in self._acks:
            return []
        if not lasted(now - state.since, rule.for_ + rule.escalate_after, self.tick):  # on the tick grid, as `for`
            return []
        self.escalated[key] = now
        if self.store is not None:
            self.store.escalate(rule.name, seen.series, now)
        targets = ", ".join(rule.escalate_to or [])
        self.notes.append((rule.name, seen.series, "escalated", f"to {targets}: not acknowledged"))
        alert = self._notify(rule, seen, state, now, "firing")
        unheeded = f"not acknowledged for {format_duration(rule.escalate_after)}"
        return [replace(alert, message=f"{unheeded}: {alert.message}", labels={**alert.labels, "escalated": "yes"})]

    def _acknowledge(
        self, rule: RuleConfig, seen: Observation, state: SeriesState, now: float, ack: Ack, quiet: bool
    ) -> Alert | None:
        """Tell the alert's notifiers, once, who acknowledged it and why; after that it no longer repeats."""
        if ack.announced:
            return None
        self._end_ack(rule.name, seen.series, ack, keep=True)
        return None if state.notified_at is None or quiet else self._notify(rule, seen, state, now, "firing", ack)

    def _end_ack(self, rule: str, series: str, ack: Ack, *, keep: bool = False) -> None:
        """Record the ack in the history unless done; forget it unless `keep` (the alert still fires)."""
        assert self.store is not None  # acks come from the store
        if not ack.announced:
            self.notes.append((rule, series, "acknowledged", ack.text()))
        if keep:
            self.store.announced(rule, series)
        else:
            self.store.end_ack(rule, series)

    def _notify(
        self,
        rule: RuleConfig,
        seen: Observation,
        state: SeriesState,
        now: float,
        kind: Literal["firing", "resolved"],
        ack: Ack | None = None,
    ) -> Alert:
        parts = [*seen.series.split("/"), "", ""]
        value = math.nan if state.last_value is None else state.last_value
        began = state.since if seen.began is None else seen.began
        fields = {
            "rule": rule.name,
            "series": seen.series,
            "measurer": seen.measurer,
            "instrument": parts[1],
            "reading": parts[2],
            "value": value,
            "unit": state.unit,
            "threshold": math.nan if seen.threshold is None else seen.threshold,
            "side": seen.side,
            "duration": format_duration(now - began),
            "since": iso(began),
            "value_text": f"{value:g} {state.unit}".strip(),
            "threshold_text": seen.threshold_text,
            "error": state.error,
            "detail": seen.detail,
        }
        if kind == "resolved":
            message = RULE_KINDS[rule.kind].resolved.format(**fields)
            message = f"{message} ({ack.text()})" if ack is not None else message
        else:
            message = (rule.message or RULE_KINDS[rule.kind].firing).format(**fields)
            if ack is not None:
                message = f"{ack.text()}; {message}"
            elif state.repeats:
                message = f"still firing ({state.repeats}): {message}"
        labels = {"measurer": seen.measurer, "instrument": parts[1], "reading": parts[2], "kind": rule.kind}
        if ack is not None:
            labels |= {"acknowledged_by": ack.by, "ack_comment": ack.comment}
        return Alert(
            rule=rule.name,
            state=kind,
            series=seen.series,
            message=message,
            severity=seen.severity or rule.severity,
            value=state.last_value,
            unit=state.unit,
            threshold=seen.threshold,
            since=state.since,
            at=now,
            labels=labels,
            repeat=state.repeats,
        )
