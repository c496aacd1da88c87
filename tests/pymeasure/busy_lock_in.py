"""A busy lock-in's day, shared by the scpi and pymeasure tests: cycles of reads with late and split answers."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from labmon.models import Reading
from labmon_measurer.sampling import InstrumentRunner, read_all
from tests.pymeasure.emulators import LineInstrument, lock_in

OUTPUTS = {"x": 1.1e-3, "y": -2.2e-3, "r": 2.459675e-3, "theta": -63.43495}
"""What the emulated SR830 answers to OUTP? 1 to 4: each a value no other can be mistaken for."""


@pytest.fixture
def serial_lock_in() -> Iterator[LineInstrument]:
    """The emulated SR830 on a pseudo-terminal."""
    running = lock_in().start_serial()
    yield running
    running.stop()


def late_once(instrument: Any, lock_in: LineInstrument) -> tuple[str, dict[str, float | None]]:
    """Read with the first answer late; return the failed read's error and the next read's values."""
    lock_in.late_seconds = 0.45  # past a 0.3 s visa_timeout
    try:
        lock_in.habit_next("late")
        with pytest.raises(TimeoutError) as raised:
            instrument.read()
        return str(raised.value), {r.name: r.value for r in instrument.read()}
    finally:
        instrument.close()


@dataclass
class Day:
    """What the cycles showed: ok readings whose value is another's, and which cycles were late or failed."""

    shifted: list[Reading] = field(default_factory=list)
    late: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)


def busy_day(runner: InstrumentRunner, lock_in: LineInstrument, names: list[str], cycles: int = 100) -> Day:
    """Read `cycles` times; a few queries are answered after the timeout, many in two writes."""
    lock_in.late_seconds = 1.5  # past the runner's 1 s visa_timeout, within the quiet wait that follows it
    rng, day = random.Random(7), Day()
    try:
        for cycle in range(cycles):
            habits = [rng.choice(["", "", "split"]) for _ in names]
            if rng.random() < 0.06:
                habits[rng.randrange(len(habits))] = "late"
                day.late.add(cycle)
            for habit in habits:
                lock_in.habit_next(habit)
            readings = read_all([runner])
            expected = dict(zip(names, OUTPUTS.values(), strict=True))
            day.shifted += [r for r in readings if r.status == "ok" and r.value != pytest.approx(expected[r.name])]
            if any(r.status == "error" for r in readings):
                day.failed.add(cycle)
                lock_in.forget_habits()  # those of the queries the failed read never sent
    finally:
        runner.close()
    return day
