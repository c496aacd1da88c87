"""Keep a question-and-answer line in step, so an answer is always the answer to the query just sent.

A busy instrument answers late: the late answer would be read as the answer to the next query, and every
value after it shifted by one. So stale input is discarded before each query, and after a timeout the line
is drained until it has been quiet for a while (the late answer arrives and is dropped). A resource whose
drain did not end stays marked, and its next session drains first: serial bytes outlive a reopen.

Works on a pyvisa message-based resource (pyvisa-py's too) through its public `timeout`, `read_bytes` and
`clear`. Only byte streams (serial lines, raw sockets) are drained: on USB (USBTMC), VXI-11 and GPIB a read
with nothing asked makes many instruments queue an error (-420 "Query UNTERMINATED"), and their protocol
has a device clear that empties the instrument's output queue, so a timeout there clears it instead.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

VI_ERROR_TMO = -1073807339  # pyvisa.constants.StatusCode.error_timeout: named here, pyvisa is imported late
VI_ATTR_SUPPRESS_END_EN = 0x3FFF0036  # pyvisa.constants.ResourceAttribute.suppress_end_enabled
LONGEST_QUIET = 2.0  # seconds: a dead instrument's read still fails within twice its timeout plus this
NEVER_QUIET_AFTER = 10  # quiet periods: an instrument still sending then talks unasked (a talk-only mode)

_unsettled: set[str] = set()
_lock = threading.Lock()


def is_visa_timeout(exc: BaseException) -> bool:
    """Return whether `exc` is pyvisa's timeout error (VI_ERROR_TMO)."""
    return getattr(exc, "error_code", None) == VI_ERROR_TMO or "VI_ERROR_TMO" in str(exc)


class Line:
    """One VISA resource's line: `ready()` before each query, `timed_out()` when a query got no answer in time.

    After a timeout it waits for a quiet spell as long as the timeout (2 s at most): an answer later than that
    still arrives before the next query in most cases (a cycle later), and `ready()` drops it then.
    """

    def __init__(self, resource: Any, timeout: float) -> None:
        self.resource, self.quiet = resource, min(timeout, LONGEST_QUIET)
        self.name: str = resource.resource_name
        self.stream = self.name.upper().startswith("ASRL") or self.name.upper().endswith("::SOCKET")

    def whole_answers_only(self) -> None:
        """On a raw socket, end a read only at the termination: pyvisa-py otherwise ends it at a pause, mid-answer."""
        if self.name.upper().endswith("::SOCKET"):
            self.resource.set_visa_attribute(VI_ATTR_SUPPRESS_END_EN, True)

    def ready(self) -> None:
        """Drop what arrived unasked; drain until quiet first if this resource's last query timed out."""
        if not self.stream:
            return
        with _lock:
            unsettled = self.name in _unsettled
        self.drain(self.quiet if unsettled else 0.0)
        with _lock:
            _unsettled.discard(self.name)

    def timed_out(self) -> bytes:
        """Mark the line unsettled and drain it until quiet; return what a late answer brought meanwhile."""
        if not self.stream:
            # device clear: the instrument drops the answer it is still making; a backend without one leaves
            # the runner's reopen, and the timeout is what the caller reports either way
            with contextlib.suppress(Exception):
                self.resource.clear()
            return b""
        with _lock:
            _unsettled.add(self.name)
        late = self.drain(self.quiet)
        with _lock:
            _unsettled.discard(self.name)
        return late

    def drain(self, quiet: float) -> bytes:
        """Read and drop bytes until none came for `quiet` seconds; ConnectionError if that never happens."""
        saved = self.resource.timeout
        self.resource.timeout = round(quiet * 1000)
        limit = time.monotonic() + max(quiet, 0.1) * NEVER_QUIET_AFTER
        dropped = bytearray()
        try:
            while True:
                try:
                    dropped += self.resource.read_bytes(1)
                except Exception as exc:
                    if is_visa_timeout(exc):
                        return bytes(dropped)
                    raise
                if time.monotonic() > limit:
                    raise ConnectionError(
                        f"{self.name} keeps sending unasked ({len(dropped)} bytes, e.g. {bytes(dropped[-40:])!r}): "
                        "switch off its talk-only or continuous output mode"
                    )
        finally:
            self.resource.timeout = saved
