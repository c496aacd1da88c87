"""What was notified: the active's transitions learned from the broker, and the standby's own waiting for them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from labmon.models import Alert
from labmon.times import iso
from labmon_collector.delivery.repeat import TAKEN_OVER, said_again

Key = tuple[str, str, str, int]
"""(rule, series, state, repeat): one transition, as both collectors' engines produce it."""
REMEMBERED = 200
"""Transitions this collector notified that it remembers (and keeps across a restart) to find those sent twice."""
SAID = 50
"""Transitions sent twice that `labmon status` lists, the latest."""


def key_of(alert: Alert) -> Key:
    """Return the transition `alert` is."""
    return (alert.rule, alert.series, alert.state, alert.repeat)


@dataclass
class Ledger:
    """Matches the transitions the other collector notified with those this one's engine produces."""

    keep_for: float
    """Seconds a transition stays unmatched before it is forgotten (the other judged it, or it was long ago)."""
    match_within: float
    """Seconds apart (by the senders' clocks) that the same transition sent by both counts as one sent twice."""
    told: dict[Key, float] = field(default_factory=dict)
    """Transitions the other collector notified that this one's engine has not produced yet, and when heard."""
    waiting: dict[Key, tuple[Alert, float]] = field(default_factory=dict)
    """Transitions this standby's engine produced that the active has not said it notified, and when."""
    mine: list[tuple[Key, float]] = field(default_factory=list)
    """Transitions this collector notified while active and when (wall clock), to find those the other sent too."""
    double_sent: list[str] = field(default_factory=list)
    """Transitions both collectors notified (a partition, or a takeover the other had not told), as `labmon status`
    says them: the latest SAID."""
    doubles: int = 0
    """Transitions both collectors notified, counted."""
    notified: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    """The last state either collector notified of each (rule, series), and when (wall clock)."""
    unsure: dict[Key, tuple[Alert, float]] = field(default_factory=dict)
    """Transitions the other said it sends and has not yet said are in its outbox (held there for "what changed
    before it"), as it worded them, and when heard: a takeover sends them, saying they may be repeats."""
    owing: set[Key] = field(default_factory=set)
    """The unsure transitions a takeover sends: sent though the other told of them, and kept in `told` so that this
    engine producing one later (it was a cycle behind) does not send it again."""

    def told_of(self, key: Key, at: float) -> None:
        """Either collector notified `key` at `at`: the latest notification of each alert is what stands."""
        rule, series, state, _ = key
        if self.notified.get((rule, series), ("", -math.inf))[1] <= at:
            self.notified[(rule, series)] = (state, at)

    def notified_firing(self) -> set[tuple[str, str]]:
        """Return the (rule, series) either collector notified firing and not yet resolved: only those resolve."""
        return {alert for alert, (state, _) in self.notified.items() if state == "firing"}

    def learn(self, key: Key, now: float, at: float) -> None:
        """The other collector notified `key` at `at`, heard just now: this one need not send it.

        One no later than the alert's last notification known (said again, or held up) is not news: matched
        again, it would wait in `told` for the next episode's same transition and keep that one from being sent.
        """
        rule, series, _, _ = key
        if self.notified.get((rule, series), ("", -math.inf))[1] >= at:
            return
        self.told_of(key, at)
        if self.waiting.pop(key, None) is None:
            self.told[key] = now

    def heard(self, key: Key, now: float, at: float, wall: float) -> bool:
        """The other collector notified `key` at `at` (its clock), heard at `now` (monotonic; `wall`: this one's
        clock): return whether this one sent it too (a double, said).

        Only news is learned: not one this collector sent too, nor one long held up (a bridge that healed) or
        said again from long ago; kept in `told`, it would keep the next episode's same transition from being sent.
        """
        double = self.compare(key, at)
        if not double and wall - at <= self.keep_for:
            self.learn(key, now, at)
        else:
            self.told_of(key, at)
        return double

    def sending(self, key: Key, alert: Alert, now: float) -> None:
        """The other collector says it sends `key`, worded as `alert` (heard at `now`): unsure until it says its
        outbox has it."""
        self.unsure[key] = (alert, now)

    def queued(self, key: Key) -> None:
        """The other collector's outbox has `key`: a kill no longer loses it."""
        self.unsure.pop(key, None)

    def compare(self, key: Key, at: float) -> bool:
        """The other collector notified `key` at `at` (its clock): return whether this one sent it too (said)."""
        for index, (mine, when) in enumerate(self.mine):
            if mine == key and abs(when - at) <= self.match_within and not self._apart(key, at, when):
                del self.mine[index]  # one of ours matches one of theirs, once
                self.doubles += 1
                rule, series, state, _ = key
                self.double_sent = [*self.double_sent, f"{rule} {series} {state} at {iso(min(at, when))}"][-SAID:]
                return True
        return False

    def _apart(self, key: Key, at: float, when: float) -> bool:
        """Return whether another state of the alert was notified between `at` and `when`: the same transition
        (its repeat starts again at 0) of two episodes, not one sent twice."""
        rule, series, state, _ = key
        low, high = min(at, when), max(at, when)
        last = self.notified.get((rule, series))
        between = [t for (r, s, st, _), t in self.mine if (r, s) == (rule, series) and st != state and low < t < high]
        return bool(between) or (last is not None and last[0] != state and low < last[1] < high)

    def shadow(self, alerts: list[Alert], now: float) -> None:
        """Note the transitions a standby's engine produced (and did not send)."""
        for alert in alerts:
            key = key_of(alert)
            if self.told.pop(key, None) is None:
                self.waiting[key] = (alert, now)
        self._forget(now)

    def to_send(self, alerts: list[Alert], now: float, at: float) -> list[Alert]:
        """Return the alerts an active collector sends at `at` (wall clock): those the other has not notified."""
        fresh = [alert for alert in alerts if key_of(alert) in self.owing or self.told.pop(key_of(alert), None) is None]
        self.owing.clear()
        self.mine = [*self.mine, *((key_of(alert), at) for alert in fresh)][-REMEMBERED:]
        for alert in fresh:
            self.told_of(key_of(alert), at)
        self._forget(now)
        return fresh

    def take_over(self, now: float, firing: set[tuple[str, str]]) -> list[Alert]:
        """Return the transitions this collector saw in shadow that the active never said it notified, and those
        the active said it sends but not that its outbox has them (it may have sent them: said).

        Of what it saw, only the last transition of each alert, and only if it still stands: a firing its engine
        (`firing` now) still holds, a resolution of what was notified firing. A standby's view can differ from
        the active's (a reply that came late to one of them): its own flaps are not news to anyone. What the
        active said it sends is its judgement, sent as it worded it.
        """
        self._forget(now)
        notified = self.notified_firing()
        last = {(alert.rule, alert.series): (alert, at) for alert, at in sorted(self.waiting.values(), key=_when)}
        seen = [
            (alert, at) for key, (alert, at) in last.items() if key in (firing if alert.state == "firing" else notified)
        ]
        unsure = [(said_again(alert, TAKEN_OVER), at) for alert, at in self.unsure.values()]
        self.owing = set(self.unsure)
        self.waiting.clear()
        self.unsure.clear()
        return list({(alert.rule, alert.series): alert for alert, _ in sorted(seen + unsure, key=_when)}.values())

    def _forget(self, now: float) -> None:
        for key in [key for key, at in self.told.items() if now - at > self.keep_for]:
            del self.told[key]
        for waits in (self.waiting, self.unsure):
            for key in [key for key, (_, at) in waits.items() if now - at > self.keep_for]:
                del waits[key]


def _when(noted: tuple[Alert, float]) -> float:
    return noted[1]
