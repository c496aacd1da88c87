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


def read_once(emulator, **options):
    instrument = scope(emulator, **options)
    try:
        return values(instrument.read())
    finally:
        instrument.close()


def test_identifies_the_model_and_reads_measurements_with_units(emulator):
    instrument = scope(emulator, measurements=["vpp", "vmin"])
    assert instrument.model == "DS2072A" and instrument.points == 1400
    readings = instrument.read()
    instrument.close()
    assert [(r.name, r.unit, r.status) for r in readings] == [("ch1_vpp", "V", "ok"), ("ch1_vmin", "V", "ok")]
    assert 3.0 < readings[0].value < 3.3 and -0.2 < readings[1].value < 0  # a 3 V peak on 0.02 V of noise


def test_a_ds1000z_has_1200_screen_points(emulator):
    emulator.state.model = "DS1104Z"
    instrument = scope(emulator, metrics=["peak_time"], channels=[4])
    volts = instrument.traces(4, 2).volts
    instrument.close()
    assert instrument.points == 1200 and volts.shape == (2, 1200)


def test_a_channel_the_scope_lacks_is_refused_when_it_connects(emulator):
    with pytest.raises(ValueError, match=r"DS2072A at .* has channels 1 to 2"):
        scope(emulator, metrics=["mean"], channels=[3])


def test_an_invalid_measurement_is_an_error_reading_not_a_value(emulator):
    emulator.state.invalid = frozenset({"VPP"})
    got = read_once(emulator, measurements=["vpp", "frequency", "vavg"])
    assert "no valid measurement" in got["ch1_vpp"] and "no valid measurement" in got["ch1_frequency"]
    assert isinstance(got["ch1_vavg"], float)


def test_sets_the_waveform_settings_it_relies_on(emulator):
    read_once(emulator, channels=[2], metrics=["mean"])
    first = emulator.commands.index(":WAV:SOUR CHAN2")
    assert emulator.commands[first : first + 4] == [":WAV:SOUR CHAN2", ":WAV:MODE NORM", ":WAV:FORM BYTE", ":WAV:PRE?"]


def test_binary_blocks_with_newline_bytes_read_whole(emulator):
    instrument = scope(emulator, metrics=["min"])
    volts = instrument.traces(1, 3).volts
    instrument.close()
    assert volts.shape == (3, 1400)
    assert np.count_nonzero(volts == 0.0) >= 3 * 200  # 0 V is byte 0x0A: the baseline's samples survived


def test_single_mode_reads_a_new_acquisition_per_trace_and_restores_run(emulator):
    instrument = scope(emulator, metrics=["jitter"], traces=20)
    volts = instrument.traces(1, 20).volts
    instrument.close()
    assert emulator.acquisitions == 20
    assert len({row.tobytes() for row in volts}) == 20  # no trace is a re-read of another
    assert emulator.commands[-3:] == [":TRIG:SWE AUTO", ":RUN", ":TRIG:STAT?"]  # restored, the answer waited for
    assert emulator.answer(":TRIG:STAT?") == b"RUN\n"


def test_no_trigger_is_an_error_reading_that_says_so_and_restores_run(emulator):
    emulator.state.triggers = False
    got = read_once(emulator, metrics=["jitter", "peak_presence"], traces=4, trigger_timeout=0.05)
    assert "only 0 of 4 traces valid" in got["ch1_jitter"] and "no trigger within 0.05 s" in got["ch1_peak_presence"]
    assert emulator.commands[-2:] == [":RUN", ":TRIG:STAT?"] and emulator.answer(":TRIG:STAT?") == b"RUN\n"


def test_bad_blocks_are_retried_dropped_and_counted(emulator):
    emulator.state.short_rate = emulator.state.garbled_rate = 0.05
    got = read_once(emulator, metrics=["jitter", "valid_traces"], traces=100)
    assert got["ch1_jitter"] < 1e-8 and 95 <= got["ch1_valid_traces"] <= 100
    assert emulator.acquisitions > 100  # a retried trace is a new acquisition too


def test_a_stalled_block_is_retried_after_the_timeout(emulator):
    emulator.state.stall_rate = 0.1
    instrument = RigolScope(
        RigolConfig(resource=emulator.resource, visa_timeout=0.3, metrics=["jitter", "valid_traces"], traces=20)
    )
    got = values(instrument.read())
    instrument.close()
    assert got["ch1_jitter"] < 1e-8 and 18 <= got["ch1_valid_traces"] <= 20


def test_too_many_bad_traces_is_an_error_reading_saying_why(emulator):
    emulator.state.short_rate = 0.6
    got = read_once(emulator, metrics=["mean", "jitter"], traces=40)
    assert "of 40 traces valid (min_valid_traces 0.9)" in got["ch1_mean"]
    assert "short block (fewer than the 1400 points of the screen)" in got["ch1_jitter"]


def test_presence_and_jitter_separate_locked_from_unlocked_at_300_traces_with_bad_blocks(emulator):
    emulator.state.short_rate = emulator.state.garbled_rate = 0.02
    metrics = ["peak_presence", "jitter", "peak_count"]
    locked = read_once(emulator, metrics=metrics, traces=300, min_presence=0.1)
    emulator.state.locked = False
    unlocked = read_once(emulator, metrics=metrics, traces=300, min_presence=0.1)
    assert locked["ch1_peak_presence"] == 1.0 and unlocked["ch1_peak_presence"] < 0.5
    assert locked["ch1_jitter"] < 1e-8 < 1e-7 < unlocked["ch1_jitter"]  # two decades apart at least
    assert locked["ch1_jitter"] == pytest.approx(2e-9, rel=0.3)  # the laser's jitter, not the noise's
    assert locked["ch1_peak_count"] == 1 and unlocked["ch1_peak_count"] == 0


def test_jitter_is_an_error_reading_when_the_peak_is_mostly_missing(emulator):
    emulator.state.locked = False
    got = read_once(emulator, metrics=["jitter", "peak_time", "peak_presence"], traces=50)
    assert got["ch1_peak_presence"] < 0.5
    assert got["ch1_jitter"].startswith("peak missing in ") and "of 50 traces" in got["ch1_jitter"]
    assert got["ch1_peak_time"] == got["ch1_jitter"]


def test_noise_alone_has_no_peak(emulator):
    emulator.state.locked, emulator.state.unlocked_presence, emulator.state.noise_volts = False, 0.0, 0.05
    got = read_once(emulator, metrics=["peak_count", "peak_presence"], traces=30)
    assert got == {"ch1_peak_count": 0.0, "ch1_peak_presence": 0.0}


def test_jitter_of_the_highest_peak(emulator):
    emulator.state.peaks = 2  # two equal peaks 2.5 us apart: the highest is either, so its time jumps
    first = read_once(emulator, metrics=["jitter"], traces=30)["ch1_jitter"]
    highest = read_once(emulator, metrics=["jitter"], traces=30, peak="highest")["ch1_jitter"]
    assert first < 1e-8 < 1e-7 < highest


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


USB = "USB0::0x1AB1::0x04B0::DS2D000000001::INSTR"


@pytest.mark.parametrize(
    ("options", "key", "complaint"),
    [
        ({"measurements": ["vp"]}, "measurements", "unknown"),
        ({"metrics": ["jiter"]}, "metrics", "unknown"),
        ({}, "metrics", "nothing to read"),
        ({"metrics": ["jitter"], "traces": 1}, "traces", "jitter needs at least 2 traces"),
        ({"metrics": ["mean"], "traces": 0}, "traces", "at least 1"),
        ({"metrics": ["mean"], "peak_min_height": 0.0}, "peak_min_height", "above 0 V"),
        ({"metrics": ["mean"], "channels": [5]}, "channels", "channels 1 to 4"),
        ({"metrics": ["mean"], "channels": [3], "model": "DS2072A"}, "channels", "DS2072A has channels 1 to 2"),
        ({"metrics": ["mean"], "model": "scope"}, "model", "not a Rigol model"),
        ({"metrics": ["mean"], "min_presence": 0.0}, "min_presence", "not a fraction"),
        ({"metrics": ["mean"], "resource": "192.168.1.20"}, "resource", "not a VISA resource"),
        ({"metrics": ["mean"], "resource": "TCPIP0::scope:5555::SOCKET"}, "resource", "port part is mandatory"),
        ({"metrics": ["mean"], "resource": "USB0::0x1AB1::0x04B0::INSTR"}, "resource", "serial_number"),
        ({"metrics": ["mean"], "resource": "GPIB0::5::INSTR"}, "resource", "a GPIB resource"),
    ],
)
def test_config_mistakes_are_explained(options, key, complaint):
    from labmon import OptionError

    with pytest.raises(OptionError, match=complaint) as raised:
        RigolConfig(**{"resource": USB, **options})
    assert raised.value.key == key


def test_check_reports_every_mistake_of_a_file_in_one_run(write_config, tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(
        '[measurer]\nname = "t1"\n[measurer.instruments.scope]\ntype = "rigol"\n'
        'resource = "TCPIP0::192.168.1.20:5555::SOCKET"\nmodel = "DS2072A"\nchannels = [1, 3]\n'
        'metrics = ["jitter", "jiter"]\ntraces = 1\nvisa_timeout = 5\npeak_treshold = 0.3\n'
    )
    result = invoke("check", str(path))
    assert result.exit_code == 1
    for expected in (
        "resource: 'TCPIP0::192.168.1.20:5555::SOCKET'",
        "fix: write it like TCPIP0::192.168.1.20::5555::SOCKET",
        "metrics: unknown ['jiter']",
        "traces: jitter needs at least 2 traces",
        "channels: the DS2072A has channels 1 to 2",
        "visa_timeout: expected a duration string",
        "peak_treshold: unknown key",
    ):
        assert expected in result.output, result.output


def test_labmon_read_prints_the_emulated_scope_with_units(emulator, write_config):
    instruments = {
        "scope": {
            "type": "rigol",
            "resource": emulator.resource,
            "measurements": ["vpp"],
            "metrics": ["jitter", "peak_presence"],
            "traces": 10,
        }
    }
    config = write_config({"measurer": {"name": "table1", "instruments": instruments}})
    result = invoke("read", str(config.path))
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()}
    assert lines["scope/ch1_vpp"][1] == "V" and lines["scope/ch1_jitter"][1] == "s"
    assert lines["scope/ch1_peak_presence"] == ["1"]


def test_calibrate_proposes_a_presence_rule_from_both_states_of_the_emulated_laser(emulator, write_config, tmp_path):
    scope_table = {"type": "rigol", "resource": emulator.resource, "metrics": ["peak_presence", "jitter"], "traces": 40}
    config = str(write_config({"measurer": {"name": "table1", "instruments": {"scope": scope_table}}}).path)
    emulator.state.locked = False
    bad_file = str(tmp_path / "unlocked.json")
    record = ("calibrate", config, "scope/ch1_peak_presence", "--samples", "8", "--every", "0s")
    assert invoke(*record, "--state", "bad", "--save", bad_file).exit_code == 0
    emulator.state.locked = True
    result = invoke(*record, "--state", "good", "--against", bad_file)
    assert result.exit_code == 0, result.output
    assert "proposed rule: below" in result.output  # the side from the data: presence falls when unlocked
    assert "fires on 100.0% of the bad recording, on 0.0% of the good one" in result.output
    jitter = invoke("calibrate", config, "scope/ch1_jitter", "--samples", "5", "--every", "0s")
    assert jitter.exit_code == 0 and "5 samples in s" in jitter.output  # locked, jitter is a value to record
