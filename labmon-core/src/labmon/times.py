"""Times as people write and read them: durations such as "500ms" or "1h30m", and ISO 8601 instants."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


MAX_DURATION = 10 * 365 * 86400.0
"""The longest duration labmon takes (10 years): longer ones overflow dates, and none means anything here."""


def parse_duration(text: str) -> float:
    """Return the number of seconds in `text` (at most MAX_DURATION), or raise ValueError saying how to write it."""
    cleaned = text.strip().replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise ValueError(f'"{text}" is not a duration; write it like "500ms", "60s", "20m", "1h30m" or "2d"')
    if not total <= MAX_DURATION:  # also catches inf and nan
        raise ValueError(f'"{text[:40]}" is longer than 10 years; write at most "3650d"')
    return total


def format_duration(seconds: float) -> str:
    """Return a short human form of `seconds`, e.g. "20m" or "1h5m"."""
    if 0 < seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2]) or "0s"


def iso(timestamp: float) -> str:
    """Return a UTC ISO 8601 time with millisecond precision."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
