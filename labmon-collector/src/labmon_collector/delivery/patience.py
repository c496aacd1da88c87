"""A slow service gets a longer timeout after a try that ran out of it: fewer copies of an item than one a try.

A service that takes 20 s to answer a plugin that waits 15 s does the work each time and answers too late:
every retry was another copy (6-7 of one alert). Each timed-out try doubles the plugin's timeout, up to
MAX_PATIENCE times the configured one, through the plugin's optional `set_timeout(seconds)`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

MAX_PATIENCE = 4.0
"""A timeout grows to at most this many times the configured one."""
RAN_OUT = 0.9
"""A failed try that took this share of the timeout or more ran out of it."""

T = TypeVar("T")


def patient(target: str, plugin: Any, deliver: Callable[[T], None]) -> Callable[[T], None]:
    """Return `deliver`, lengthening `plugin`'s timeout after a try that ran out of it (if the plugin can)."""
    timeout = getattr(plugin, "timeout", None)
    if not callable(getattr(plugin, "set_timeout", None)) or not isinstance(timeout, int | float):
        return deliver
    longest = MAX_PATIENCE * timeout

    def attempt(item: T) -> None:
        started = time.monotonic()
        try:
            deliver(item)
        except Exception:
            now = plugin.timeout
            if time.monotonic() - started >= RAN_OUT * now and now < longest:
                plugin.set_timeout(min(2 * now, longest))
                log.warning("%s took %.1fs and failed: the next try waits up to %gs", target, now, plugin.timeout)
            raise

    return attempt
