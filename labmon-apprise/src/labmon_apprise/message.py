"""Turn an alert into the title, body and Apprise notification type that every service receives."""

from __future__ import annotations

from labmon import Alert, format_duration, iso

# Apprise's notification types (it takes them as strings): they set the colour or icon where a service has one.
NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "info": "info"}


def title(alert: Alert) -> str:
    """Return e.g. `CRITICAL: laser1-unlocked on table1/laser1/lock_error`, `STILL ...` or `RESOLVED: ...`."""
    if alert.state == "resolved":
        return f"RESOLVED: {alert.rule} on {alert.series}"
    still = "STILL " if alert.repeat else ""
    return f"{still}{alert.severity.upper()}: {alert.rule} on {alert.series}"


def body(alert: Alert) -> str:
    """Return the alert's message followed by its facts, one per line."""
    firing = alert.state == "firing"
    facts = {
        "state": f"firing (reminder {alert.repeat})" if firing and alert.repeat else alert.state,
        "severity": alert.severity,
        "series": alert.series,
        "value": _quantity(alert.value, alert.unit),
        "threshold": _quantity(alert.threshold, alert.unit),
        "held for" if firing else "lasted": format_duration(alert.held_for),
        "since": iso(alert.since),
    }
    return "\n".join([alert.message, "", *(f"{name}: {text}" for name, text in facts.items())])


def notify_type(alert: Alert) -> str:
    """Return Apprise's type: `success` for a resolved alert, else the severity's (unknown ones as `warning`)."""
    return "success" if alert.state == "resolved" else NOTIFY_TYPES.get(alert.severity, "warning")


def _quantity(number: float | None, unit: str) -> str:
    return "-" if number is None else f"{number:g} {unit}".strip()
