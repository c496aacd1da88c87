"""The run state labmon found a scope in: put back after each read, and after a stalled or killed read at the next open.

While labmon has a scope (armed for its own single acquisitions), a small file says what it found, so a
read that stalls, or a measurer that is killed mid-read, cannot leave the scope stopped for good: the next
open puts it back. Created and removed within one read, it costs an SD card next to nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from labmon_rigol.visa import Session, VisaTimeout

log = logging.getLogger(__name__)

STOPPED_BY_HAND = "scope stopped by hand; not read"
ARMED_BY_HAND = "scope armed for a single by hand; not read"
NOT_TAKEN = " (take_over = true lets labmon take it and put it back as found)"


@dataclass(frozen=True)
class RunState:
    """`:TRIG:STAT?` (TD, WAIT, RUN, AUTO or STOP) and, where it matters, `:TRIG:SWE?` (AUTO, NORM or SING)."""

    status: str
    sweep: str | None = None

    @classmethod
    def of(cls, session: Session, *, sweep: bool) -> RunState:
        """Ask the scope; the sweep too if `sweep` or if the scope may not be running (to tell, or to put back)."""
        status = session.query(":TRIG:STAT?").strip().upper()
        if not sweep and status not in ("WAIT", "STOP"):
            return cls(status)
        return cls(status, session.query(":TRIG:SWE?").strip().upper())

    @classmethod
    def parse(cls, text: str) -> RunState:
        """Return the state written by `str()`."""
        status, sweep = [*text.strip().split(","), ""][:2]
        return cls(status, sweep or None)

    def __str__(self) -> str:
        return f"{self.status},{self.sweep or ''}"

    @property
    def running(self) -> bool:
        """Return whether the scope acquires on its own, without a `:SING` or `:RUN`."""
        return self.status != "STOP" and not self.armed

    @property
    def armed(self) -> bool:
        """Return whether a single acquisition is armed, waiting for its trigger."""
        return self.status == "WAIT" and self.sweep == "SING"

    def by_hand(self) -> str | None:
        """Return why a scope in this state (which labmon did not leave so) is not read, or None if running."""
        if self.status == "STOP":
            return STOPPED_BY_HAND
        return ARMED_BY_HAND if self.armed else None

    def restore(self) -> str:
        """Return the message that puts a scope back in this state and waits for it (one answer)."""
        run = ":RUN" if self.running else ":SING" if self.armed else ":STOP"
        sweep = f":TRIG:SWE {self.sweep};" if self.sweep else ""
        return f"{sweep}{run};:TRIG:STAT?"


class Found:
    """Where labmon notes the state it found a scope in while it has the scope."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        name = hashlib.sha256(resource.encode()).hexdigest()[:16]
        self.path = state_dir() / "rigol" / f"{name}.found"
        self._warned = False

    def left(self) -> RunState | None:
        """Return the state a stalled or killed read did not put back, if any."""
        try:
            return RunState.parse(self.path.read_text())
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._cannot(exc)
            return None

    def note(self, state: RunState) -> None:
        """Write down `state` before labmon changes it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(str(state))
        except OSError as exc:
            self._cannot(exc)

    def forget(self) -> None:
        """The scope is back as found."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            self._cannot(exc)

    def _cannot(self, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "%s: cannot note its run state in %s (%s): a killed read may leave it stopped",
                self.resource,
                self.path,
                exc,
            )


def state_dir() -> Path:
    """Return labmon's state directory: systemd's for a service, else the XDG one."""
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "labmon"


def put_back(session: Session, found: Found) -> None:
    """Put the scope back in the state a stalled or killed read left noted; raise if it does not answer."""
    state = found.left()
    if state is not None:
        session.query(state.restore())
        found.forget()
        log.warning("%s: put back as found (%s) after a read that stalled or was killed", found.resource, state)


@contextlib.contextmanager
def taken(session: Session, state: RunState, found: Found) -> Iterator[None]:
    """Note `state`, let the body change it, put it back; a stall leaves the putting back to the next open."""
    found.note(state)
    try:
        yield
    except VisaTimeout:
        raise  # the scope does not answer: putting it back would only wait out another timeout
    except Exception:
        with contextlib.suppress(Exception):  # the body's error is the one to tell; the next open tries again
            session.query(state.restore())
            found.forget()
        raise
    session.query(state.restore())
    found.forget()
