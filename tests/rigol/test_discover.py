"""`labmon discover`: finds the emulated scope and pymeasure instruments over TCP; its output reads them."""

import tomllib

import pytest

from labmon.testing import free_port
from labmon_rigol import discover as discover_module
from labmon_rigol.discover import Found, block, lan_resource
from tests.conftest import invoke
from tests.pymeasure.emulators import LineInstrument, lock_in, multimeter, power_meter, temperature_controller


@pytest.fixture
def bench(emulator):
    """The emulated scope, power meter and temperature controller, and an unknown SCPI device."""
    others = {
        "meter": power_meter().start(),
        "controller": temperature_controller().start(),
        "widget": LineInstrument("ACME Corp,Widget-9,123,1.0", lambda q: None, "\n").start(),
    }
    yield {"scope": emulator, **others}
    for instrument in others.values():
        instrument.stop()


def lan_args(*instruments):
    return [arg for i in instruments for arg in ("--lan", f"127.0.0.1:{i.port}")]


def test_finds_each_instrument_and_prints_a_block_for_it(bench):
    result = invoke("discover", "--no-local", "--timeout", "5s", *lan_args(*bench.values()))
    assert result.exit_code == 0, result.output
    out = result.output
    scope, meter = bench["scope"], bench["meter"]
    assert f'[measurer.instruments.ds2072a]\ntype = "rigol"\nresource = "{scope.resource}"' in out
    assert (
        '[measurer.instruments.pm100usb]\ntype = "pymeasure"\n'
        'driver = "pymeasure.instruments.thorlabs.ThorlabsPM100USB"\n'
        f'resource = "{meter.resource}"\nread_termination = "\\n"\n'
        '[measurer.instruments.pm100usb.readings.power]\nproperty = "power"\nunit = "W"'
    ) in out
    assert 'driver = "pymeasure.instruments.lakeshore.LakeShore3xx"' in out
    assert 'read_termination = "\\r\\n"' in out
    assert "ACME Corp,Widget-9,123,1.0 (no known driver: a generic SCPI instrument)" in out
    assert '# type = "scpi"' in out
    assert "4 of 4 resources answered *IDN?" in out


def test_asks_nothing_but_idn(bench):
    invoke("discover", "--no-local", "--timeout", "5s", *lan_args(*bench.values()))
    assert bench["scope"].commands == ["*IDN?"]
    for name in ("meter", "controller", "widget"):
        assert bench[name].queries == ["*IDN?"], name


def test_a_config_built_from_its_output_reads_every_instrument(bench, tmp_path):
    found = invoke("discover", "--no-local", "--timeout", "5s", *lan_args(*bench.values()))
    config = tmp_path / "measurer.toml"
    config.write_text(f'[measurer]\nname = "table1"\n\n{found.stdout}')
    checked = invoke("check", str(config))
    assert checked.exit_code == 0, checked.output
    result = invoke("read", str(config))
    assert result.exit_code == 0, result.output
    for reading in (
        "ds2072a/ch1_vpp",
        "ds2072a/ch1_vavg",
        "pm100usb/power",
        "model336/temperature_a",
        "model336/temperature_b",
    ):
        assert reading in result.output


def test_a_garbled_answer_stays_inside_a_comment():
    meter = power_meter().start()
    meter.habit_next("garbled")
    try:
        found = invoke("discover", "--no-local", "--timeout", "5s", *lan_args(meter))
    finally:
        meter.stop()
    assert "# TCPIP0::127.0.0.1::" in found.stdout and "\x15" not in found.stdout
    assert "(no known driver: a generic SCPI instrument)" in found.stdout
    assert tomllib.loads(found.stdout) == {}  # the skeleton is commented out, and nothing leaks out of a comment


def test_a_stalling_instrument_and_a_port_with_nothing_listening_are_reported():
    stalling = LineInstrument("ACME Corp,Slowpoke,1,1.0", lambda q: None, "\n").start()
    stalling.habit_next("stall")
    try:
        result = invoke(
            "discover", "--no-local", "--timeout", "1s", *lan_args(stalling), "--lan", f"127.0.0.1:{free_port()}"
        )
    finally:
        stalling.stop()
    assert result.exit_code == 0
    assert f"# {stalling.resource}: no answer to *IDN? (VisaIOError" in result.output
    assert result.output.count("no answer to *IDN? (") == 2 and "0 of 2 resources answered" in result.output


def test_probes_what_visa_lists_here(monkeypatch, emulator):
    # No USB or serial instrument exists on a build machine: the listing stands in for PyVISA's, the probe is real.
    monkeypatch.setattr(discover_module, "local_resources", lambda: [emulator.resource])
    result = invoke("discover", "--timeout", "5s")
    assert result.exit_code == 0 and 'type = "rigol"' in result.output


@pytest.mark.parametrize(
    ("host", "resource"),
    [
        ("192.168.1.20", "TCPIP0::192.168.1.20::5555::SOCKET"),
        ("scope.lab:5025", "TCPIP0::scope.lab::5025::SOCKET"),
    ],
)
def test_lan_hosts_default_to_the_raw_socket_port(host, resource):
    assert lan_resource(host) == resource


def test_no_resources_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(discover_module, "local_resources", list)
    result = invoke("discover")
    assert result.exit_code == 1 and "name LAN instruments with --lan HOST" in result.output


def test_a_usb_instrument_needs_no_termination_and_a_missing_plugin_is_named():
    found = Found("USB0::0x1313::0x8072::P2000123::INSTR", idn="Thorlabs,PM100USB,P2000123,1.7.0")
    text = block(found, "pm100usb", pymeasure_installed=False)
    assert "# needs labmon-pymeasure: pip install labmon-pymeasure" in text
    assert "read_termination" not in text and 'resource = "USB0::0x1313::0x8072::P2000123::INSTR"' in text


def test_a_serial_lock_in_answering_in_cr_at_19200_baud_is_found_and_read(tmp_path):
    """An SR830 on a serial line (a pseudo-terminal) that answers in `\\r`: asked at 9600 baud it sends noise."""
    sr830 = lock_in()
    sr830.baud_rate = 19200
    sr830.start_serial()
    try:
        found = invoke("discover", "--no-local", "--timeout", "0.5s", "--serial", sr830.serial_path)
        config = tmp_path / "measurer.toml"
        config.write_text(f'[measurer]\nname = "table1"\n\n{found.stdout}')
        checked = invoke("check", str(config))
        read = invoke("read", str(config))
    finally:
        sr830.stop()
    assert found.exit_code == 0, found.output
    assert (
        "# ASRL/dev/pts/" in found.stdout and "Stanford_Research_Systems,SR830,s/n12345,ver1.07 (pymeasure driver)"
    ) in found.stdout
    assert (
        f'type = "pymeasure"\ndriver = "pymeasure.instruments.srs.SR830"\nresource = "{sr830.resource}"\n'
        'baud_rate = 19200\nread_termination = "\\r"\n'
    ) in found.stdout
    assert 'property = "xy"\nfields = ["x", "y"]' in found.stdout
    assert "1 of 1 resources answered *IDN?" in found.output
    assert checked.exit_code == 0, checked.output
    assert read.exit_code == 0, read.output
    assert "sr830/x" in read.output and "sr830/y" in read.output and "sr830/theta" in read.output
    assert "0.0011" in read.output and "-63.43" in read.output


def test_a_silent_serial_port_is_reported_at_every_baud_rate():
    mute = LineInstrument("ACME,Mute,1,1", lambda q: None, "\n")
    mute.baud_rate = 4800  # none of the common ones: noise at each
    mute.start_serial()
    try:
        found = invoke("discover", "--no-local", "--timeout", "0.3s", "--serial", mute.resource)
    finally:
        mute.stop()
    assert f"# {mute.resource}: no answer to *IDN? (at 9600: no readable answer" in found.stdout
    assert "115200: no readable answer" in found.stdout and "0 of 1 resources answered" in found.output


def test_a_keithley_2000_gets_its_pymeasure_driver_set_to_volts(tmp_path):
    meter = multimeter().start()
    meter.state["mode"] = "RES"  # left on ohms: the block's setup turns it back
    try:
        found = invoke("discover", "--no-local", "--timeout", "5s", *lan_args(meter))
        config = tmp_path / "measurer.toml"
        config.write_text(f'[measurer]\nname = "table1"\n\n{found.stdout}')
        read = invoke("read", str(config))
    finally:
        meter.stop()
    assert 'driver = "pymeasure.instruments.keithley.Keithley2000"' in found.stdout
    assert 'read_termination = "\\n"\nsetup = { mode = "voltage" }' in found.stdout
    assert 'query = "MEAS?"' not in found.stdout
    assert read.exit_code == 0, read.output
    assert "model_2000/voltage" in read.output and "1.00014" in read.output and meter.state["mode"] == "VOLT:DC"


def test_a_scope_block_suggests_the_lock_metrics(emulator):
    found = invoke("discover", "--no-local", "--timeout", "5s", *lan_args(emulator))
    assert '# metrics = ["peak_presence", "jitter", "peak_time"]' in found.stdout
