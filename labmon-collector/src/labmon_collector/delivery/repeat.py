"""What a message sent again after a restart says: the run before may have sent it already."""

from __future__ import annotations

from dataclasses import replace

from labmon.models import Alert

REPEAT = "possibly a repeat: the collector stopped while sending it"


def said_again(alert: Alert) -> Alert:
    """Return `alert` saying that it may have gone out before (a run stopped between asking and the answer's delete)."""
    return replace(alert, message=f"{alert.message} ({REPEAT})", labels={**alert.labels, "possibly_repeat": "yes"})
