"""Check VISA resource strings with pyvisa's own parser, showing the right forms; shared by every VISA plugin.

pyvisa is imported only when a config names a resource: labmon-core does not depend on it, its VISA plugins do.
"""

from __future__ import annotations

from typing import Any

from labmon.options import OptionError

FORMS = (
    "TCPIP0::192.168.1.20::5555::SOCKET (LAN, raw socket), TCPIP0::192.168.1.20::INSTR (LAN, VXI-11), "
    "USB0::0x1AB1::0x04B0::DS2D000000001::INSTR (USB: vendor, product, serial), ASRL/dev/ttyUSB0::INSTR (serial)"
)


def resource_problem(resource: str, interfaces: tuple[str, ...] = ()) -> OptionError | None:
    """Return what is wrong with `resource` for an instrument reached over `interfaces` (any if none), or None."""
    # pyvisa's parser loads pyvisa (and, through pyvisa.util, numpy): only for configs that name a resource.
    from pyvisa.rname import InvalidResourceName, parse_resource_name

    try:
        parsed = parse_resource_name(resource)
    except InvalidResourceName as exc:
        reason = str(exc).split(". ", 1)[-1] if ". The syntax" in str(exc) else "not a VISA resource string"
        return OptionError("resource", f"{resource!r}: {reason}", f"write it like {FORMS}")
    if parsed.resource_class not in ("INSTR", "SOCKET"):
        return OptionError(
            "resource", f"{resource!r} is not an instrument (::INSTR or ::SOCKET)", f"write it like {FORMS}"
        )
    lan = _lan_problem(resource, parsed)
    if lan is not None:
        return lan
    if interfaces and parsed.interface_type not in interfaces:
        return OptionError(
            "resource",
            f"{resource!r} is a {parsed.interface_type} resource; this instrument is reached by {'/'.join(interfaces)}",
            f"write it like {FORMS}",
        )
    return None


def _lan_problem(resource: str, parsed: Any) -> OptionError | None:
    """Return what is wrong with a LAN resource's port, or None: pyvisa reads `host::5555` as a VXI-11 device."""
    device = getattr(parsed, "lan_device_name", "")
    if parsed.resource_class == "INSTR" and device.isdigit():
        host = f"TCPIP{parsed.board}::{parsed.host_address}"
        return OptionError(
            "resource",
            f"{resource!r} names port {device} without ::SOCKET, so pyvisa would speak VXI-11 to a device called "
            f"{device!r} instead of opening a raw socket on that port",
            f'write resource = "{host}::{device}::SOCKET"',
        )
    port = getattr(parsed, "port", None)
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        return OptionError(
            "resource",
            f"{resource!r}: port {port} is outside 1-65535",
            "write the instrument's raw-socket port, e.g. TCPIP0::192.168.1.20::5555::SOCKET (5025 for many SCPI "
            "instruments)",
        )
    return None
