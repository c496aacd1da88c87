"""What a broker refused (a login, a subscription, a publish), said once: for whom, what, and the fix.

Mosquitto answers an MQTT v5 client's SUBSCRIBE and QoS 1 PUBLISH with a reason code per topic; a
refused one used to pass unseen (a measurer logged "connected" and nothing else).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

log = logging.getLogger("labmon.mqtt")

MAX_UNACKED = 10_000
"""QoS 1 publishes remembered until their PUBACK; past it (a broker that never answers) they are forgotten."""
ACL_FIX = "allow it in the broker's ACL file: `topic {access} {topic}` under the user (docs/operations.md, The broker)"


class Reason(Protocol):
    """An MQTT v5 reason code, as paho gives it."""

    @property
    def is_failure(self) -> bool: ...


class Denials:
    """One connection's refusals: each logged once; `refused_since` while everything it sends is refused."""

    def __init__(self, address: str, username: str | None) -> None:
        self.address = address
        self.who = f"user {username!r}" if username else "an anonymous client (no [broker] username)"
        self.logins_refused = 0
        """Refused login attempts (each retry counts; only the first of each reason is logged)."""
        self.read_refused_since: float | None = None
        """Since when the broker refuses every topic this client subscribes to (until a SUBACK grants one)."""
        self.write_refused_since: float | None = None
        """Since when the broker refuses what this client publishes (until a PUBACK takes one)."""
        self._told: set[str] = set()
        self._unacked: dict[int, str] = {}
        self._early: dict[int, Reason] = {}
        self._lock = threading.Lock()

    @property
    def refused_since(self) -> float | None:
        """Since when this client hears nothing or can send nothing through the broker (None: neither)."""
        refused = [at for at in (self.read_refused_since, self.write_refused_since) if at is not None]
        return min(refused, default=None)

    def login_refused(self, reason: object) -> None:
        """Say, once per reason, that the broker refused the login."""
        self.logins_refused += 1
        fix = (
            "check [broker] username and password (or password_file) against the broker's password file"
            if "anonymous" not in self.who
            else "set [broker] username and password: this broker requires a login"
        )
        self._once(f"login {reason}", "broker %s refused the login of %s: %s; fix: %s", reason, fix)

    def accepted(self) -> None:
        """Forget the refused logins: a later refusal is news again."""
        with self._lock:
            self._told = {told for told in self._told if not told.startswith("login ")}

    def subscribed(self, topics: Sequence[str], reasons: Sequence[Reason]) -> None:
        """Judge a SUBACK: each refused topic is said once; all refused means this client hears nothing."""
        refused = [(topic, reason) for topic, reason in zip(topics, reasons, strict=False) if reason.is_failure]
        for topic, reason in refused:
            fix = ACL_FIX.format(access="read", topic=topic)
            self._once(f"read {topic}", "broker %s refused %s reading %s (%s); fix: %s", topic, reason, fix)
        if topics and len(refused) == len(topics):
            if self.read_refused_since is None:
                self.read_refused_since = time.time()
        elif self.read_refused_since is not None:
            log.info("broker %s lets %s read again", self.address, self.who)
            self.read_refused_since = None

    def sent(self, mid: int, topic: str) -> None:
        """Remember a QoS 1 publish until its PUBACK says whether it was taken."""
        with self._lock:
            early = self._early.pop(mid, None)
            if early is None:
                if len(self._unacked) >= MAX_UNACKED:
                    self._unacked.clear()
                self._unacked[mid] = topic
        if early is not None:  # the PUBACK came before publish() returned
            self._judge(topic, early)

    def published(self, mid: int, reason: Reason) -> None:
        """Judge a PUBACK (paho's on_publish): a refused topic is said once; an accepted one clears `refused_since`."""
        with self._lock:
            topic = self._unacked.pop(mid, None)
            if topic is None:
                if len(self._early) < MAX_UNACKED:
                    self._early[mid] = reason
                return
        self._judge(topic, reason)

    def _judge(self, topic: str, reason: Reason) -> None:
        if not reason.is_failure:
            if self.write_refused_since is not None:
                log.info("broker %s takes what %s publishes again", self.address, self.who)
            self.write_refused_since = None
            return
        fix = ACL_FIX.format(access="write", topic=topic)
        self._once(f"write {topic}", "broker %s refused %s publishing to %s (%s); fix: %s", topic, reason, fix)
        if self.write_refused_since is None:
            self.write_refused_since = time.time()

    def _once(self, key: str, message: str, *args: object) -> None:
        with self._lock:
            if key in self._told:
                return
            self._told.add(key)
        log.error(message, self.address, self.who, *args)
