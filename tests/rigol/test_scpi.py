"""The generic SCPI/serial instrument through real pyvisa-py over TCP to line-based emulators."""

import socketserver
import threading

import pytest

from labmon.config import PluginEntry
from labmon_measurer.sampling import InstrumentRunner, read_all
from labmon_rigol.scpi import ScpiConfig, ScpiInstrument, ScpiQuery


class LineInstrument:
    """A TCP instrument that answers known commands, with a chosen line terminator."""

    def __init__(self, answers, terminator=b"\n"):
        self.answers = answers
        self.received = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                buffer = b""
                while chunk := self.request.recv(256):
                    buffer += chunk
                    while terminator in buffer:
                        command, buffer = buffer.split(terminator, 1)
                        outer.received.append(command.decode())
                        answer = outer.answers.get(command.decode(), "ER 01 BAD COMMAND")
                        if answer is not None:  # None: the instrument ignores the command
                            self.wfile.write(answer.encode() + terminator)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.resource = f"TCPIP0::127.0.0.1::{self.server.server_address[1]}::SOCKET"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ion_pump():
    """The original lab's ion-pump controller: `~ 05 0B 00` CR -> `OK 00 7.2E-09 TORR` CR."""
    pump = LineInstrument({"~ 05 0B 00": "OK 00 7.2E-09 TORR"}, terminator=b"\r")
    yield pump
    pump.close()


def test_the_ion_pump_pressure_by_field_with_its_unit(ion_pump):
    config = ScpiConfig(
        resource=ion_pump.resource,
        read_termination="\r",
        write_termination="\r",
        readings={"pressure": ScpiQuery(query="~ 05 0B 00", field=2, unit_field=3)},
    )
    instrument = ScpiInstrument(config)
    (reading,) = instrument.read()
    instrument.close()
    assert (reading.name, reading.value, reading.unit) == ("pressure", 7.2e-9, "TORR")
    assert ion_pump.received == ["~ 05 0B 00"]


def test_plain_scpi_numbers_patterns_and_scale():
    meter = LineInstrument({"MEAS:VOLT:DC?": "+1.234500E+00", "SYST:TEMP?": "TEMP=21.5C", "CURR?": "12.5"})
    config = ScpiConfig(
        resource=meter.resource,
        readings={
            "voltage": ScpiQuery(query="MEAS:VOLT:DC?", unit="V"),
            "temperature": ScpiQuery(query="SYST:TEMP?", pattern=r"TEMP=([-\d.]+)", unit="degC"),
            "current": ScpiQuery(query="CURR?", scale=1e-3, unit="A"),
            "broken": ScpiQuery(query="NOPE?", unit="V"),
        },
    )
    instrument = ScpiInstrument(config)
    readings = {r.name: r for r in instrument.read()}
    instrument.close()
    meter.close()
    assert readings["voltage"].value == 1.2345 and readings["temperature"].value == 21.5
    assert readings["current"].value == pytest.approx(0.0125)
    assert readings["broken"].status == "error"
    assert readings["broken"].error == "no number in the instrument's answer 'ER 01 BAD COMMAND'"


def test_a_timeout_names_the_command_the_resource_and_the_timeout():
    meter = LineInstrument({"SLOW?": None})
    config = ScpiConfig(resource=meter.resource, readings={"v": ScpiQuery(query="SLOW?")}, visa_timeout=0.2)
    instrument = ScpiInstrument(config)
    with pytest.raises(TimeoutError) as raised:
        instrument.read()
    instrument.close()
    meter.close()
    assert str(raised.value) == f"no answer to 'SLOW?' from {meter.resource} within 0.2 s (visa_timeout)"


def test_a_usb_failure_names_the_resource_and_what_to_check():
    """No USB device exists here: opening one fails in PyUSB (no libusb) or finds nothing, either way this text."""
    resource = "USB0::0x1AB1::0x04B0::DS2D000000001::INSTR"
    runner = InstrumentRunner(
        PluginEntry("pump", "scpi", ScpiInstrument, ScpiConfig(resource=resource, readings={"p": ScpiQuery("P?")}))
    )
    (reading,) = read_all([runner])
    runner.close()
    assert f"cannot open the USB instrument {resource}" in reading.error
    for advice in ("libusb is installed", "udev rule", "pyvisa-shell -b py"):
        assert advice in reading.error
    assert "PyUSB does not seem" not in reading.error and reading.error.count(resource) == 1


def test_an_unreachable_instrument_is_an_error_reading_not_a_dead_measurer():
    config = ScpiConfig(
        resource="TCPIP0::127.0.0.1::9::SOCKET", readings={"p": ScpiQuery(query="P?")}, visa_timeout=0.5
    )
    runner = InstrumentRunner(PluginEntry("pump", "scpi", ScpiInstrument, config, 3.0))
    (reading,) = read_all([runner])
    runner.close()
    assert reading.status == "error" and reading.instrument == "pump"


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"field": 1, "pattern": "(x)"}, "not both"),
        ({"pattern": "x"}, "exactly one"),
        ({"pattern": "(x"}, "not a regular expression"),
    ],
)
def test_query_mistakes_are_explained(options, complaint):
    with pytest.raises(ValueError, match=complaint):
        ScpiQuery(query="P?", **options)


@pytest.mark.parametrize(
    "resource",
    [
        "192.168.1.20",
        "TCPIP0::pump:5555::SOCKET",
        "TCPIP0::pump::SOCKET",
        "USB0::0x1AB1::0x04B0::INSTR",
        "GPIB0::INTFC",
    ],
)
def test_malformed_resources_are_config_errors_showing_the_right_forms(resource):
    from labmon import OptionError

    with pytest.raises(OptionError) as raised:
        ScpiConfig(resource=resource, readings={"p": ScpiQuery(query="P?")})
    assert raised.value.key == "resource" and resource in raised.value.problem
    assert "TCPIP0::192.168.1.20::5555::SOCKET" in raised.value.fix and "::INSTR (USB" in raised.value.fix


def test_a_serial_instrument_config_checks(write_config):
    config = write_config(
        {
            "measurer": {
                "name": "table3",
                "instruments": {
                    "pump": {
                        "type": "scpi",
                        "resource": "ASRL/dev/ttyUSB0::INSTR",
                        "baud_rate": 9600,
                        "read_termination": "\r",
                        "write_termination": "\r",
                        "readings": {"pressure": {"query": "~ 05 0B 00", "field": 2, "unit_field": 3}},
                    }
                },
            }
        }
    )
    (pump,) = config.measurer.instruments
    assert pump.config.baud_rate == 9600 and pump.config.readings["pressure"].field == 2
