"""Instruments through pymeasure's drivers: `type = "pymeasure"`, `driver = "pymeasure.instruments...."`."""

from __future__ import annotations

from labmon import Register, hookimpl
from labmon_pymeasure.instrument import PymeasureInstrument


@hookimpl
def labmon_register_instruments(register: Register) -> None:
    register("pymeasure", PymeasureInstrument)
