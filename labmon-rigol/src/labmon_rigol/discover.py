"""`labmon discover`: find VISA instruments, ask each `*IDN?` (nothing else), print a measurer config block each."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import click

from labmon import parse_duration

RAW_SOCKET_PORT = 5555


@dataclass(frozen=True)
class KnownDriver:
    """A pymeasure driver for the instruments whose `*IDN?` answer matches `idn`, and what to read from it."""

    idn: str
    driver: str
    termination: str  # what the device ends its answers with on a raw socket
    readings: tuple[tuple[str, str, str], ...]  # (reading name, driver property, unit)


# Only drivers whose construction sends queries, never settings: a pasted block must not change the device.
KNOWN_DRIVERS = (
    KnownDriver(
        r"THORLABS,PM100(USB|D|A)?,",
        "pymeasure.instruments.thorlabs.ThorlabsPM100USB",
        "\n",
        (("power", "power", "W"),),
    ),
    KnownDriver(
        r"LSCI,MODEL3(31|35|36|40|50)",
        "pymeasure.instruments.lakeshore.LakeShore3xx",
        "\r\n",
        (("temperature_a", "input_A.kelvin", "K"), ("temperature_b", "input_B.kelvin", "K")),
    ),
    KnownDriver(
        r"LSCI,MODEL211",
        "pymeasure.instruments.lakeshore.LakeShore211",
        "\r\n",
        (("temperature", "temperature_kelvin", "K"),),
    ),
)


@dataclass(frozen=True)
class Found:
    """One resource and its answer to `*IDN?` (or why there was none)."""

    resource: str
    idn: str = ""
    error: str = ""


def lan_resource(host: str) -> str:
    """Return the raw-socket VISA resource of `host` or `host:port` (port 5555 by default)."""
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if port and not port.isdigit():
        raise click.BadParameter(f"{host!r}: the port must be a number", param_hint="--lan")
    return f"TCPIP0::{name or host}::{port or RAW_SOCKET_PORT}::SOCKET"


def local_resources() -> list[str]:
    """Return the resources PyVISA's pure-Python backend lists here (USB, serial, VXI-11 on the local network)."""
    import pyvisa  # here: only this command needs a VISA stack

    try:
        return list(pyvisa.ResourceManager("@py").list_resources())
    except Exception as exc:  # a missing USB backend, no permission: still probe the LAN hosts
        click.echo(f"discover: cannot list local VISA resources: {exc}", err=True)
        return []


def identify(resource: str, timeout: float) -> Found:
    """Ask `resource` `*IDN?` within `timeout` seconds; the only message discover ever sends."""
    import pyvisa  # here: only this command needs a VISA stack

    milliseconds = max(1, round(timeout * 1000))
    try:
        # open_timeout too: pyvisa-py otherwise waits 10 s for a LAN host that does not answer
        session: Any = pyvisa.ResourceManager("@py").open_resource(
            resource, open_timeout=milliseconds, timeout=milliseconds, read_termination="\n", write_termination="\n"
        )
        try:
            answer = str(session.query("*IDN?")).strip()
            return Found(resource, idn="".join(c if c.isprintable() else "?" for c in answer))  # pasted as TOML
        finally:
            session.close()
    except Exception as exc:  # any VISA, OS or driver error: this resource is reported, the others still probed
        return Found(resource, error=f"{type(exc).__name__}: {exc}".splitlines()[0])


def block(found: Found, name: str, pymeasure_installed: bool) -> str:
    """Return a ready-to-paste `[measurer.instruments.NAME]` block for one found resource."""
    table = f"[measurer.instruments.{name}]"
    resource = f"resource = {json.dumps(found.resource)}"
    if not found.idn:
        head = f"# {found.resource}: no answer to *IDN? ({found.error})"
        return "\n".join([head, *_commented_scpi(table, resource)])
    head = f"# {found.resource}: {found.idn}"
    if re.match(r"RIGOL TECHNOLOGIES,(DS|MSO)", found.idn, re.IGNORECASE):
        lines = ['type = "rigol"', resource, "channels = [1]", 'measurements = ["vpp", "vavg"]']
        lines.append('# metrics = ["jitter", "peak_time"]   # laser-lock metrics from the traces; traces = 300')
        return "\n".join([head, table, *lines])
    known = next((k for k in KNOWN_DRIVERS if re.match(k.idn, found.idn, re.IGNORECASE)), None)
    if known is None:
        return "\n".join([f"{head} (no known driver: a generic SCPI instrument)", *_commented_scpi(table, resource)])
    lines = [f"{head} (pymeasure driver)"]
    if not pymeasure_installed:
        lines.append("# needs labmon-pymeasure: pip install labmon-pymeasure")
    lines += [table, 'type = "pymeasure"', f"driver = {json.dumps(known.driver)}", resource]
    if found.resource.endswith("::SOCKET"):
        lines.append(f"read_termination = {json.dumps(known.termination)}")
    for reading, prop, unit in known.readings:
        lines += [f"[measurer.instruments.{name}.readings.{reading}]", f'property = "{prop}"', f'unit = "{unit}"']
    return "\n".join(lines)


def _commented_scpi(table: str, resource: str) -> list[str]:
    """Return a `scpi` skeleton, commented out: only the user knows which query gives the value."""
    skeleton = [table, 'type = "scpi"', resource, table[:-1] + ".readings.value]", 'query = "MEAS?"', 'unit = ""']
    return ["# fill in the query that answers the value you want, then uncomment:", *(f"# {line}" for line in skeleton)]


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
@click.option("--local/--no-local", default=True, show_default=True, help="Ask the resources PyVISA lists here.")
@click.option("--timeout", default="2s", show_default=True, help="How long each instrument has to answer *IDN?.")
def discover_instruments(hosts: tuple[str, ...], local: bool, timeout: str) -> None:
    """Find instruments, ask each *IDN? (and nothing else), and print a measurer config block for each."""
    try:
        seconds = parse_duration(timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None
    resources = [*(local_resources() if local else []), *(lan_resource(h) for h in hosts)]
    if not resources:
        raise click.ClickException("no VISA resources found here; name LAN instruments with --lan HOST")
    text, answered = report(resources, seconds)
    click.echo("# Paste the blocks you want under [measurer] in the measurer's config; check it with labmon check.\n")
    click.echo(text)
    click.echo(f"discover: {answered} of {len(set(resources))} resources answered *IDN?", err=True)
