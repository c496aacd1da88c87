"""Fixtures of labmon-rigol's tests: the scope emulator and a scripted SCPI ion-pump controller."""

import pytest

from labmon_rigol.emulator import ScopeEmulator, ScopeState
from tests.pymeasure.busy_lock_in import serial_lock_in  # noqa: F401  the emulated SR830 on a serial line


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    """Where a scope's run state is noted while labmon has it: this test's own."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "labmon"


@pytest.fixture
def emulator():
    running = ScopeEmulator(state=ScopeState(peaks=1)).start()
    yield running
    running.disappear()
