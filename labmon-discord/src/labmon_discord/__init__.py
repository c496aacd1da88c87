"""The `discord` notifier: alerts as Discord webhook embeds."""

from __future__ import annotations

from labmon import Register, hookimpl
from labmon_discord.notifier import DiscordNotifier


@hookimpl
def labmon_register_notifiers(register: Register) -> None:
    register("discord", DiscordNotifier)
