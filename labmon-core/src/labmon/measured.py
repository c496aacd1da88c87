"""What an instrument's number means: SCPI's "no valid measurement" values are error readings, never values."""

from __future__ import annotations

import math

from labmon.models import Reading

SCPI_INFINITY = 9.9e37
"""What a SCPI instrument answers over range (a Keithley 2000 on too low a range), or -9.9E37 below it."""
SCPI_NOT_A_NUMBER = 9.91e37
"""What a SCPI instrument answers when a measurement has no value at all."""
_SAME = 1e-4  # 9.9E37 and 9.91E37 differ by 1e-3; both are printed with a few digits at most


def no_value_reason(number: float) -> str | None:
    """Return why `number` is no measurement ("over range ...", "no valid measurement ..."), or None if it is one."""
    if math.isnan(number):
        return "no valid measurement (the instrument answered NaN)"
    if math.isinf(number):
        return f"over range (the instrument answered {number})"
    magnitude = abs(number)
    if math.isclose(magnitude, SCPI_NOT_A_NUMBER, rel_tol=_SAME):
        return f"no valid measurement (the instrument answered {number:+.2E}, SCPI's not-a-number)"
    if magnitude >= SCPI_INFINITY * (1 - _SAME):
        return f"over range (the instrument answered {number:+.1E}, SCPI's infinity)"
    return None


def measured(name: str, number: float, unit: str = "", scale: float = 1.0) -> Reading:
    """Return the reading of a number an instrument answered, times `scale`; a no-value number is an error reading."""
    reason = no_value_reason(number)
    if reason is not None:
        return Reading.failed(name, reason, unit)
    return Reading.ok(name, number * scale, unit)
