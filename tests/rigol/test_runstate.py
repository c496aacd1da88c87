"""The scope left as found: by hand it is not taken, and a stalled or killed read is undone at the next open."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from labmon.config import PluginEntry
from labmon.testing import wait_until
from labmon_measurer.sampling import InstrumentRunner, read_all
from labmon_rigol.runstate import STOPPED_BY_HAND
from labmon_rigol.scope import RigolConfig, RigolScope


def scope(emulator, **options):
    return RigolScope(RigolConfig(resource=emulator.resource, visa_timeout=1.0, **options))


def read_once(emulator, **options):
    instrument = scope(emulator, **options)
    try:
        return {r.name: (r.value if r.status == "ok" else r.error) for r in instrument.read()}
    finally:
        instrument.close()


def run_state(emulator):
    return emulator.answer(":TRIG:STAT?").decode().strip(), emulator.answer(":TRIG:SWE?").decode().strip()


def stop_by_hand(emulator):
    emulator.answer(":SING")
    wait_until(lambda: emulator.answer(":TRIG:STAT?") == b"STOP\n", what="the single acquisition")
    emulator.commands.clear()


@pytest.mark.parametrize("acquire", ["single", "screen"])
def test_a_scope_stopped_by_hand_is_not_read_and_not_touched(emulator, acquire):
    stop_by_hand(emulator)
    got = read_once(emulator, measurements=["vpp"], metrics=["jitter"], traces=5, acquire=acquire)
    assert set(got) == {"ch1_vpp", "ch1_jitter"}
    assert all(error.startswith(STOPPED_BY_HAND) and "take_over = true" in error for error in got.values())
    assert run_state(emulator) == ("STOP", "SING") and emulator.acquisitions == 1
    assert not [c for c in emulator.commands if c in (":SING", ":RUN", ":STOP") or c.startswith(":TRIG:SWE ")]


def test_a_single_armed_by_hand_is_not_read_and_stays_armed(emulator):
    emulator.state.triggers = False
    emulator.answer(":SING")  # the user waits for one event
    got = read_once(emulator, measurements=["vpp"], metrics=["jitter"], traces=5)
    assert got["ch1_vpp"].startswith("scope armed for a single by hand; not read")
    assert run_state(emulator) == ("WAIT", "SING") and emulator.commands.count(":SING") == 1


def test_take_over_reads_new_acquisitions_of_a_stopped_scope_and_leaves_it_stopped(emulator):
    stop_by_hand(emulator)
    emulator.answer(":TRIG:SWE NORM")
    instrument = scope(emulator, measurements=["vpp"], metrics=["peak_presence"], traces=5, take_over=True)
    readings = instrument.read()
    screen = instrument.traces(1, 5)  # acquire = "auto" with screen reads: a stopped scope has no new screen
    instrument.close()
    assert all(r.status == "ok" for r in readings)
    assert emulator.acquisitions == 1 + 1 + 5 + 5  # by hand, one for the measurement, then one per trace
    assert len({row.tobytes() for row in screen.volts}) == 5
    assert run_state(emulator) == ("STOP", "NORM")


def test_take_over_is_validated(write_config):
    from labmon.options import ConfigError

    instruments = {"scope": {"type": "rigol", "resource": "TCPIP0::10.0.0.2::5555::SOCKET", "metrics": ["mean"]}}
    instruments["scope"]["take_over"] = "yes"
    with pytest.raises(ConfigError, match="take_over"):
        write_config({"measurer": {"name": "t1", "instruments": instruments}})


def test_a_read_that_stalls_names_the_stalled_command_and_the_next_open_puts_the_scope_back(emulator, state_dir):
    emulator.answer(":TRIG:SWE NORM")
    emulator.answer(":RUN")
    config = RigolConfig(resource=emulator.resource, metrics=["jitter"], traces=20, visa_timeout=0.3)
    runner = InstrumentRunner(PluginEntry("scope", "rigol", RigolScope, config, 30.0))
    emulator.state.hang_after_blocks = 3  # mid-read, the scope hangs
    try:
        (stalled,) = read_all([runner])
        assert stalled.status == "error" and "no answer to ':SING;:TRIG:STAT?'" in stalled.error  # the block's retry
        assert ":RUN" not in stalled.error
        emulator.state.hung = False
        assert run_state(emulator) == ("STOP", "SING")  # as the stall left it
        assert list(state_dir.glob("rigol/*.found"))
        readings = read_all([runner])
        assert [r.status for r in readings] == ["ok"]
        assert run_state(emulator) == ("RUN", "NORM") and not list(state_dir.glob("rigol/*.found"))
    finally:
        runner.close()


KILLED = """
from labmon_rigol.scope import RigolConfig, RigolScope
RigolScope(RigolConfig(resource={resource!r}, metrics=["jitter"], traces=100000, visa_timeout=5.0)).read()
"""


def test_a_read_killed_midway_is_undone_at_the_next_open(emulator, state_dir):
    code = textwrap.dedent(KILLED.format(resource=emulator.resource))
    child = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    try:
        wait_until(lambda: emulator.acquisitions >= 3, timeout=60, what="the child's acquisitions")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert run_state(emulator)[1] == "SING" and list(state_dir.glob("rigol/*.found"))
    read_once(emulator, measurements=["vpp"])
    assert run_state(emulator) == ("RUN", "AUTO") and not list(state_dir.glob("rigol/*.found"))
