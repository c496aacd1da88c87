"""The alert engine: per rule and series, inactive -> pending -> firing -> resolved, as Prometheus does."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from typing import Literal

from labmon.models import Alert, Batch
from labmon.options import Duration
from labmon.rule_config import Kind, RuleConfig
from labmon.times import format_duration, iso
from labmon_collector.alertstore import AlertStore, SeriesState
from labmon_collector.conditions import Memory, Observation, Selection, lasted, observe, unreachable

VALUE_FIRING = "{series} has been {side} {threshold_text} for {duration} (now {value_text})"
VALUE_RESOLVED = "{series} is back at {value_text} after {duration} {side} {threshold_text}"
FIRING: dict[Kind, str] = {
    "threshold": VALUE_FIRING,
    "band": VALUE_FIRING,
    "rate": VALUE_FIRING,
    "error": "{series} could not be read for {duration}: {error}",
    "stale": "{series} has had no valid value for {duration}",
    "offline": "measurer {measurer} has not answered for {duration}",
    "broker": "collector cannot reach broker {series} since {since} ({duration})",
}
RESOLVED: dict[Kind, str] = {
    "threshold": VALUE_RESOLVED,
    "band": VALUE_RESOLVED,
    "rate": "{series} changes at {value_text} again after {duration} {side} {threshold_text}",
    "error": "{series} reads again after {duration} of errors",
    "stale": "{series} has valid values again after {duration}",
    "offline": "measurer {measurer} answers again after {duration}",
    "broker": "collector reaches broker {series} again after {duration}",
}


BROKER_RULE = RuleConfig(name="broker", select="*", broker=True, for_=Duration(60.0), severity="critical")
"""The rule used when the config has no broker rule of its own: a lab must hear that monitoring is blind."""


def with_broker_rule(rules: tuple[RuleConfig, ...]) -> tuple[RuleConfig, ...]:
    """Return `rules`, with BROKER_RULE added unless one of them already watches the brokers."""
    return rules if any(rule.broker for rule in rules) else (*rules, BROKER_RULE)


class RulesEngine:
    """Evaluates every rule each cycle and decides which notifications to send."""

    def __init__(self, rules: tuple[RuleConfig, ...], store: AlertStore | None = None, *, tick: float = 0.0) -> None:
        self.rules = rules
        self.tick = tick
        """The collector's interval: durations are counted in whole ticks of it (0: in exact seconds)."""
        self.store = store
        self.states: dict[tuple[str, str], SeriesState] = {}
        self.memory = Memory()
        if store is not None:
            self.states, self.memory.last_valid = store.load()
        self._window = max((r.window for r in rules if r.kind == "rate"), default=0.0)
        self._selection = Selection(rules)

    def evaluate(self, batch: Batch, now: float, brokers: Mapping[str, float | None] | None = None) -> list[Alert]:
        """Feed one cycle at time `now` (`brokers`: since when each is unreachable, None if not); return alerts."""
        self.memory.remember(batch, now, self._window)
        down = set(batch.missing)
        covered = {m for m in down if any(r.kind == "offline" and fnmatch.fnmatchcase(m, r.select) for r in self.rules)}
        silences = self.store.silences(now) if self.store is not None else []
        selected = self._selection.valid_rows(batch)
        alerts = []
        for rule in self.rules:

            def active(series: str, rule: RuleConfig = rule) -> bool:
                state = self.states.get((rule.name, series))
                return state is not None and state.state != "inactive"

            if rule.kind == "broker":
                observations = unreachable(rule, brokers or {})
            else:
                rows = selected.get(rule.name)
                observations = observe(rule, batch, now, down, self.memory, active, self.tick, rows)
            for seen in observations:
                # One offline alert, not one per reading: a down measurer's other alerts keep quiet.
                silenced = any(s.covers(seen.series) for s in silences)
                quiet = silenced or (rule.kind != "offline" and seen.measurer in covered)
                alert = self._step(rule, seen, now, quiet)
                if alert is not None:
                    alerts.append(alert)
        if self.store is not None:
            self.store.save(self.states, self.memory.last_valid, now)
        return alerts

    def _step(self, rule: RuleConfig, seen: Observation, now: float, quiet: bool) -> Alert | None:
        state = self.states.setdefault((rule.name, seen.series), SeriesState())
        if seen.holds is None:
            return None
        state.last_value, state.unit, state.error = seen.value, seen.unit, seen.error or state.error
        if seen.holds:
            state.cleared_since = None
            if state.state == "inactive":
                state.state, state.since, state.repeats, state.notified_at = "pending", now, 0, None
            if state.state == "pending" and lasted(now - state.since, rule.for_, self.tick):
                state.state = "firing"
            if state.state != "firing" or quiet:
                return None
            if state.notified_at is None:
                return self._notify(rule, seen, state, now, "firing")
            if lasted(now - state.notified_at, rule.repeat_interval, self.tick):
                state.repeats += 1
                return self._notify(rule, seen, state, now, "firing")
            return None
        if state.state == "pending":
            state.state = "inactive"  # it never fired: nobody hears of it
            return None
        if state.state != "firing":
            return None
        if state.cleared_since is None:
            state.cleared_since = now
        if not lasted(now - state.cleared_since, rule.keep_firing_for, self.tick):
            return None
        notified = state.notified_at is not None
        alert = self._notify(rule, seen, state, now, "resolved") if notified and not quiet else None
        state.state, state.cleared_since = "inactive", None
        return alert

    def _notify(
        self, rule: RuleConfig, seen: Observation, state: SeriesState, now: float, kind: Literal["firing", "resolved"]
    ) -> Alert:
        if kind == "firing":
            state.notified_at = now
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
        }
        if kind == "firing":
            message = (rule.message or FIRING[rule.kind]).format(**fields)
            message = f"still firing ({state.repeats}): {message}" if state.repeats else message
        else:
            message = RESOLVED[rule.kind].format(**fields)
        return Alert(
            rule=rule.name,
            state=kind,
            series=seen.series,
            message=message,
            severity=rule.severity,
            value=state.last_value,
            unit=state.unit,
            threshold=seen.threshold,
            since=state.since,
            at=now,
            labels={"measurer": seen.measurer, "instrument": parts[1], "reading": parts[2], "kind": rule.kind},
            repeat=state.repeats,
        )
