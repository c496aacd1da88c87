"""A large lab's cycle for the benches that time what is done with one: new values every cycle."""

from __future__ import annotations

import random

from labmon.models import Batch, Reading, Result


def cycle(number: int, measurers: int, readings: int) -> Batch:
    """Return a cycle's batch: every measurer answers with new values, one in 20 readings an error."""
    at = 1.765e9 + 60 * number
    results = tuple(
        Result(
            "q",
            f"m{m}",
            at + random.random(),
            tuple(
                Reading.failed(f"r{r}", "no answer")
                if r % 20 == 19
                else Reading.ok(f"r{r}", random.gauss(350, 1), "degC")
                for r in range(readings)
            ),
        )
        for m in range(measurers)
    )
    return Batch(number, at, results, ("silent",))


def reading(number: int) -> Reading:
    """Return reading `number` of a measurer: a temperature, or an error for one in 20."""
    if number % 20 == 19:
        return Reading.failed(f"r{number}", "no answer")
    return Reading.ok(f"r{number}", random.gauss(350, 1), "degC")
