"""Open a VISA session whose failures say what to do: timeouts name command, resource and timeout."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

USB_CHECKS = (
    "check that libusb is installed (Debian: apt install libusb-1.0-0), that your user may use the device "
    '(a udev rule such as SUBSYSTEM=="usb", ATTR{idVendor}=="1ab1", MODE="0666" for Rigol), and that '
    "`pyvisa-shell -b py` then `list` shows the resource"
)


class VisaTimeout(TimeoutError):
    """An instrument did not answer a command within the VISA timeout."""


class Session:
    """A pyvisa message-based resource whose errors name the command, the resource and the timeout."""

    def __init__(self, resource: str, raw: Any, timeout: float) -> None:
        self.resource, self.raw, self.timeout = resource, raw, timeout

    def query(self, command: str) -> str:
        """Send `command` and return the answer line."""
        with self._named(command):
            answer: str = self.raw.query(command)
        return answer

    def write(self, command: str) -> None:
        """Send `command`, expecting no answer."""
        with self._named(command):
            self.raw.write(command)

    def read(self, command: str) -> str:
        """Read one more answer line of `command`, sent earlier."""
        with self._named(command):
            answer: str = self.raw.read()
        return answer

    def query_block(self, command: str) -> NDArray[np.uint8]:
        """Send `command` and return its IEEE 488.2 binary block as bytes; a malformed block raises ValueError."""
        import numpy as np

        with self._named(command):
            block: NDArray[np.uint8] = self.raw.query_binary_values(command, datatype="B", container=np.array)
        return block

    def clear(self) -> None:
        """Discard whatever the instrument still sends (after a garbled or late answer)."""
        with self._named("device clear"):
            self.raw.clear()

    def close(self) -> None:
        """Close the session."""
        self.raw.close()

    @contextlib.contextmanager
    def _named(self, command: str) -> Iterator[None]:
        """Turn pyvisa's timeout into a VisaTimeout that a physicist can act on."""
        try:
            yield
        except Exception as exc:
            if "VI_ERROR_TMO" not in str(exc):
                raise
            raise VisaTimeout(
                f"no answer to {command!r} from {self.resource} within {self.timeout:g} s (visa_timeout)"
            ) from None


def open_session(
    resource: str,
    *,
    backend: str = "@py",
    timeout: float = 5.0,
    read_termination: str = "\n",
    write_termination: str = "\n",
    baud_rate: int | None = None,
) -> Session:
    """Return an open session; a raw TCP socket needs its terminations set, or every query times out."""
    import pyvisa  # here, not at the top: `labmon --help` needs no VISA stack

    try:
        raw = pyvisa.ResourceManager(backend).open_resource(
            resource,
            read_termination=read_termination,
            write_termination=write_termination,
            timeout=round(timeout * 1000),
        )
    except Exception as exc:
        if resource.upper().startswith("USB"):
            reason = str(exc).strip().splitlines()[-1]  # PyUSB's last line is the cause, the rest is advice
            raise ConnectionError(f"cannot open the USB instrument {resource} ({reason}): {USB_CHECKS}") from None
        raise ConnectionError(f"cannot open {resource}: {exc}") from None
    if baud_rate is not None and isinstance(raw, pyvisa.resources.SerialInstrument):
        raw.baud_rate = baud_rate
    return Session(resource, raw, timeout)
