"""The scope emulator answers as awkwardly as a DS2072A: newline bytes in blocks, silence for unknown queries."""

import re
import socket

import numpy as np
import pytest

from labmon.config import PluginEntry
from labmon_measurer.sampling import InstrumentRunner, read_all
from labmon_rigol.scpi import ScpiConfig, ScpiInstrument, ScpiQuery
from labmon_rigol.visa import VisaTimeout, open_session
from tests.conftest import invoke


def test_the_baseline_sits_at_byte_10_so_every_block_is_full_of_newline_bytes(emulator):
    preamble = emulator.answer(":WAV:PRE?").decode().split(",")
    assert float(preamble[8]) + float(preamble[9]) == 10  # YORIGIN + YREFERENCE: 0 V is byte 0x0A
    block = emulator.answer(":WAV:DATA?")
    body = np.frombuffer(block[11:-1], dtype=np.uint8)
    assert body.size == 1400 and np.count_nonzero(body == 0x0A) > 200  # noise on the baseline, not a fake spike
    assert body.max() > 80  # the 3 V peak


def test_an_unknown_query_gets_no_answer_and_queues_undefined_header(emulator):
    session = open_session(emulator.resource, timeout=0.2)
    try:
        for query in (":FOO?", ":WAV:POIN?", ":MEAS:VPP? CHAN3"):  # DS2072A: no such header, no channel 3
            with pytest.raises(VisaTimeout, match=re.escape(f"no answer to '{query}'")):
                session.query(query)
            assert session.query(":SYST:ERR?").strip() == '-113,"Undefined header"'
        assert session.query(":SYST:ERR?").strip() == '0,"No error"'
        assert session.query("*OPC?").strip() == "1"
        assert 2.9 < float(session.query(":MEAS:VPP? CHAN2")) < 3.3
    finally:
        session.close()


def test_a_query_the_scope_ignores_is_an_error_reading_and_the_next_read_works(emulator):
    readings = {"points": ScpiQuery(query=":WAV:POIN?"), "vpp": ScpiQuery(query=":MEAS:VPP? CHAN1", unit="V")}
    runner = InstrumentRunner(
        PluginEntry(
            "scope",
            "scpi",
            ScpiInstrument,
            ScpiConfig(resource=emulator.resource, readings=readings, visa_timeout=0.2),
            3.0,
        )
    )
    try:
        (failed,) = read_all([runner])
        assert (
            failed.status == "error" and "no answer to ':WAV:POIN?'" in failed.error and "visa_timeout" in failed.error
        )
        runner.entry.config.readings.pop("points")  # the user fixes the query: the reopened session reads
        (vpp,) = read_all([runner])
        assert vpp.status == "ok" and 2.9 < vpp.value < 3.3
    finally:
        runner.close()


def test_the_emulator_command_on_a_taken_port_names_it_without_a_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("rigol-emulator", "--port", str(port))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use; choose another with --port" in result.output
