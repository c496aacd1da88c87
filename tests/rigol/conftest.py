"""Fixtures of labmon-rigol's tests: the scope emulator and a scripted SCPI ion-pump controller."""

import pytest

from labmon_rigol.emulator import ScopeEmulator, ScopeState


@pytest.fixture
def emulator():
    running = ScopeEmulator(state=ScopeState(peaks=1)).start()
    yield running
    running.disappear()
