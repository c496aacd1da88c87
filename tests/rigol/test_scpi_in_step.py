"""The `scpi` instrument's readings are true: in step after late and split answers, never over range, set up.

Serial instruments are emulated on a pseudo-terminal that pyvisa-py opens as `ASRL/dev/pts/N::INSTR`.
"""

import pytest

from labmon import OptionError
from labmon.config import PluginEntry
from labmon_measurer.sampling import InstrumentRunner
from labmon_rigol.scpi import ScpiConfig, ScpiInstrument, ScpiQuery
from tests.pymeasure.busy_lock_in import OUTPUTS, busy_day, late_once
from tests.pymeasure.emulators import multimeter

NAMES = list(OUTPUTS)  # x, y, r, theta


def lock_in_config(resource, **options):
    queries = {name: ScpiQuery(f"OUTP? {n}") for n, name in enumerate(NAMES, start=1)}
    return ScpiConfig(resource=resource, readings=queries, read_termination="\r", **options)


def test_late_and_split_answers_never_shift_a_value_over_100_cycles(serial_lock_in):
    config = lock_in_config(serial_lock_in.resource, visa_timeout=1.0)
    day = busy_day(InstrumentRunner(PluginEntry("lockin", "scpi", ScpiInstrument, config)), serial_lock_in, NAMES)
    assert day.shifted == []
    assert day.late and day.failed == day.late  # error readings in the late cycles, and only there


def test_a_late_answer_is_named_and_dropped(serial_lock_in):
    error, values = late_once(ScpiInstrument(lock_in_config(serial_lock_in.resource, visa_timeout=0.3)), serial_lock_in)
    assert error.startswith(f"no answer to 'OUTP? 1' from {serial_lock_in.resource} within 0.3 s (visa_timeout)")
    assert "a late answer (b'1.100000E-03\\r') came after it and was dropped" in error
    assert values == pytest.approx(dict(zip(NAMES, OUTPUTS.values(), strict=True)))


def test_an_answer_with_another_ending_is_diagnosed(serial_lock_in):
    config = ScpiConfig(
        resource=serial_lock_in.resource, readings={"x": ScpiQuery("OUTP? 1")}, read_termination="\n", visa_timeout=0.3
    )
    instrument = ScpiInstrument(config)
    try:
        with pytest.raises(TimeoutError) as raised:
            instrument.read()
    finally:
        instrument.close()
    assert f"{serial_lock_in.resource} began answering 'OUTP? 1' (b'1'...) but sent no '\\n' (read_termination)" in str(
        raised.value
    )
    assert "its answers end in another character" in str(raised.value)


def test_fields_of_one_answer_are_readings_read_together(serial_lock_in):
    config = ScpiConfig(
        resource=serial_lock_in.resource,
        read_termination="\r",
        readings={
            "xy": ScpiQuery("SNAP? 1,2", fields=["x", "y"], unit="V"),
            "three": ScpiQuery("SNAP? 1,2", fields=["a", "b", "c"]),
        },
    )
    instrument = ScpiInstrument(config)
    try:
        readings = {r.name: r for r in instrument.read()}
    finally:
        instrument.close()
    assert (readings["x"].value, readings["y"].value, readings["x"].unit) == (1.1e-3, -2.2e-3, "V")
    assert all(readings[n].status == "error" for n in "abc")
    assert readings["a"].error == "answer '1.100000E-03,-2.200000E-03' has 2 fields, not the 3 of fields"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("+9.9E37", "over range (the instrument answered +9.9E+37, SCPI's infinity)"),
        ("-9.90000E+37", "over range (the instrument answered -9.9E+37, SCPI's infinity)"),
        ("9.91E37", "no valid measurement (the instrument answered +9.91E+37, SCPI's not-a-number)"),
        ("NaN", "no valid measurement (the instrument answered NaN)"),
        ("inf", "over range (the instrument answered inf)"),
    ],
)
def test_scpis_no_value_numbers_are_error_readings(answer, error):
    from tests.rigol.test_scpi import LineInstrument

    meter = LineInstrument({"READ?": answer})
    config = ScpiConfig(resource=meter.resource, readings={"v": ScpiQuery("READ?", unit="V", scale=1e-3)})
    instrument = ScpiInstrument(config)
    try:
        (reading,) = instrument.read()
    finally:
        instrument.close()
        meter.close()
    assert (reading.status, reading.value, reading.error) == ("error", None, error)


def test_a_meter_left_on_ohms_is_set_up_again_at_every_open():
    meter = multimeter().start()
    config = ScpiConfig(resource=meter.resource, setup=[":CONF:VOLT:DC"], readings={"v": ScpiQuery(":READ?", unit="V")})
    try:
        meter.state["mode"] = "RES"  # someone measured a resistor with it
        first = ScpiInstrument(config)
        (volts,) = first.read()
        first.close()
        meter.state["mode"] = "RES"  # and again, between a failure and the reopen
        meter.state["over_range"] = True
        again = ScpiInstrument(config)
        (over,) = again.read()
        again.close()
    finally:
        meter.stop()
    assert volts.status == "ok" and volts.value == pytest.approx(1.00014)
    assert meter.state["mode"] == "VOLT:DC" and over.error.startswith("over range")


@pytest.mark.parametrize(
    ("options", "key", "message", "fix"),
    [
        (
            {"resource": "TCPIP0::192.168.1.20::5555"},
            "resource",
            "without ::SOCKET, so pyvisa would speak VXI-11",
            'resource = "TCPIP0::192.168.1.20::5555::SOCKET"',
        ),
        ({"resource": "TCPIP0::192.168.1.20::70000::SOCKET"}, "resource", "port 70000 is outside 1-65535", "5025"),
        ({"resource": "TCPIP0::192.168.1.20::0::SOCKET"}, "resource", "port 0 is outside 1-65535", "5555"),
        (
            {"resource": "ASRL/dev/ttyUSB0::INSTR"},
            "read_termination",
            "serial resource and no read_termination",
            'read_termination = "\\r" (an SR830',
        ),
        ({"setup": ["*RST", "CONF?"]}, "setup[1]", "'CONF?' is a query", "reads nothing back"),
    ],
)
def test_check_refuses_what_would_read_false(options, key, message, fix):
    table = {"resource": "TCPIP0::192.168.1.20::5025::SOCKET", "readings": {"p": ScpiQuery("P?")}} | options
    with pytest.raises(OptionError) as raised:
        ScpiConfig(**table)
    assert raised.value.key == key and message in raised.value.problem and fix in raised.value.fix


def test_two_readings_of_one_name_are_refused():
    with pytest.raises(OptionError, match="two readings are called 'x'"):
        ScpiConfig(
            resource="TCPIP0::192.168.1.20::5025::SOCKET",
            readings={"x": ScpiQuery("X?"), "xy": ScpiQuery("SNAP? 1,2", fields=["x", "y"])},
        )
