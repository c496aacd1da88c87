"""`labmon discover`: find VISA instruments, ask each `*IDN?` (nothing else), print a measurer config block each.

Serial ports are asked at the common baud rates in turn; an answer may end in `\r`, `\n` or `\r\n`, and
the ending it had is the read_termination the block sets.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import click

from labmon import Line, is_visa_timeout, parse_duration

RAW_SOCKET_PORT = 5555
BAUD_RATES = (9600, 19200, 38400, 57600, 115200)  # the common ones, the commonest first
LONGEST_IDN = 256  # bytes: more without a line ending is not an answer (a wrong baud rate's noise)


@dataclass(frozen=True)
class Suggested:
    """A reading a config block suggests: its name, the driver property, unit, and `fields` of a tuple."""

    name: str
    property: str
    unit: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnownDriver:
    """A pymeasure driver (pymeasure's own class) for instruments whose `*IDN?` matches `idn`, and what to read."""

    idn: str
    driver: str
    readings: tuple[Suggested, ...]
    setup: str = ""  # a TOML inline table: what the readings assume, set at every open


# Only drivers whose construction sends queries, never settings: a pasted block changes the device only by
# the `setup` it shows.
KNOWN_DRIVERS = (
    KnownDriver(
        r"THORLABS,PM100(USB|D|A)?,",
        "pymeasure.instruments.thorlabs.ThorlabsPM100USB",
        (Suggested("power", "power", "W"),),
    ),
    KnownDriver(
        r"LSCI,MODEL3(31|35|36|40|50)",
        "pymeasure.instruments.lakeshore.LakeShore3xx",
        (Suggested("temperature_a", "input_A.kelvin", "K"), Suggested("temperature_b", "input_B.kelvin", "K")),
    ),
    KnownDriver(
        r"LSCI,MODEL211",
        "pymeasure.instruments.lakeshore.LakeShore211",
        (Suggested("temperature", "temperature_kelvin", "K"),),
    ),
    KnownDriver(
        r"KEITHLEY INSTRUMENTS INC\.,MODEL 2000,",
        "pymeasure.instruments.keithley.Keithley2000",
        (Suggested("voltage", "voltage", "V"),),
        setup='{ mode = "voltage" }',  # `voltage` reads whatever the front panel was left on: ohms too
    ),
    KnownDriver(
        r"Stanford_Research_Systems,SR830,",
        "pymeasure.instruments.srs.SR830",
        (Suggested("xy", "xy", "V", fields=("x", "y")), Suggested("theta", "theta", "deg")),
    ),
)


@dataclass(frozen=True)
class Found:
    """One resource and its answer to `*IDN?` (or why there was none): its line ending, a serial port's baud rate."""

    resource: str
    idn: str = ""
    error: str = ""
    ending: str = ""
    baud_rate: int | None = None


def lan_resource(host: str) -> str:
    """Return the raw-socket VISA resource of `host` or `host:port` (port 5555 by default)."""
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if port and not port.isdigit():
        raise click.BadParameter(f"{host!r}: the port must be a number", param_hint="--lan")
    return f"TCPIP0::{name or host}::{port or RAW_SOCKET_PORT}::SOCKET"


def serial_resource(port: str) -> str:
    """Return the VISA resource of a serial port given as a path (/dev/ttyUSB0) or as a resource already."""
    return port if port.upper().startswith("ASRL") else f"ASRL{port}::INSTR"


def local_resources() -> list[str]:
    """Return the resources PyVISA's pure-Python backend lists here (USB, serial, VXI-11 on the local network)."""
    import pyvisa  # here: only this command needs a VISA stack

    try:
        return list(pyvisa.ResourceManager("@py").list_resources())
    except Exception as exc:  # a missing USB backend, no permission: still probe the LAN hosts
        click.echo(f"discover: cannot list local VISA resources: {exc}", err=True)
        return []


def identify(resource: str, timeout: float) -> Found:
    """Ask `resource` `*IDN?` within `timeout` seconds (a serial port at each common baud rate until one answers)."""
    if not resource.upper().startswith("ASRL"):
        return _ask_idn(resource, timeout, None)
    tried = []
    for baud_rate in BAUD_RATES:
        found = _ask_idn(resource, timeout, baud_rate)
        if found.idn:
            return found
        tried.append(f"{baud_rate}: {found.error}")
    return Found(resource, error=f"at {', '.join(tried)}")


def _ask_idn(resource: str, timeout: float, baud_rate: int | None) -> Found:
    """Ask `*IDN?` once; the only message discover ever sends."""
    import pyvisa  # here: only this command needs a VISA stack

    milliseconds = max(1, round(timeout * 1000))
    serial: dict[str, Any] = {} if baud_rate is None else {"baud_rate": baud_rate}
    try:
        # open_timeout too: pyvisa-py otherwise waits 10 s for a LAN host that does not answer
        session: Any = pyvisa.ResourceManager("@py").open_resource(
            resource,
            open_timeout=milliseconds,
            timeout=milliseconds,
            write_termination="\r\n" if serial else "\n",  # pyvisa's own on a serial line, as pymeasure's drivers
            **serial,
        )
        try:
            session.write("*IDN?")
            stream = Line(session, timeout).stream  # USB and VXI-11 frame their messages: one read, no bytes
            answer, ending = _read_line(session, min(timeout, 0.2)) if stream else _ending(session.read_raw())
        finally:
            session.close()
    except Exception as exc:  # any VISA, OS or driver error: this resource is reported, the others still probed
        return Found(resource, error=f"{type(exc).__name__}: {exc}".splitlines()[0])
    text = answer.decode("ascii", errors="replace").strip()
    shown = "".join(c if c.isprintable() else "?" for c in text)  # pasted as TOML
    if not text or (stream and not ending) or (serial and shown != text):  # noise: another baud rate
        return Found(resource, error=f"no readable answer ({len(answer)} bytes: {shown[:40]!r})")
    return Found(resource, idn=shown, ending=ending.decode(), baud_rate=baud_rate)


def _read_line(session: Any, settle: float) -> tuple[bytes, bytes]:
    """Read one answer byte by byte up to its ending, `\r`, `\n` or `\r\n`; return both (no ending: timed out)."""
    line = bytearray()
    try:
        while len(line) < LONGEST_IDN:
            byte: bytes = session.read_bytes(1)
            if byte == b"\n":
                return bytes(line), byte
            if byte == b"\r":
                session.timeout = round(settle * 1000)  # a `\n` that follows comes at once
                return bytes(line), b"\r\n" if _next_byte(session) == b"\n" else b"\r"
            line += byte
    except Exception as exc:
        if not is_visa_timeout(exc) or not line:
            raise
    return bytes(line), b""


def _ending(message: bytes) -> tuple[bytes, bytes]:
    """Return a whole message without its line ending, and the ending."""
    ending = next((e for e in (b"\r\n", b"\r", b"\n") if message.endswith(e)), b"")
    return message[: len(message) - len(ending)], ending


def _next_byte(session: Any) -> bytes:
    """Return the next byte, or nothing if none comes within the session's timeout."""
    try:
        byte: bytes = session.read_bytes(1)
    except Exception as exc:
        if not is_visa_timeout(exc):
            raise
        return b""
    return byte


def block(found: Found, name: str, pymeasure_installed: bool) -> str:
    """Return a ready-to-paste `[measurer.instruments.NAME]` block for one found resource."""
    table = f"[measurer.instruments.{name}]"
    line = [f"resource = {json.dumps(found.resource)}"]
    if found.baud_rate is not None:
        line.append(f"baud_rate = {found.baud_rate}")
    bare = found.resource.upper().endswith("::SOCKET") or found.baud_rate is not None  # no ending of their own
    if bare and found.ending:
        line.append(f"read_termination = {json.dumps(found.ending)}")
    if not found.idn:
        head = f"# {found.resource}: no answer to *IDN? ({found.error})"
        return "\n".join([head, *_commented_scpi(table, line)])
    head = f"# {found.resource}: {found.idn}"
    if re.match(r"RIGOL TECHNOLOGIES,(DS|MSO)", found.idn, re.IGNORECASE):
        lines = ['type = "rigol"', line[0], "channels = [1]", 'measurements = ["vpp", "vavg"]']
        lines.append('# metrics = ["peak_presence", "jitter", "peak_time"]   # a laser\'s lock, from traces = 300')
        return "\n".join([head, table, *lines])
    known = next((k for k in KNOWN_DRIVERS if re.match(k.idn, found.idn, re.IGNORECASE)), None)
    if known is None:
        return "\n".join([f"{head} (no known driver: a generic SCPI instrument)", *_commented_scpi(table, line)])
    lines = [f"{head} (pymeasure driver)"]
    if not pymeasure_installed:
        lines.append("# needs labmon-pymeasure: pip install labmon-pymeasure")
    lines += [table, 'type = "pymeasure"', f"driver = {json.dumps(known.driver)}", *line]
    if known.setup:
        lines.append(f"setup = {known.setup}   # set at every open: what the readings assume")
    for reading in known.readings:
        lines += [f"[measurer.instruments.{name}.readings.{reading.name}]", f'property = "{reading.property}"']
        if reading.fields:
            lines.append(f"fields = {json.dumps(list(reading.fields))}   # one query, one reading each")
        lines.append(f'unit = "{reading.unit}"')
    return "\n".join(lines)


def _commented_scpi(table: str, line: list[str]) -> list[str]:
    """Return a `scpi` skeleton, commented out: only the user knows which query gives the value."""
    skeleton = [table, 'type = "scpi"', *line, table[:-1] + ".readings.value]", 'query = "MEAS?"', 'unit = ""']
    return ["# fill in the query that answers the value you want, then uncomment:", *(f"# {text}" for text in skeleton)]


def instrument_name(found: Found, taken: set[str]) -> str:
    """Return a unique instrument name from the model in the IDN answer (or `instrument`)."""
    fields = found.idn.split(",")
    model = fields[1] if len(fields) > 1 else ""
    base = re.sub(r"[^a-z0-9_]+", "_", model.strip().lower()).strip("_") or "instrument"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def report(
    resources: Iterable[str], timeout: float, probe: Callable[[str, float], Found] = identify
) -> tuple[str, int]:
    """Probe every resource at once; return the config text and how many answered."""
    unique = list(dict.fromkeys(resources))
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(unique)))) as pool:
        found = list(pool.map(lambda r: probe(r, timeout), unique))
    installed = importlib.util.find_spec("labmon_pymeasure") is not None  # found, not imported
    taken: set[str] = set()
    blocks = [block(f, instrument_name(f, taken), installed) for f in found]
    return "\n\n".join(blocks), sum(1 for f in found if f.idn)


@click.command("discover")
@click.option(
    "--lan", "hosts", multiple=True, metavar="HOST[:PORT]", help="Also ask this host (raw socket, port 5555)."
)
@click.option(
    "--serial",
    "ports",
    multiple=True,
    metavar="PORT",
    help=f"Also ask this serial port (/dev/ttyUSB0), at {', '.join(map(str, BAUD_RATES))} baud in turn.",
)
@click.option("--local/--no-local", default=True, show_default=True, help="Ask the resources PyVISA lists here.")
@click.option("--timeout", default="2s", show_default=True, help="How long each instrument has to answer *IDN?.")
def discover_instruments(hosts: tuple[str, ...], ports: tuple[str, ...], local: bool, timeout: str) -> None:
    """Find instruments, ask each *IDN? (and nothing else), and print a measurer config block for each."""
    try:
        seconds = parse_duration(timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None
    named = [*(lan_resource(h) for h in hosts), *(serial_resource(p) for p in ports)]
    resources = [*(local_resources() if local else []), *named]
    if not resources:
        raise click.ClickException(
            "no VISA resources found here; name LAN instruments with --lan HOST, serial ones with --serial PORT"
        )
    text, answered = report(resources, seconds)
    click.echo("# Paste the blocks you want under [measurer] in the measurer's config; check it with labmon check.\n")
    click.echo(text)
    click.echo(f"discover: {answered} of {len(set(resources))} resources answered *IDN?", err=True)
