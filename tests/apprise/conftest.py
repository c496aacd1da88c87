"""Fixtures of the Apprise notifier's tests: a real SMTP server (aiosmtpd) on a free loopback port, alerts."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest

from labmon import Alert

TOKEN = "t0ken-that-must-never-show"
PASSWORD = "pa55-that-must-never-show"


def free_port() -> int:
    """Return a loopback port that nothing listens on (for a server that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alert(state: str = "firing", **changes: Any) -> Alert:
    """Return a laser-unlocked alert, changed as asked."""
    fields: dict[str, Any] = {
        "rule": "laser1-unlocked",
        "state": state,
        "series": "table1/laser1/lock_error",
        "message": "table1/laser1/lock_error has been above 0.5 V for 20m (now 1.05 V)",
        "severity": "critical",
        "value": 1.05,
        "unit": "V",
        "threshold": 0.5,
        "since": 1_764_000_000.0,
        "at": 1_764_001_200.0,
        "labels": {"measurer": "table1", "instrument": "laser1", "reading": "lock_error"},
    }
    return Alert(**{**fields, **changes})


def text_of(mail: EmailMessage) -> str:
    """Return a mail's plain-text body with Python's line ends."""
    part = mail.get_body(("plain",)) or mail  # a mail with a plot attached is multipart
    return str(part.get_content()).replace("\r\n", "\n")


@dataclass
class MailServer:
    """What an SMTP server on loopback received, and how it answers: refusals by recipient, one login."""

    host: str = "127.0.0.1"
    port: int = 0
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP reply
    login: tuple[str, str] | None = None
    received: list[EmailMessage] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def url(self, to: str = "team@lab.example", *, user: str = "") -> str:
        """Return the Apprise URL that sends plain SMTP (no TLS) to this server."""
        who = f"{user}@" if user else ""
        return f"mailto://{who}{self.host}:{self.port}?from=labmon@lab.example&to={to}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until `count` messages have arrived; return them."""
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self.received.append(message)  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        given = (auth_data.login.decode(), auth_data.password.decode())
        return AuthResult(success=given == self.login, handled=False)


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port, with AUTH offered without TLS."""
    from aiosmtpd.controller import Controller

    server = MailServer()
    for _ in range(5):  # aiosmtpd needs a port number up front: another process may take ours in between
        server.port = free_port()
        controller = Controller(
            server, hostname=server.host, port=server.port, authenticator=server.authenticate, auth_require_tls=False
        )
        try:
            controller.start()
            break
        except (OSError, RuntimeError):
            continue
    else:
        pytest.fail("no free port for the SMTP server")
    yield server
    controller.stop()
