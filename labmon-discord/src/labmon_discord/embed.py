"""Turn an alert into a Discord embed that fits every Discord limit, the 6000-character total included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from labmon import Alert, format_duration

COLOURS = {"critical": "d32f2f", "warning": "f9a825", "info": "1976d2", "resolved": "2e7d32"}
TITLE_LIMIT, DESCRIPTION_LIMIT, FIELD_NAME_LIMIT, FIELD_LIMIT, TOTAL_LIMIT = 256, 4096, 256, 1024, 6000
"""Discord's embed limits, counted (as Discord does) in UTF-16 code units."""


def length(text: str) -> int:
    """Return `text`'s length as Discord counts it (UTF-16 code units: an emoji can count 2)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """Return `text` cut to `limit` (Discord's count), marked with an ellipsis when cut."""
    if length(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    while (excess := length(cut) - (limit - 1)) > 0:  # a character is 1 or 2 units: drop at least half the excess
        cut = cut[: len(cut) - (excess + 1) // 2]
    return cut + "…" if limit > 0 else ""


EMBEDS_PER_MESSAGE = 10
"""Discord's limit of embeds in one message; all of them together share the 6000 total."""


def alert_embed(alert: Alert, total: int = TOTAL_LIMIT) -> dict[str, Any]:
    """Return the embed for a firing or resolved alert, its text within `total` (a share of a message's 6000)."""
    firing = alert.state == "firing"
    still = "STILL " if alert.repeat else ""
    title = f"{still}{alert.severity.upper()}: {alert.rule}" if firing else f"RESOLVED: {alert.rule}"
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
    title, description, fitted = fit(title, alert.message, fields, total)
    return {
        "title": title,
        "description": description,
        "color": int(COLOURS[alert.severity if firing else "resolved"], 16),
        "fields": [{"name": name, "value": text, "inline": True} for name, text in fitted.items()],
        "timestamp": datetime.fromtimestamp(alert.at, UTC).isoformat(),
    }


def fit(
    title: str, description: str, fields: dict[str, str], total: int = TOTAL_LIMIT
) -> tuple[str, str, dict[str, str]]:
    """Clip each part to its limit and all of them to `total`; fields share half the room, the message the rest."""
    title = clip(title, min(TITLE_LIMIT, total // 4))
    names = [clip(name, FIELD_NAME_LIMIT) for name in fields]
    room = total - length(title) - sum(map(length, names))
    share = min(FIELD_LIMIT, room // 2 // max(1, len(fields)))
    values = [clip(text or "-", share) or "-" for text in fields.values()]
    description = clip(description, min(DESCRIPTION_LIMIT, room - sum(map(length, values))))
    return title, description, dict(zip(names, values, strict=True))


def group_messages(content: str, alerts: list[Alert]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Return (content, embeds) per message: up to 10 embeds each, sharing the 6000 total; "(1/2)" if it takes more."""
    chunks = [alerts[i : i + EMBEDS_PER_MESSAGE] for i in range(0, len(alerts), EMBEDS_PER_MESSAGE)]
    return [
        (
            content if len(chunks) == 1 else f"{content} ({n}/{len(chunks)})",
            [alert_embed(a, TOTAL_LIMIT // len(chunk)) for a in chunk],
        )
        for n, chunk in enumerate(chunks, 1)
    ]
