"""The real plugin through real pyvisa-py over TCP to the emulator."""

import numpy as np
import pytest

from labmon.config import PluginEntry
from labmon_measurer.sampling import InstrumentRunner, read_all
from labmon_rigol.scope import RigolConfig, RigolScope
from tests.conftest import invoke


def scope(emulator, **options):
    return RigolScope(RigolConfig(resource=emulator.resource, visa_timeout=1.0, **options))


def values(readings):
    return {r.name: (r.value if r.status == "ok" else r.error) for r in readings}


def test_identifies_the_model_and_reads_measurements_with_units(emulator):
    instrument = scope(emulator, measurements=["vpp", "vavg"])
    assert instrument.model == "DS2072A" and instrument.points == 1400
    readings = instrument.read()
    instrument.close()
    assert [(r.name, r.unit, r.status) for r in readings] == [("ch1_vpp", "V", "ok"), ("ch1_vavg", "V", "ok")]
    assert 7 < readings[0].value < 8.5  # a 3 V peak above a -4.68 V marker


def test_a_ds1000z_has_1200_screen_points(emulator):
    emulator.state.model = "DS1104Z"
    instrument = scope(emulator, metrics=["peak_time"])
    _, volts = instrument.traces(1, 2)
    instrument.close()
    assert instrument.points == 1200 and volts.shape == (2, 1200)


def test_an_invalid_measurement_is_an_error_reading_not_a_value(emulator):
    emulator.state.invalid = frozenset({"VPP"})
    instrument = scope(emulator, measurements=["vpp", "frequency", "vavg"])
    got = values(instrument.read())
    instrument.close()
    assert "no valid measurement" in got["ch1_vpp"] and "no valid measurement" in got["ch1_frequency"]
    assert isinstance(got["ch1_vavg"], float)


def test_sets_the_waveform_settings_it_relies_on(emulator):
    instrument = scope(emulator, channels=[2], metrics=["mean"])
    instrument.read()
    instrument.close()
    assert emulator.commands[1:4] == [":WAV:SOUR CHAN2", ":WAV:MODE NORM", ":WAV:FORM BYTE"]


def test_binary_blocks_with_newline_bytes_read_whole(emulator):
    instrument = scope(emulator, metrics=["min"])
    _, volts = instrument.traces(1, 3)
    instrument.close()
    assert volts.shape == (3, 1400)
    assert np.count_nonzero(np.isclose(volts, (10 - 127) * 0.04)) >= 3 * 20  # the 0x0A samples survived


def test_lock_jitter_rises_when_the_laser_unlocks(emulator):
    instrument = scope(emulator, metrics=["jitter", "peak_count", "peak_time"], traces=50)
    locked = values(instrument.read())
    emulator.state.locked = False
    emulator.state.peaks = 2  # unlocked: one of the two peaks is gone, the other wanders
    unlocked = values(instrument.read())
    instrument.close()
    assert locked["ch1_jitter"] < 1e-8 < 1e-7 < unlocked["ch1_jitter"]
    assert locked["ch1_peak_count"] == 1
    assert locked["ch1_peak_time"] == pytest.approx(-2e-6, abs=2e-8)


def test_jitter_of_the_highest_peak(emulator):
    emulator.state.peaks = 2  # two equal peaks 2.5 us apart: the highest is either, so its time jumps
    first = values(scope(emulator, metrics=["jitter"], traces=30).read())["ch1_jitter"]
    highest = values(scope(emulator, metrics=["jitter"], traces=30, peak="highest").read())["ch1_jitter"]
    assert first < 1e-8 < 1e-7 < highest


def test_a_short_block_is_an_error_reading(emulator):
    emulator.state.short_blocks = True
    instrument = scope(emulator, metrics=["mean", "jitter"], traces=2)
    got = values(instrument.read())
    instrument.close()
    assert "sent 700 of 1400 points" in got["ch1_mean"] and "short block" in got["ch1_jitter"]


def test_a_scope_that_disappears_gives_error_readings_then_comes_back(emulator):
    entry = PluginEntry(
        "scope",
        "rigol",
        RigolScope,
        RigolConfig(resource=emulator.resource, measurements=["vpp"], visa_timeout=0.5),
        3.0,
    )
    runner = InstrumentRunner(entry)
    assert read_all([runner])[0].status == "ok"
    emulator.disappear()
    gone = read_all([runner])
    assert gone[0].status == "error" and gone[0].instrument == "scope"
    assert read_all([runner])[0].status == "error"  # still gone: reopening fails, still an error reading
    emulator.reappear()
    assert read_all([runner])[0].status == "ok"
    runner.close()


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"measurements": ["vp"]}, "unknown measurements"),
        ({"metrics": ["jiter"]}, "unknown metrics"),
        ({}, "nothing to read"),
        ({"metrics": ["jitter"], "traces": 1}, "at least 2 for jitter"),
        ({"metrics": ["mean"], "channels": [5]}, "numbered 1 to 4"),
    ],
)
def test_config_mistakes_are_explained(options, complaint):
    with pytest.raises(ValueError, match=complaint):
        RigolConfig(resource="USB0::0x1AB1::0x04B0::DS2D000000001::INSTR", **options)


def test_labmon_read_prints_the_emulated_scope_with_units(emulator, write_config):
    instruments = {
        "scope": {
            "type": "rigol",
            "resource": emulator.resource,
            "measurements": ["vpp"],
            "metrics": ["jitter"],
            "traces": 10,
        }
    }
    config = write_config({"measurer": {"name": "table1", "instruments": instruments}})
    result = invoke("read", str(config.path))
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()}
    assert lines["scope/ch1_vpp"][1] == "V" and lines["scope/ch1_jitter"][1] == "s"
