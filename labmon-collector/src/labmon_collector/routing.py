"""Which notifiers hear of an alert: the rule's `notify` list, `send_resolved` and the hourly cap."""

from __future__ import annotations

import logging
from collections import deque

from labmon.config import NotifierPolicy
from labmon.models import Alert
from labmon.rule_config import RuleConfig

log = logging.getLogger(__name__)


class Router:
    """Decides, per alert, the notifiers that receive it; counts what the hourly cap held back."""

    def __init__(self, rules: tuple[RuleConfig, ...], policies: dict[str, NotifierPolicy]) -> None:
        self._routes = {rule.name: rule.notify for rule in rules}
        self._policies = policies
        self._sent: dict[str, deque[float]] = {name: deque() for name in policies}
        self.capped = 0

    def targets(self, alert: Alert) -> list[str]:
        """Return the names of the notifiers that should receive `alert` (and count it as sent to them)."""
        route = self._routes.get(alert.rule)
        return [name for name in self._policies if (route is None or name in route) and self._allowed(name, alert)]

    def _allowed(self, notifier: str, alert: Alert) -> bool:
        """Apply the notifier's policy: resolved messages wanted? under its hourly cap?"""
        policy = self._policies[notifier]
        if alert.state == "resolved" and not policy.send_resolved:
            return False
        sent = self._sent[notifier]
        while sent and sent[0] <= alert.at - 3600:
            sent.popleft()
        if len(sent) >= policy.max_per_hour:
            self.capped += 1
            log.warning(
                "notifier %s reached %d messages this hour: not sent: %s", notifier, policy.max_per_hour, alert.message
            )
            return False
        sent.append(alert.at)
        return True
