"""Fixtures of labmon-pymeasure's tests: an emulated power meter and temperature controller on loopback TCP."""

import pytest

from tests.pymeasure.busy_lock_in import serial_lock_in  # noqa: F401  the emulated SR830 on a serial line
from tests.pymeasure.emulators import power_meter, temperature_controller


@pytest.fixture
def meter():
    running = power_meter().start()
    yield running
    running.stop()


@pytest.fixture
def controller():
    running = temperature_controller().start()
    yield running
    running.stop()
