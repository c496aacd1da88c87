"""Open a VISA session whose failures say what to do: timeouts name command, resource and timeout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labmon import Line, is_visa_timeout

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

USB_CHECKS = (
    "check that libusb is installed (Debian: apt install libusb-1.0-0), that the user running labmon may use the "
    "device (`labmon install-service measurer FILE` writes the udev rule and its group; by hand: a rule such as "
    'SUBSYSTEM=="usb", ATTR{idVendor}=="1ab1", MODE="0660", GROUP="labmon"), and that `pyvisa-shell -b py` then '
    "`list` shows the resource"
)


class VisaTimeout(TimeoutError):
    """An instrument did not answer a command within the VISA timeout."""


class Session:
    """A pyvisa message-based resource whose errors name the command, the resource and the timeout."""

    def __init__(self, resource: str, raw: Any, timeout: float) -> None:
        self.resource, self.raw, self.timeout = resource, raw, timeout
        self.line = Line(raw, timeout)

    def query(self, command: str) -> str:
        """Send `command` and return the answer line."""
        try:
            answer: str = self.raw.query(command)
        except Exception as exc:
            raise self._explained(exc, command) from None
        return answer

    def ask(self, command: str) -> str:
        """Send `command` and return its answer, the line kept in step: nothing stale before, no late answer after."""
        self.line.ready()
        self.write(command)
        end = (self.raw.read_termination or "").encode()
        began: bytes = b""
        answer: bytes
        try:
            if self.line.stream:  # the first byte alone: a timeout after it means the answer had another ending
                began = self.raw.read_bytes(1)
            answer = began if began and began == end else began + self.raw.read_raw()
        except Exception as exc:
            if not is_visa_timeout(exc):
                raise self._explained(exc, command) from None
            raise self._unanswered(command, began, self.line.timed_out()) from None
        return answer.decode("ascii", errors="replace").removesuffix(end.decode())

    def write(self, command: str) -> None:
        """Send `command`, expecting no answer."""
        try:
            self.raw.write(command)
        except Exception as exc:
            raise self._explained(exc, command) from None

    def query_block(self, command: str) -> NDArray[np.uint8]:
        """Send `command` and return its IEEE 488.2 binary block as bytes; a malformed block raises ValueError."""
        self.write(command)
        return self.read_block(command)

    def read_block(self, command: str) -> NDArray[np.uint8]:
        """Read the IEEE 488.2 definite block that answers `command`, sent earlier; a malformed one raises ValueError.

        On a raw socket it is read by its announced length with the read termination off: its bytes hold
        many newlines, and pyvisa-py's socket would return at each (a 1400-point trace in ~900 reads, 20-50 ms
        instead of ~0.5). USB and VXI-11 frame their messages themselves: pyvisa's own block reading.
        """
        import numpy as np

        if not self.resource.upper().endswith("::SOCKET"):
            try:
                block: NDArray[np.uint8] = self.raw.read_binary_values(datatype="B", container=np.array)
            except Exception as exc:
                raise self._explained(exc, command) from None
            return block
        raw = self.raw
        termination = raw.read_termination
        try:
            head = raw.read_bytes(2)
            if head[:1] != b"#" or head[1:2] not in b"123456789":
                raise ValueError(f"not a definite-length block: it starts {head!r}")
            digits = raw.read_bytes(int(head[1:2]))
            if not digits.isdigit():
                raise ValueError(f"not a definite-length block: its length reads {digits!r}")
            raw.read_termination = None
            try:
                body = raw.read_bytes(int(digits))
            finally:
                raw.read_termination = termination
            end = raw.read_bytes(len(termination)) if termination else b""
        except ValueError:
            raise
        except Exception as exc:
            raise self._explained(exc, command) from None
        if end != (termination or "").encode():
            raise ValueError(f"the block ends {end!r}, not with the read termination")
        return np.frombuffer(body, dtype=np.uint8)

    def clear(self) -> None:
        """Discard whatever the instrument still sends (after a garbled or late answer)."""
        try:
            self.raw.clear()
        except Exception as exc:
            raise self._explained(exc, "device clear") from None

    def close(self) -> None:
        """Close the session."""
        self.raw.close()

    def _unanswered(self, command: str, began: bytes, late: bytes) -> VisaTimeout:
        """Return the timeout of `ask`, saying whether the instrument began an answer or answered late."""
        within = f"within {self.timeout:g} s (visa_timeout)"
        if began:
            ending = self.raw.read_termination
            return VisaTimeout(
                f"{self.resource} began answering {command!r} ({began!r}...) but sent no {ending!r} "
                f"(read_termination) {within}: its answers end in another character; set read_termination to it "
                "(labmon discover shows it)"
            )
        text = f"no answer to {command!r} from {self.resource} {within}"
        if late:
            text += f"; a late answer ({late[:40]!r}) came after it and was dropped, so the next query is in step"
        return VisaTimeout(text)

    def _explained(self, exc: Exception, command: str) -> Exception:
        """Return a VisaTimeout naming command, resource and timeout for pyvisa's timeout; else `exc` itself."""
        if "VI_ERROR_TMO" not in str(exc):
            return exc
        return VisaTimeout(f"no answer to {command!r} from {self.resource} within {self.timeout:g} s (visa_timeout)")


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
