"""What was notified: the active's transitions learned from the broker, and the standby's own waiting for them."""

from __future__ import annotations

from dataclasses import dataclass, field

from labmon.models import Alert

Key = tuple[str, str, str, int]
"""(rule, series, state, repeat): one transition, as both collectors' engines produce it."""


def key_of(alert: Alert) -> Key:
    """Return the transition `alert` is."""
    return (alert.rule, alert.series, alert.state, alert.repeat)


@dataclass
class Ledger:
    """Matches the transitions the other collector notified with those this one's engine produces."""

    keep_for: float
    """Seconds a transition stays unmatched before it is forgotten (the other judged it, or it was long ago)."""
    told: dict[Key, float] = field(default_factory=dict)
    """Transitions the other collector notified that this one's engine has not produced yet, and when heard."""
    waiting: dict[Key, tuple[Alert, float]] = field(default_factory=dict)
    """Transitions this standby's engine produced that the active has not said it notified, and when."""
    sent: dict[Key, float] = field(default_factory=dict)
    """Transitions this collector notified while active, to find those the other sent too."""
    double_sent: list[str] = field(default_factory=list)
    """Transitions both collectors notified (a partition), said in `labmon status`."""
    notified_firing: set[tuple[str, str]] = field(default_factory=set)
    """The (rule, series) either collector notified firing and not yet resolved: only those can be resolved."""

    def _told_of(self, key: Key) -> None:
        rule, series, state, _ = key
        (self.notified_firing.add if state == "firing" else self.notified_firing.discard)((rule, series))

    def learn(self, key: Key, now: float) -> None:
        """The other collector notified `key`."""
        self._told_of(key)
        if self.sent.pop(key, None) is not None:
            rule, series, state, _ = key
            self.double_sent.append(f"{rule} {series} {state}")
        elif self.waiting.pop(key, None) is None:
            self.told[key] = now

    def shadow(self, alerts: list[Alert], now: float) -> None:
        """Note the transitions a standby's engine produced (and did not send)."""
        for alert in alerts:
            key = key_of(alert)
            if self.told.pop(key, None) is None:
                self.waiting[key] = (alert, now)
        self._forget(now)

    def to_send(self, alerts: list[Alert], now: float) -> list[Alert]:
        """Return the alerts an active collector sends: those the other has not notified already."""
        fresh = [alert for alert in alerts if self.told.pop(key_of(alert), None) is None]
        self.sent.update((key_of(alert), now) for alert in fresh)
        for alert in fresh:
            self._told_of(key_of(alert))
        self._forget(now)
        return fresh

    def take_over(self, now: float, firing: set[tuple[str, str]]) -> tuple[list[Alert], list[Key]]:
        """Return the transitions this collector saw in shadow that the active never said it notified, and those
        the active notified that this collector's engine has not produced (it may never: they need an ending).

        Of what it saw, only the last transition of each alert, and only if it still stands: a firing its engine
        (`firing` now) still holds, a resolution of what was notified firing. A standby's view can differ from
        the active's (a reply that came late to one of them): its own flaps are not news to anyone.
        """
        self._forget(now)
        last = {(alert.rule, alert.series): alert for alert, _ in sorted(self.waiting.values(), key=lambda w: w[1])}
        self.waiting.clear()
        owed = [
            alert
            for key, alert in last.items()
            if (key in firing if alert.state == "firing" else key in self.notified_firing)
        ]
        return owed, list(self.told)

    def _forget(self, now: float) -> None:
        for kept in (self.told, self.sent):
            for key in [key for key, at in kept.items() if now - at > self.keep_for]:
                del kept[key]
        for key in [key for key, (_, at) in self.waiting.items() if now - at > self.keep_for]:
            del self.waiting[key]
