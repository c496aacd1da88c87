"""Which notifiers hear of an alert: the rule's `notify` list, `send_resolved` and the hourly cap."""

from __future__ import annotations

import dataclasses
import logging
from collections import deque

from labmon.config import NotifierPolicy
from labmon.models import Alert
from labmon.rule_config import RuleConfig
from labmon_collector.alerting.alertstore import AlertStore

log = logging.getLogger(__name__)


class Router:
    """Decides, per alert, the notifiers that receive it; counts, per rule, what the hourly cap held back."""

    def __init__(
        self, rules: tuple[RuleConfig, ...], policies: dict[str, NotifierPolicy], store: AlertStore | None = None
    ) -> None:
        self._routes = {rule.name: rule.notify for rule in rules}
        self._escalations = {rule.name: rule.escalate_to for rule in rules}
        self._policies = policies
        self._sent: dict[str, deque[float]] = {name: deque() for name in policies}
        self._store = store
        self.held: dict[str, dict[str, int]] = store.held_back() if store is not None else {}
        """Per notifier, per rule: messages the cap held back since the last one sent (kept across restarts)."""
        self.capped = 0

    def targets(self, alert: Alert) -> list[tuple[str, Alert]]:
        """Return the notifiers that should receive `alert`, each with the alert as it should read there."""
        escalated = alert.labels.get("escalated") == "yes"
        route = (self._escalations if escalated else self._routes).get(alert.rule)
        return [
            (name, self._with_held(name, alert))
            for name in self._policies
            if (route is None or name in route) and self._allowed(name, alert)
        ]

    def _allowed(self, notifier: str, alert: Alert) -> bool:
        """Apply the notifier's policy: resolved messages wanted? under its hourly cap (critical ones always are)?"""
        policy = self._policies[notifier]
        if alert.state == "resolved" and not policy.send_resolved:
            return False
        sent = self._sent[notifier]
        while sent and sent[0] <= alert.at - 3600:
            sent.popleft()
        if len(sent) >= policy.max_per_hour and alert.severity != "critical":
            self.capped += 1
            held = self.held.setdefault(notifier, {})
            held[alert.rule] = held.get(alert.rule, 0) + 1
            if self._store is not None:
                self._store.hold(notifier, alert.rule)
            log.warning(
                "notifier %s reached %d messages this hour: held back (rule %s, %d held back for it so far): %s",
                notifier, policy.max_per_hour, alert.rule, held[alert.rule], alert.message,
            )  # fmt: skip
            return False
        sent.append(alert.at)
        return True

    def _with_held(self, notifier: str, alert: Alert) -> Alert:
        """Add to the alert how many messages the cap held back before it, per rule, and forget those counts."""
        held = self.held.pop(notifier, {})
        if not held:
            return alert
        if self._store is not None:
            self._store.release(notifier)
        counts = ", ".join(f"{rule} {count}" for rule, count in sorted(held.items()))
        note = f"[{sum(held.values())} earlier messages held back by the hourly cap: {counts}]"
        return dataclasses.replace(alert, message=f"{alert.message} {note}")
