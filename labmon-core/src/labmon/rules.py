"""Evaluate threshold rules per series: inactive -> pending -> firing -> resolved."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Literal

from labmon.config import RuleConfig
from labmon.durations import format_duration
from labmon.models import Alert, Batch

State = Literal["inactive", "pending", "firing"]

DEFAULT_MESSAGE = "{series} has been {side} {threshold_text} for {duration} (now {value_text})"
RESOLVED_MESSAGE = "{series} is back at {value_text} after {duration} {side} {threshold_text}"


@dataclass
class SeriesState:
    """Where one rule stands for one series."""

    state: State = "inactive"
    since: float = 0.0
    last_value: float | None = None
    unit: str = ""


class RulesEngine:
    """Keeps each rule's state per series and says when an alert fires or resolves."""

    def __init__(self, rules: tuple[RuleConfig, ...]) -> None:
        self.rules = rules
        self.states: dict[tuple[str, str], SeriesState] = {}

    def evaluate(self, batch: Batch, now: float) -> list[Alert]:
        """Feed one cycle's readings at time `now`; return the alerts to send."""
        alerts = []
        for measurer, reading, _ in batch.rows():
            if reading.value is None:
                continue  # an error reading carries no value: it neither triggers nor clears a threshold
            series = f"{measurer}/{reading.key}"
            for rule in self.rules:
                if fnmatch.fnmatchcase(series, rule.select):
                    alert = self._step(rule, series, reading.value, reading.unit, now)
                    if alert is not None:
                        alerts.append(alert)
        return alerts

    def _step(self, rule: RuleConfig, series: str, value: float, unit: str, now: float) -> Alert | None:
        state = self.states.setdefault((rule.name, series), SeriesState())
        state.last_value, state.unit = value, unit
        if breached(rule, value):
            if state.state == "inactive":
                state.state, state.since = "pending", now
            if state.state == "pending" and now - state.since >= rule.for_:
                state.state = "firing"
                return _alert(rule, series, state, now, "firing")
            return None
        if state.state == "firing":
            alert = _alert(rule, series, state, now, "resolved")
            state.state = "inactive"
            return alert
        state.state = "inactive"
        return None


def breached(rule: RuleConfig, value: float) -> bool:
    """Return whether `value` is on the wrong side of the rule's threshold."""
    if rule.above is not None:
        return value > rule.above
    assert rule.below is not None
    return value < rule.below


def _alert(rule: RuleConfig, series: str, state: SeriesState, now: float, kind: Literal["firing", "resolved"]) -> Alert:
    threshold = rule.above if rule.above is not None else rule.below
    assert threshold is not None and state.last_value is not None
    measurer, instrument, reading = series.split("/", 2)
    fields = {
        "rule": rule.name,
        "series": series,
        "measurer": measurer,
        "instrument": instrument,
        "reading": reading,
        "value": state.last_value,
        "unit": state.unit,
        "threshold": threshold,
        "side": "above" if rule.above is not None else "below",
        "duration": format_duration(now - state.since),
        "value_text": f"{state.last_value:g} {state.unit}".strip(),
        "threshold_text": f"{threshold:g} {state.unit}".strip(),
    }
    if kind == "firing":
        message = (rule.message or DEFAULT_MESSAGE).format(**fields)
    else:
        message = RESOLVED_MESSAGE.format(**fields)
    return Alert(
        rule=rule.name,
        state=kind,
        series=series,
        message=message,
        severity=rule.severity,
        value=state.last_value,
        unit=state.unit,
        threshold=threshold,
        since=state.since,
        at=now,
        labels={"measurer": measurer, "instrument": instrument, "reading": reading},
    )
