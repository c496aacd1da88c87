"""This collector's side of a pair: its role said on the broker, the other's heard, the ledger kept."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

from labmon.config import BrokerConfig, FailoverConfig
from labmon.messages import ONLINE
from labmon.models import Alert
from labmon.mqtt import BrokerClient
from labmon_collector.failover.election import Peer, Role, decide
from labmon_collector.failover.ledger import Key, Ledger

log = logging.getLogger(__name__)


class Pair:
    """Elects the active collector each cycle and tells the other which transitions were notified."""

    def __init__(self, settings: FailoverConfig, broker: BrokerConfig, interval: float, client_prefix: str) -> None:
        self.node = settings.node
        self.order = tuple(settings.order)
        self.role: Role = "standby"
        self.since = time.time()
        self.takeovers = 0
        self.stale = 3 * interval
        """A collector not heard for this long is gone though the broker has not sent its Last Will yet (its network
        gone: the broker notices after 1.5 keepalives). Shorter would take a busy collector for a dead one."""
        self.ledger = Ledger(keep_for=3 * interval)
        self.interval = interval
        self._started = time.monotonic()
        self._linked_at: float | None = None
        """When the link first came up: a fresh collector listens one interval before it may take over."""
        self.peers: dict[str, Peer] = {}
        self._base = f"{broker.topic_prefix}/failover"
        self._lock = threading.Lock()
        self.client = BrokerClient(
            broker, f"{client_prefix}-failover-{self.node}", status_topic=f"{self._base}/{self.node}/status"
        )

    def start(self) -> None:
        """Listen to the other collectors and connect."""
        for peer in self.order:
            if peer != self.node:  # one topic each: the client hands a message to the handler of its exact topic
                self.client.subscribe(f"{self._base}/{peer}/status", self._on_status)
                self.client.subscribe(f"{self._base}/{peer}/role", self._on_role)
        self.client.subscribe(f"{self._base}/notified", self._on_notified)
        self.client.start()

    def stop(self) -> None:
        """Say this collector is gone (the other takes over at its next cycle) and disconnect."""
        self.client.stop()

    def step(self, firing: set[tuple[str, str]]) -> tuple[Role, list[Alert], list[Key]]:
        """Decide the role for this cycle and say it; return it and, on a takeover, the transitions owed and
        those the other notified that this collector's engine has not produced (`firing`: what it fires now)."""
        now = time.monotonic()
        with self._lock:
            before = self.role
            if self.linked() and self._linked_at is None:
                self._linked_at = now
            # Without the link this collector cannot know whether the other is active: it yields.
            heard = self._linked_at is not None and self.linked() and now - self._linked_at >= self.interval
            role = decide(self.node, self.order, before, self.peers, now, self.stale) if heard else "standby"
            took_over = (before, role) == ("standby", "active")
            owed, unmatched = self.ledger.take_over(now, firing) if took_over else ([], [])
            self.role = role
        if role != before:
            self.since = time.time()
            self.takeovers += role == "active"
            log.warning("collector %s is now %s", self.node, role)
        payload = {"node": self.node, "role": role, "since": self.since}
        self.client.publish(f"{self._base}/{self.node}/role", json.dumps(payload).encode(), retain=True)
        return role, owed, unmatched

    def linked(self) -> bool:
        """Return whether the link to the broker is up."""
        return self.client.connected.is_set()

    def shadow(self, alerts: list[Alert]) -> None:
        """Note what a standby's engine produced: sent at a takeover unless the active says it notified it.

        Not in the first two intervals: an engine that just started judges from the state it saved before it
        stopped, and ends alerts the active ended long ago (it never heard that).
        """
        now = time.monotonic()
        if now - self._started >= 2 * self.interval:
            with self._lock:
                self.ledger.shadow(alerts, now)

    def to_send(self, alerts: list[Alert]) -> list[Alert]:
        """Return what the active sends (not what the other notified already) and tell the other."""
        with self._lock:
            fresh = self.ledger.to_send(alerts, time.monotonic())
        for alert in fresh:
            key = [alert.rule, alert.series, alert.state]
            message = {"id": uuid.uuid4().hex, "node": self.node, "key": key, "repeat": alert.repeat}
            self.client.publish(f"{self._base}/notified", json.dumps(message).encode())
        return fresh

    def facts(self) -> dict[str, Any]:
        """Return what `labmon status`, the page and /metrics say about the pair."""
        with self._lock:
            peers = {name: peer.role if peer.online else "gone" for name, peer in self.peers.items()}
            double = list(self.ledger.double_sent)
        return {
            "node": self.node,
            "role": self.role,
            "since": self.since,
            "takeovers": self.takeovers,
            "peers": peers,
            "double_sent": double,
        }

    def _sender(self, topic: str) -> str | None:
        name = topic[len(self._base) + 1 :].split("/")[0]
        return name if name != self.node and name in self.order else None

    def _on_status(self, topic: str, payload: bytes) -> None:
        name = self._sender(topic)
        if name is not None:
            with self._lock:
                peer = self.peers.setdefault(name, Peer())
                peer.online = payload == ONLINE
                peer.heard = time.monotonic()

    def _on_role(self, topic: str, payload: bytes) -> None:
        name = self._sender(topic)
        try:
            role = json.loads(payload)["role"]
        except (ValueError, KeyError, TypeError):
            log.warning("a malformed failover role on %s", topic)
            return
        if name is not None and role in ("active", "standby"):
            with self._lock:
                peer = self.peers.setdefault(name, Peer())
                peer.role, peer.heard = role, time.monotonic()

    def _on_notified(self, topic: str, payload: bytes) -> None:
        try:
            message = json.loads(payload)
            rule, series, state = message["key"]
            key: Key = (str(rule), str(series), str(state), int(message["repeat"]))
            sender = message["node"]
        except (ValueError, KeyError, TypeError):
            log.warning("a malformed failover notification on %s", topic)
            return
        if sender != self.node:
            with self._lock:
                self.ledger.learn(key, time.monotonic())
