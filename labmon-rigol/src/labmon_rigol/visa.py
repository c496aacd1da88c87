"""Open a VISA session with the settings that a socket, USB or serial resource needs."""

from __future__ import annotations

from typing import Any


def open_session(
    resource: str,
    *,
    backend: str = "@py",
    timeout: float = 5.0,
    read_termination: str = "\n",
    write_termination: str = "\n",
    baud_rate: int | None = None,
) -> Any:
    """Return an open pyvisa resource; a raw TCP socket needs its terminations set, or every query times out."""
    import pyvisa  # here, not at the top: `labmon --help` and `labmon check` need no VISA stack

    session = pyvisa.ResourceManager(backend).open_resource(
        resource,
        read_termination=read_termination,
        write_termination=write_termination,
        timeout=round(timeout * 1000),
    )
    if baud_rate is not None and isinstance(session, pyvisa.resources.SerialInstrument):
        session.baud_rate = baud_rate
    return session
