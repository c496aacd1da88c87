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
                        self.wfile.write(outer.answers.get(command.decode(), "ERR").encode() + terminator)

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
    assert readings["broken"].status == "error" and "could not convert" in readings["broken"].error


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
