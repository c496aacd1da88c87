"""What a message sent again after a restart says: the run before may have sent it already."""

from __future__ import annotations

from dataclasses import replace

from labmon.models import Alert

REPEAT = "possibly a repeat: the collector stopped while sending it"
TAKEN_OVER = "possibly a repeat: the other collector stopped while sending it"
"""A pair's: the active said it sends it and stopped before it said its outbox had it."""


def said_again(alert: Alert, why: str = REPEAT) -> Alert:
    """Return `alert` saying that it may have gone out before (a run stopped between asking and the answer's delete)."""
    return replace(alert, message=f"{alert.message} ({why})", labels={**alert.labels, "possibly_repeat": "yes"})
