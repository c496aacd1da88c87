"""A trace that is really new, asked for at the scope's pace, from a scope that sends each answer on its own."""

import pytest

from labmon_rigol.emulator import ScopeEmulator, ScopeState
from labmon_rigol.scope import RigolConfig, RigolScope


@pytest.fixture
def slow_scope():
    """A scope with real timing: 20 ms per acquisition and per running frame, each answer in its own segment."""
    running = ScopeEmulator(state=ScopeState(acquisition_time=0.02, frame_period=0.02, separate_answers=True)).start()
    yield running
    running.disappear()


def read_traces(emulator, count, **options):
    instrument = RigolScope(RigolConfig(resource=emulator.resource, metrics=["jitter"], traces=count, **options))
    try:
        return instrument.traces(1, count).volts
    finally:
        instrument.close()


def test_screen_mode_on_a_running_scope_returns_each_frame_once(slow_scope):
    volts = read_traces(slow_scope, 10, acquire="screen")
    assert volts.shape == (10, 1400) and len({row.tobytes() for row in volts}) == 10  # no frame read twice
    asked = slow_scope.commands.count(":WAV:DATA?")
    assert asked < 6 * 10, asked  # paced at the frame period: unpaced, a 20 ms frame is asked for ~100 times


def test_screen_mode_waits_no_longer_than_trigger_timeout_for_a_new_frame(emulator):
    emulator.state.frame_period = 60.0  # the screen never changes within the read
    instrument = RigolScope(
        RigolConfig(resource=emulator.resource, metrics=["mean"], traces=3, acquire="screen", trigger_timeout=0.1)
    )
    got = {r.name: r.error for r in instrument.read()}
    instrument.close()
    assert "only 1 of 3 traces valid" in got["ch1_mean"] and "no new screen within 0.1 s" in got["ch1_mean"]


def test_single_acquisitions_are_waited_for_without_flooding_the_scope(slow_scope):
    volts = read_traces(slow_scope, 20)
    assert volts.shape == (20, 1400) and slow_scope.acquisitions == 20
    polls = slow_scope.commands.count(":TRIG:STAT?")
    assert polls < 10 * 20, polls  # unpaced: ~450 per 20 ms acquisition


def test_every_answer_sent_on_its_own_still_reads_right(slow_scope):
    instrument = RigolScope(
        RigolConfig(resource=slow_scope.resource, measurements=["vpp"], metrics=["peak_presence", "jitter"], traces=5)
    )
    got = {r.name: r.value for r in instrument.read()}
    instrument.close()
    assert got["ch1_peak_presence"] == 1.0 and 3.0 < got["ch1_vpp"] < 3.3 and got["ch1_jitter"] < 1e-8
    assert not [m for m in slow_scope.messages if m.count("?") > 1]  # one query per round trip
