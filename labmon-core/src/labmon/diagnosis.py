"""Name why a broker connection failed: resolution, refusal, timeout, TLS verification, TLS against plain."""

from __future__ import annotations

import ipaddress
import socket
import ssl

from labmon.config import BrokerConfig

PROBE_TIMEOUT = 2.0


def is_loopback(host: str) -> bool:
    """Return whether `host` names this machine's loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect_error(error: BaseException, broker: BrokerConfig) -> str:
    """Return the cause of a failed connect in words, with what to check."""
    where = f"port {broker.port}"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve host {broker.host!r} ({error.strerror}); check [broker] host"
    if isinstance(error, ssl.SSLCertVerificationError):
        message = (error.verify_message or str(error)).rstrip(".")
        if "mismatch" in message.lower():
            return f"TLS certificate verify failed: {message}; connect by a name the certificate lists"
        source = f"ca_file {broker.ca_file}" if broker.ca_file else "the system CAs"
        return f"TLS certificate verify failed: {message} (checked against {source})"
    if broker.tls and isinstance(error, (ssl.SSLError, ConnectionResetError, ConnectionAbortedError)):
        return (
            f"TLS handshake failed ({_reason(error)}): {where} does not seem to speak TLS; "
            "use the broker's TLS port (often 8883) or set tls = false"
        )
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused: nothing listens on {where} of {broker.host}"
    if isinstance(error, TimeoutError):
        return "no answer in time (a firewall, or the wrong host?)"
    return _reason(error)


def closed_early(broker: BrokerConfig, reason: str) -> str:
    """Return why a broker may have closed a connection before accepting it."""
    if not broker.tls and speaks_tls(broker.host, broker.port):
        return f"port {broker.port} expects TLS; set tls = true (and ca_file) in [broker]"
    return f"the broker closed the connection before accepting it ({reason})"


def speaks_tls(host: str, port: int) -> bool:
    """Return whether a TLS handshake (unverified: this only asks whether it is TLS) succeeds at host:port."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except OSError:
        return False


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
