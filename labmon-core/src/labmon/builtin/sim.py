"""The `sim` instrument: deterministic simulated signals, so demos and tests need no hardware."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from labmon.hookspecs import Register, hookimpl
from labmon.models import Reading
from labmon.options import Duration, check_spans


@dataclass(frozen=True)
class SimConfig:
    """Options of a simulated instrument."""

    signal: Literal["constant", "sine", "random-walk", "laser-lock"] = "constant"
    reading: str = "value"
    unit: str = ""
    level: float = 0.0
    amplitude: float = 1.0
    period: Duration = Duration(60.0)
    noise: float = 0.0
    seed: int = 0
    unlock_every: Duration = Duration(0.0)
    unlock_for: Duration = Duration(0.0)
    fail_every: int = 0
    delay: Duration = Duration(0.0)
    """How long each read takes, as a slow scope's does."""

    def __post_init__(self) -> None:
        check_spans(self, period="1s")
        if self.unlock_for > self.unlock_every:
            raise ValueError("unlock_for must not be longer than unlock_every")


class SimInstrument:
    """One simulated reading: constant, sine, random walk, or a laser lock that drops out on a schedule.

    level is the constant value, the sine's offset, the walk's start, or the locked level; amplitude is
    the sine's amplitude, the walk's step, or how far the signal jumps when the laser unlocks. The laser
    is unlocked for the last `unlock_for` of every `unlock_every`. Every `fail_every`-th read raises.
    """

    Config = SimConfig

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._start = clock()
        self._rng = random.Random(config.seed)
        self._walk = config.level
        self._reads = 0
        self.in_process = not config.delay
        """It computes its value without waiting (unless `delay` says otherwise): the measurer may read it inline."""

    def read(self) -> list[Reading]:
        """Return the signal's value now."""
        c = self.config
        self._reads += 1
        if c.delay:
            time.sleep(c.delay)
        if c.fail_every and self._reads % c.fail_every == 0:
            raise ConnectionError("simulated instrument failure")
        t = self._clock() - self._start
        value = self._signal(t) + (self._rng.gauss(0.0, c.noise) if c.noise else 0.0)
        return [Reading.ok(c.reading, value, c.unit)]

    def unlocked(self, t: float) -> bool:
        """Return whether the simulated laser is out of lock `t` seconds after start."""
        c = self.config
        return c.unlock_every > 0 and t % c.unlock_every >= c.unlock_every - c.unlock_for

    def _signal(self, t: float) -> float:
        c = self.config
        if c.signal == "sine":
            return c.level + c.amplitude * math.sin(2 * math.pi * t / c.period)
        if c.signal == "random-walk":
            self._walk += self._rng.uniform(-c.amplitude, c.amplitude)
            return self._walk
        if c.signal == "laser-lock":
            return c.level + (c.amplitude if self.unlocked(t) else 0.0)
        return c.level

    def close(self) -> None:
        """Nothing to release."""


@hookimpl
def labmon_register_instruments(register: Register) -> None:
    register("sim", SimInstrument)
