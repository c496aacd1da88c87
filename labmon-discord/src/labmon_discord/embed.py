"""Turn an alert into a Discord embed that fits Discord's limits."""

from __future__ import annotations

from datetime import UTC, datetime

from discord_webhook import DiscordEmbed

from labmon import Alert, format_duration

COLOURS = {"critical": "d32f2f", "warning": "f9a825", "info": "1976d2", "resolved": "2e7d32"}
TITLE_LIMIT, DESCRIPTION_LIMIT, FIELD_LIMIT = 256, 4096, 1024


def clip(text: str, limit: int) -> str:
    """Return `text` cut to `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_embed(alert: Alert) -> DiscordEmbed:
    """Return the embed for a firing or resolved alert."""
    firing = alert.state == "firing"
    still = "STILL " if alert.repeat else ""
    title = f"{still}{alert.severity.upper()}: {alert.rule}" if firing else f"RESOLVED: {alert.rule}"
    embed = DiscordEmbed(
        title=clip(title, TITLE_LIMIT),
        description=clip(alert.message, DESCRIPTION_LIMIT),
        color=COLOURS[alert.severity if firing else "resolved"],
    )
    value = "-" if alert.value is None else f"{alert.value:g} {alert.unit}".strip()
    threshold = "-" if alert.threshold is None else f"{alert.threshold:g} {alert.unit}".strip()
    fields = {
        "measurer": alert.labels.get("measurer", "-"),
        "instrument": alert.labels.get("instrument", "-"),
        "reading": alert.labels.get("reading", "-"),
        "value": value,
        "threshold": threshold,
        "held for" if firing else "lasted": format_duration(alert.held_for),
    }
    for name, text in fields.items():
        embed.add_embed_field(name=name, value=clip(text or "-", FIELD_LIMIT), inline=True)
    embed.set_timestamp(datetime.fromtimestamp(alert.at, UTC).timestamp())
    return embed
