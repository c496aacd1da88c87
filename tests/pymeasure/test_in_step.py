"""The `pymeasure` instrument's readings are true: in step after late and split answers, never over range,
set up at every open, tuples read as named fields. Serial instruments run on a pseudo-terminal that
pyvisa-py opens as `ASRL/dev/pts/N::INSTR`, through pymeasure's own SR830 and Keithley 2000 drivers."""

import pytest

from labmon import Duration, OptionError
from labmon.config import PluginEntry
from labmon_measurer.sampling import InstrumentRunner, read_all
from labmon_pymeasure.instrument import PropertyReading, PymeasureConfig, PymeasureInstrument
from tests.pymeasure.busy_lock_in import OUTPUTS, busy_day, late_once
from tests.pymeasure.emulators import multimeter

SR830 = "pymeasure.instruments.srs.SR830"
KEITHLEY = "pymeasure.instruments.keithley.Keithley2000"

NAMES = ["x", "y", "magnitude", "theta"]  # the driver's names of OUTP? 1 to 4


def lock_in_config(resource, read_termination="\r", visa_timeout=1.0, **options):
    readings = {name: PropertyReading(name) for name in NAMES}
    return PymeasureConfig(
        SR830, resource, readings, read_termination=read_termination, visa_timeout=Duration(visa_timeout), **options
    )


def test_late_and_split_answers_never_shift_a_value_over_100_cycles(serial_lock_in):
    config = lock_in_config(serial_lock_in.resource, visa_timeout=1.0)
    day = busy_day(
        InstrumentRunner(PluginEntry("lockin", "pymeasure", PymeasureInstrument, config)), serial_lock_in, NAMES
    )
    assert day.shifted == []
    assert day.late and day.failed == day.late  # error readings in the late cycles, and only there


def test_a_late_answer_is_named_and_dropped(serial_lock_in):
    error, values = late_once(
        PymeasureInstrument(lock_in_config(serial_lock_in.resource, visa_timeout=0.3)), serial_lock_in
    )
    assert error.startswith(f"no answer to x from {serial_lock_in.resource} within 0.3 s (visa_timeout)")
    assert "a late answer (b'1.100000E-03\\r') came after it and was dropped" in error
    assert values == pytest.approx(dict(zip(NAMES, OUTPUTS.values(), strict=True)))


def test_an_answer_with_another_ending_is_diagnosed(serial_lock_in):
    instrument = PymeasureInstrument(lock_in_config(serial_lock_in.resource, read_termination="\n", visa_timeout=0.3))
    try:
        with pytest.raises(TimeoutError) as raised:
            instrument.read()
    finally:
        instrument.close()
    assert "it does answer, with answers ending in '\\r'; set read_termination = '\\r'" in str(raised.value)


def test_a_tuple_property_is_several_readings_from_one_query(serial_lock_in):
    readings = {
        "xy": PropertyReading("xy", "V", fields=["x", "y"]),
        "xyz": PropertyReading("xy", "V", fields=["a", "b", "c"]),
    }
    config = PymeasureConfig(SR830, serial_lock_in.resource, readings, read_termination="\r")
    instrument = PymeasureInstrument(config)
    try:
        got = {r.name: r for r in instrument.read()}
    finally:
        instrument.close()
    assert (got["x"].value, got["y"].value, got["x"].unit) == (1.1e-3, -2.2e-3, "V")
    assert all(got[n].status == "error" and "2 values, not the 3 of fields" in got[n].error for n in "abc")
    assert serial_lock_in.queries == ["SNAP? 1,2", "SNAP? 1,2"]


@pytest.fixture
def meter():
    running = multimeter().start()
    yield running
    running.stop()


def meter_config(meter, **options):
    voltage = {"voltage": PropertyReading("voltage", "V")}
    return PymeasureConfig(KEITHLEY, meter.resource, voltage, read_termination="\n", **options)


def test_over_range_is_an_error_reading_not_a_value(meter):
    meter.state["over_range"] = True
    instrument = PymeasureInstrument(meter_config(meter))
    try:
        (over,) = instrument.read()
    finally:
        instrument.close()
    assert (over.status, over.value) == ("error", None)
    assert over.error == "over range (the instrument answered +9.9E+37, SCPI's infinity)"


def test_a_meter_left_on_ohms_is_set_up_again_at_every_open(meter):
    meter.late_seconds = 0.7
    config = meter_config(meter, setup={"mode": "voltage", "voltage_range": 10}, visa_timeout=Duration(0.5))
    runner = InstrumentRunner(PluginEntry("dmm", "pymeasure", PymeasureInstrument, config, 10.0))
    try:
        meter.state["mode"] = "RES"  # left on ohms by hand
        (first,) = read_all([runner])
        meter.state["mode"] = "RES"  # turned to ohms again while labmon runs
        meter.habit_next("late")  # and busy once: the read fails, the instrument is opened anew
        (failed,) = read_all([runner])
        (again,) = read_all([runner])
    finally:
        runner.close()
    for volts in (first, again):
        assert volts.status == "ok" and volts.value == pytest.approx(1.00014) and volts.unit == "V"
    assert failed.status == "error" and "late answer" in failed.error
    assert meter.queries.count(":CONF:VOLT:DC") == 2 and meter.queries.count(":SENS:VOLT:RANG 10") == 2


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"setup": {"moode": "voltage"}}, "setup.moode", "Keithley2000 has no property 'moode' (did you mean mode?)"),
        ({"setup": {"mode": "volts"}}, "setup.mode", "mode = 'volts': Value of volts is not in the discrete set"),
        ({"setup": {"voltage": 1}}, "setup.voltage", "Keithley2000.voltage cannot be set (did you mean"),
        ({"resource": "TCPIP0::192.168.1.40::1394"}, "resource", "without ::SOCKET, so pyvisa would speak VXI-11"),
        ({"resource": "TCPIP0::192.168.1.40::99999::SOCKET"}, "resource", "port 99999 is outside 1-65535"),
        ({"read_termination": None}, "read_termination", "has no ending of its own and Keithley2000 sets none"),
        (
            {"resource": "ASRL/dev/ttyUSB0::INSTR", "read_termination": None},
            "read_termination",
            "Keithley2000 sets none",
        ),
    ],
)
def test_check_refuses_what_would_read_false(options, key, message):
    table = {"resource": "TCPIP0::192.168.1.40::1394::SOCKET", "read_termination": "\n"} | options
    with pytest.raises(OptionError) as raised:
        PymeasureConfig(KEITHLEY, readings={"v": PropertyReading("voltage")}, **table)
    errors = [raised.value, *raised.value.also]
    assert [(e.key, message in e.problem) for e in errors] == [(key, True)]


def test_a_driver_that_sets_its_own_ending_needs_none_on_a_socket():
    config = PymeasureConfig(
        "pymeasure.instruments.lakeshore.LakeShore3xx",
        "TCPIP0::192.168.1.30::7777::SOCKET",
        {"t": PropertyReading("input_A.kelvin")},
    )
    assert config.read_termination is None
