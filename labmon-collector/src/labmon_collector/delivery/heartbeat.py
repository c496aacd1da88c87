"""Ping a push monitor (healthchecks style) after every cycle, so the lab hears when the pings stop."""

from __future__ import annotations

import logging
import threading
import urllib.request
from urllib.parse import urlsplit, urlunsplit

from labmon.config import HeartbeatConfig
from labmon.httpstatus import redact

log = logging.getLogger(__name__)


def fail_url(url: str) -> str:
    """Return the monitor's failure URL: `/fail` added to the path, before any query string."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


class Heartbeat(threading.Thread):
    """Sends the latest cycle's ping in the background: a slow monitor never delays a cycle."""

    def __init__(self, config: HeartbeatConfig) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.config = config
        self._pending: tuple[bool, str] | None = None
        self._wake = threading.Condition()
        self._stopping = False
        self.failing = False
        self.sent = 0

    def ping(self, ok: bool, summary: str) -> None:
        """Queue a success (`ok`) or failure ping with a one-line body; an unsent older ping is replaced."""
        with self._wake:
            self._pending = (ok, summary)
            self._wake.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (for up to `timeout` seconds), then stop."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self.join(timeout)

    def run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending is not None or self._stopping)
                pending, self._pending = self._pending, None
            if pending is not None:
                self._send(*pending)
            elif self._stopping:
                return

    def _send(self, ok: bool, summary: str) -> None:
        url = self.config.url.rstrip("/") if ok else fail_url(self.config.url)
        try:
            with urllib.request.urlopen(url, data=summary.encode(), timeout=self.config.timeout) as response:
                response.read()
        except Exception as exc:  # any failure of the monitor must not touch the collector
            if not self.failing:
                log.warning("heartbeat ping failed (logged again once it recovers): %s", self._redacted(exc))
            self.failing = True
            return
        if self.failing:
            log.info("heartbeat pings get through again")
        self.failing = False
        self.sent += 1

    def _redacted(self, exc: Exception) -> str:
        parts = urlsplit(self.config.url)
        path = parts.path if len(parts.path) > 1 else ""
        return redact(f"{type(exc).__name__}: {exc}", self.config.url, parts.netloc + path, path, parts.query)
