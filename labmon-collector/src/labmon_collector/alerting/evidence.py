"""Attach to an alert a PNG of its series over the last hour with its threshold, read from the history."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from labmon_collector.alerting.pngplot import render
from labmon_collector.history.reader import HistoryWhenMade

log = logging.getLogger(__name__)
SPAN = 3600.0
PLOT_KEY = "plot_png"
"""The outbox payload key of the attached PNG (base64): the alert itself stays a plain Alert."""


class Evidence:
    """Renders plots from the first `sqlite` sink's file, opened once it exists."""

    def __init__(self, path: Path | None) -> None:
        self._history = HistoryWhenMade(path)

    def attach(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Return the alert payload with its plot added; as it was if its series is not in the history."""
        at = float(payload["at"])
        firing = (float(payload.get("since") or at), at)
        title = f"{payload.get('rule', '')}: {payload['series']}"
        png = self.plot(str(payload["series"]), payload.get("threshold"), at, title=title, firing=firing)
        return payload if png is None else {**payload, PLOT_KEY: base64.b64encode(png).decode()}

    def plot(
        self,
        series: str,
        threshold: float | None,
        now: float,
        *,
        title: str = "",
        firing: tuple[float, float] | None = None,
    ) -> bytes | None:
        """Return the PNG of `series` over the hour before `now`, or None without a history of it."""
        history = self._history.get()
        found = history.series(series) if history is not None else []
        if history is None or len(found) != 1:
            return None
        points = [(t, v) for t, v, _, _ in history.readings(found[0].id, now - SPAN, now)]
        return render(points, now - SPAN, now, threshold, title=title or series, unit=found[0].unit, firing=firing)

    def close(self) -> None:
        """Close the history."""
        self._history.close()


def take_plot(payload: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """Split an outbox payload into the alert's own fields and its PNG, if any."""
    rest = {k: v for k, v in payload.items() if k != PLOT_KEY}
    return rest, base64.b64decode(payload[PLOT_KEY]) if PLOT_KEY in payload else None
