"""The `pymeasure` instrument through real pyvisa-py over TCP, and the property mapping through pymeasure's helper."""

import tomllib

import pytest
import tomli_w

from labmon import Duration
from labmon.config import PluginEntry
from labmon.options import ConfigError
from labmon.testing import read_once
from labmon_measurer.sampling import InstrumentRunner
from labmon_measurer.sampling import read_all as measure
from labmon_pymeasure.driver import check_property, check_setting, driver_class
from labmon_pymeasure.instrument import PropertyReading, PymeasureConfig, PymeasureInstrument, read_all
from labmon_rigol.discover import KNOWN_DRIVERS
from tests.conftest import invoke
from tests.pymeasure.emulators import power_meter

PM100 = "pymeasure.instruments.thorlabs.ThorlabsPM100USB"
LAKESHORE = "pymeasure.instruments.lakeshore.LakeShore3xx"


def meter_table(resource: str, **extra):
    return {
        "type": "pymeasure",
        "driver": PM100,
        "resource": resource,
        "read_termination": "\n",
        "visa_timeout": "5s",
        "readings": {"power": {"property": "power", "unit": "W"}},
        **extra,
    }


def test_reads_a_power_meter_over_visa(meter):
    (power,) = read_once(meter_table(meter.resource))
    assert power.status == "ok" and power.unit == "W"
    assert power.value == pytest.approx(1.25e-3, rel=0.02)
    assert meter.queries == ["SYST:SENSOR:IDN?", "MEAS:POW?"]  # the driver's set-up query, then the reading


def test_reads_channel_properties_of_a_temperature_controller(controller):
    table = {
        "type": "pymeasure",
        "driver": LAKESHORE,
        "resource": controller.resource,
        "readings": {
            "cold_finger": {"property": "input_A.kelvin", "unit": "K"},
            "stage": {"property": "input_B.kelvin", "unit": "K"},
            "room": {"property": "input_C.celsius", "unit": "degC", "scale": 1.0},
        },
    }
    readings = {r.name: r for r in read_once(table)}
    assert readings["cold_finger"].value == pytest.approx(77.35)
    assert readings["stage"].value == pytest.approx(4.212)
    assert readings["room"].value == pytest.approx(21.95)
    assert controller.queries == ["KRDG? A", "KRDG? B", "CRDG? C"]


def meter_config(meter, visa_timeout=5.0):
    power = {"power": PropertyReading("power", "W")}
    return PymeasureConfig(PM100, meter.resource, power, read_termination="\n", visa_timeout=Duration(visa_timeout))


@pytest.mark.parametrize("habit", ["garbled", "empty"])
def test_a_garbled_or_empty_answer_is_one_error_reading(meter, habit):
    instrument = PymeasureInstrument(meter_config(meter))
    try:
        meter.habit_next(habit)
        (bad,) = instrument.read()
        (good,) = instrument.read()
    finally:
        instrument.close()
    assert bad.status == "error" and bad.value is None and "not a number" in bad.error
    assert good.status == "ok" and good.value == pytest.approx(1.25e-3, rel=0.02)


def test_a_stalled_answer_fails_the_read_and_the_measurer_reads_again_on_a_fresh_session(meter):
    runner = InstrumentRunner(PluginEntry("pm", "pymeasure", PymeasureInstrument, meter_config(meter, 1.0), 10.0))
    try:
        measure([runner])  # built, and read once
        meter.habit_next("stall")
        (stalled,) = measure([runner])
        (power,) = measure([runner])
    finally:
        runner.close()
    assert stalled.status == "error" and "timeout" in stalled.error.lower()
    assert power.status == "ok" and power.value == pytest.approx(1.25e-3, rel=0.02)  # not the stale late answer
    assert meter.queries.count("SYST:SENSOR:IDN?") == 2  # the driver was built anew


def test_sporadic_habits_never_give_a_wrong_value():
    meter = power_meter(sporadic=0.3).start()
    runner = InstrumentRunner(PluginEntry("pm", "pymeasure", PymeasureInstrument, meter_config(meter, 1.0), 10.0))
    try:
        readings = [reading for _ in range(10) for reading in measure([runner])]
    finally:
        runner.close()
        meter.stop()
    good = [r for r in readings if r.status == "ok"]
    assert good and all(r.value == pytest.approx(1.25e-3, rel=0.02) for r in good)
    assert len(good) < len(readings)  # the habits did show


@pytest.mark.filterwarnings("ignore:It is not known whether this device:FutureWarning")
def test_the_mapping_through_pymeasures_protocol_helper():
    from pymeasure.instruments.lakeshore import LakeShore3xx
    from pymeasure.instruments.thorlabs import ThorlabsPM100USB
    from pymeasure.test import expected_protocol

    sensor = ("SYST:SENSOR:IDN?", "S120C,11040123,18-Sep-2019,1,18,289")
    readings = {"power": PropertyReading("power", "W"), "wavelength": PropertyReading("wavelength", "nm")}
    with expected_protocol(ThorlabsPM100USB, [sensor, ("MEAS:POW?", "1.5E-3"), ("SENSE:CORR:WAV?", "7.8E2")]) as pm:
        power, wavelength = read_all(pm, readings)
    assert (power.value, power.unit, wavelength.value, wavelength.unit) == (1.5e-3, "W", 780.0, "nm")

    with expected_protocol(ThorlabsPM100USB, [sensor, ("MEAS:POW?", "1.2\x15#-03")]) as pm:
        (garbled,) = read_all(pm, {"power": PropertyReading("power", "W")})
    assert garbled.status == "error" and "power answered '1.2\\x15#-03', not a number" in garbled.error

    millikelvin = {"mixing": PropertyReading("input_A.kelvin", "mK", scale=1000.0)}
    with expected_protocol(LakeShore3xx, [("KRDG? A", "+000.012")]) as ls:
        (mixing,) = read_all(ls, millikelvin)
    assert mixing.value == pytest.approx(12.0) and mixing.unit == "mK"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"driver": "ThorlabsPM100USB"}, "driver: 'ThorlabsPM100USB' is not a dotted class name"),
        ({"driver": "pymeasure.instruments.thorlab.PM100"}, "driver: cannot import pymeasure.instruments.thorlab"),
        ({"driver": "pymeasure.instruments.thorlabs.ThorlabsPM100"}, "fix: did you mean ThorlabsPM100USB"),
        (
            {"readings": {"p": {"property": "pwr", "unit": "W"}}},
            "readings.p.property: ThorlabsPM100USB has no property 'pwr' (did you mean power",
        ),
        ({"readings": {}}, "readings: no readings"),
        ({"setup": {"wavelenght": 780}}, "setup.wavelenght: ThorlabsPM100USB has no property 'wavelenght' (did you"),
        ({"setup": {"power": 1}}, "setup.power: ThorlabsPM100USB.power cannot be set"),
        ({"resource": "TCPIP0::pm.lab::5555"}, 'write resource = "TCPIP0::pm.lab::5555::SOCKET"'),
        ({"read_termination": None}, "read_termination: TCPIP0::127.0.0.1::5555::SOCKET has no ending of its own"),
    ],
)
def test_check_names_a_wrong_driver_or_property(tmp_path, changes, message):
    config = tmp_path / "m.toml"
    table = {k: v for k, v in (meter_table("TCPIP0::127.0.0.1::5555::SOCKET") | changes).items() if v is not None}
    config.write_text(tomli_w.dumps({"measurer": {"name": "t1", "instruments": {"pm": table}}}))
    result = invoke("check", str(config))
    assert result.exit_code == 1
    assert "[measurer.instruments.pm]" in result.output and message in result.output


def test_check_names_a_missing_channel(tmp_path):
    table = {"driver": LAKESHORE, "readings": {"t": {"property": "input_Z.kelvin"}}}
    with pytest.raises(ConfigError, match="LakeShore3xx has no channel 'input_Z' \\(did you mean input_"):
        read_once(meter_table("TCPIP0::127.0.0.1::5555::SOCKET") | table)


@pytest.mark.parametrize("known", KNOWN_DRIVERS, ids=lambda k: k.driver.rpartition(".")[2])
def test_discover_suggests_only_drivers_properties_and_setups_that_exist(known):
    cls = driver_class(known.driver)
    assert [check_property(cls, r.property) for r in known.readings] == [None] * len(known.readings)
    setup = tomllib.loads(f"setup = {known.setup or '{}'}")["setup"]
    assert [check_setting(cls, path, value) for path, value in setup.items()] == [None] * len(setup)
