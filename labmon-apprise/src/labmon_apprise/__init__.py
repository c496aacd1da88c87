"""The `apprise` notifier: alerts to e-mail, Slack, Telegram, Matrix, ntfy, Teams and 80+ more services."""

from __future__ import annotations

from labmon import Register, hookimpl
from labmon_apprise.notifier import AppriseNotifier


@hookimpl
def labmon_register_notifiers(register: Register) -> None:
    register("apprise", AppriseNotifier)
