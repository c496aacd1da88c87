"""Check VISA resource strings with pyvisa's own parser, showing the right forms."""

from __future__ import annotations

from labmon import OptionError

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
    if interfaces and parsed.interface_type not in interfaces:
        return OptionError(
            "resource",
            f"{resource!r} is a {parsed.interface_type} resource; this instrument is reached by {'/'.join(interfaces)}",
            f"write it like {FORMS}",
        )
    return None
