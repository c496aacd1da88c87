"""This collector's side of a pair: its role said on the broker, the other's heard, the ledger kept."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from labmon.badinput import BadInput
from labmon.config import BrokerConfig, FailoverConfig
from labmon.messages import ONLINE
from labmon.models import Alert
from labmon.mqtt import BrokerClient, Publication
from labmon_collector.failover.election import Peer, Role, decide
from labmon_collector.failover.ledger import Key, Ledger, key_of

log = logging.getLogger(__name__)

Record = list[list[Any]]
"""What this collector notified, as kept across a restart: [rule, series, state, repeat, at] each."""


class Pair:
    """Elects the active collector and tells the other which transitions were notified."""

    def __init__(
        self,
        settings: FailoverConfig,
        broker: BrokerConfig,
        interval: float,
        client_prefix: str,
        *,
        saved: dict[str, Any] | None = None,
        keep: Callable[[Record], None] | None = None,
    ) -> None:
        self.node = settings.node
        self.order = tuple(settings.order)
        self.role: Role = "standby"
        self.since = time.time()
        self.takeovers = 0
        self.beat = interval / 4
        """Seconds between two role messages, from a thread of its own: a late cycle is not a silent collector."""
        self.stale = 1.5 * interval
        """A collector not heard for this long is gone though the broker has not sent its Last Will yet (its network
        gone: the broker notices only after 1.5 keepalives); six beats missed, so a busy one is not taken for dead."""
        self.check = interval / 10
        """Seconds between two looks, between cycles, at whether the role should change (then a cycle runs now)."""
        self.ledger = Ledger(keep_for=3 * interval, match_within=5 * interval)
        self.interval = interval
        self._started = time.monotonic()
        self._linked_at: float | None = None
        """When the current link came up: a collector listens one interval after it before it may take over."""
        self._link: float | None = None
        self._echoed: float | None = None
        """When this collector last heard its own role message: a link that carries nothing is no link."""
        self.peers: dict[str, Peer] = {}
        self._base = f"{broker.topic_prefix}/failover"
        self._lock = threading.Lock()
        self._echo = threading.Condition(self._lock)
        self._saying = threading.Lock()
        """Held from reading the role to handing its message over: the last message said is the role now."""
        self._said_at = -math.inf
        """When this cycle's role message went out: its echo says the link carried this cycle."""
        self._stopping = threading.Event()
        self._beats = threading.Thread(target=self._beat_loop, name=f"failover-{self.node}", daemon=True)
        self._keep = keep
        self.bad_input = BadInput(log, "a malformed failover message")
        """Messages of the other collector's that could not be used: counted, logged once a minute per topic."""
        self._unqueued: dict[Key, float] = {}
        """Transitions this collector said it sends that are not in its outbox yet, and when it said so."""
        self._unkept = False
        """Whether transitions were queued since the record was last handed to `keep`."""
        saved = saved or {}
        self.ledger.mine = [
            ((str(r), str(s), str(st), int(n)), float(at)) for r, s, st, n, at in saved.get("failover_sent") or []
        ]
        for key, at in self.ledger.mine:
            self.ledger.told_of(key, at)
        before = saved.get("failover") or {}
        self.ledger.double_sent = list(before.get("double_sent") or [])
        self.ledger.doubles = int(before.get("double_sent_total") or len(self.ledger.double_sent))
        self.client = BrokerClient(
            broker, f"{client_prefix}-failover-{self.node}", status_topic=f"{self._base}/{self.node}/status"
        )

    def start(self) -> None:
        """Listen to the other collectors, connect, start beating, and say again what was notified before."""
        for peer in self.order:
            if peer != self.node:  # one topic each: the client hands a message to the handler of its exact topic
                self.client.subscribe(f"{self._base}/{peer}/status", self._on_status)
                self.client.subscribe(f"{self._base}/{peer}/role", self._on_role)
        self.client.subscribe(f"{self._base}/{self.node}/role", self._on_echo)
        self.client.subscribe(f"{self._base}/notified", self._on_notified)
        self.client.start()
        self._beats.start()

    def stop(self) -> None:
        """Say this collector is gone (the other takes over at once) and disconnect."""
        self._keep_record()  # what the held notifications' last release queued
        self._stopping.set()
        if self._beats.is_alive():
            self._beats.join()
        self.client.stop()

    def due(self) -> bool:
        """Return whether this collector's role would change now (the collector then runs a cycle at once)."""
        with self._lock:
            return self._decide(time.monotonic()) != self.role

    def sends(self) -> bool:
        """Return whether this collector sends this cycle's alerts: active, still so by what it hears now, and its
        link carries after the cycle's replies were gathered (a role message said now comes back within a beat).

        One that finds its link dark, or was frozen, in the middle of its cycle yields: it asked into the dark
        and every measurer looks missing to it. What its engine produced is kept as a standby's, owed if it is
        elected again, and the other, taking over, judges for itself. The echo of the message said at the
        cycle's start is not enough: a link that goes dark after it carried that one took the replies with it.
        """
        with self._echo:
            if self.role != "active":
                return False
            self._said_at = time.monotonic()
        self._say(qos=0)
        with self._echo:
            came = self._echo.wait_for(lambda: self._echoed is not None and self._echoed >= self._said_at, self.beat)
            if self.role != "active":
                return False
            if came and self._decide(time.monotonic()) == "active":
                return True
            self.role, self.since = "standby", time.time()
            if not came:  # the echoes heard before the link went dark say nothing of it now: it listens again
                self._echoed = None
        log.warning("collector %s is now standby: %s", self.node, "another is active" if came else "its link is dark")
        self._say(qos=1)
        return False

    def step(self, firing: set[tuple[str, str]]) -> tuple[Role, list[Alert]]:
        """Decide the role for this cycle and say it; return it and, on a takeover, the transitions owed
        (`firing`: what this collector's engine fires now)."""
        self._keep_record()  # what the held notifications' release queued since the last cycle
        now = time.monotonic()
        with self._lock:
            before = self.role
            role = self._decide(now)
            took_over = (before, role) == ("standby", "active")
            owed = self.ledger.take_over(now, firing) if took_over else []
            self.role = role
            self._said_at = now
            if role != before:
                self.since = time.time()
                self.takeovers += role == "active"
        if role != before:
            log.warning("collector %s is now %s", self.node, role)
        self._say(qos=1)
        return role, owed

    def _decide(self, now: float) -> Role:
        """Return the role the election gives now (called with the lock held)."""
        linked = self.linked()
        if linked and self.client.up_since != self._link:
            self._link, self._linked_at = self.client.up_since, now
        # Without the link this collector cannot know whether the other is active: it yields. After a new link it
        # listens one interval first; a link its own messages stopped coming back on is no link either.
        echoed = self._echoed is not None and now - self._echoed <= self.stale
        listened = self._linked_at is not None and now - self._linked_at >= self.interval
        if not (linked and echoed and listened):
            return "standby"
        return decide(self.node, self.order, self.role, self.peers, now, self.stale, self.beat)

    def _beat_loop(self) -> None:
        while not self._stopping.wait(self.beat):
            self._say(qos=0)  # dropped while disconnected: a late one would say an old role

    def _say(self, qos: int) -> None:
        # Every change of role is said after it (by the changer): a beat that read the role before the change
        # hands its message over first, never after, so the retained one is never the role before.
        with self._saying:
            with self._lock:
                payload = {"node": self.node, "role": self.role, "since": self.since}
            self.client.publish(f"{self._base}/{self.node}/role", json.dumps(payload).encode(), retain=True, qos=qos)

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
        """Return what the active sends (not what the other notified already), told to the other first.

        The other is told before the alerts leave, each as it is worded: waiting (briefly) for the broker to take
        each message means a collector killed once its notifier answered has told its standby, which does not send
        them again. Until `queued` says they are in the outbox the other holds them as unsure: a kill before (a
        notification is held a moment for "what changed before it") would lose them, and the other, taking
        over, sends them.
        """
        at = time.time()
        with self._lock:
            fresh = self.ledger.to_send(alerts, time.monotonic(), at)
            self._unqueued.update((key_of(alert), at) for alert in fresh)
        sent = [
            self._publish_notified([a.rule, a.series, a.state], a.repeat, at, queued=False, alert=a.to_dict())
            for a in fresh
        ]
        if self.linked():
            until = time.monotonic() + self.beat  # one beat for all: a link gone dark must not hold each one a beat
            for message in sent:
                try:
                    message.wait_for_publish(max(0.0, until - time.monotonic()))
                except (RuntimeError, ValueError):  # the link dropped: the other learns of a double from the replay
                    break
        return fresh

    def queued(self, alerts: list[Alert]) -> None:
        """Tell the other that those of `alerts` this collector said it sends are in its outbox (or handed to a
        group gathering in memory): it no longer holds them as unsure.

        Only then are they in the record handed to `keep` (see `_keep_record`): one killed before its outbox had
        an alert, back, must not say it sent it. Called from the thread that releases held notifications.
        """
        with self._lock:
            done = [(key, self._unqueued.pop(key)) for key in map(key_of, alerts) if key in self._unqueued]
            self._unkept = self._unkept or bool(done)
        for (rule, series, state, repeat), at in done:
            self._publish_notified([rule, series, state], repeat, at)

    def _publish_notified(self, key: list[str], repeat: int, at: float, **more: Any) -> Publication:
        """Say a transition this collector notified (`queued=False`, with the alert: it says it sends it)."""
        message = {"id": uuid.uuid4().hex, "node": self.node, "key": key, "repeat": repeat, "at": at, **more}
        return self.client.publish(f"{self._base}/notified", json.dumps(message).encode())

    def notified_firing(self) -> set[tuple[str, str]]:
        """Return the (rule, series) either collector notified firing and not yet resolved."""
        with self._lock:
            return self.ledger.notified_firing()

    def facts(self) -> dict[str, Any]:
        """Return what `labmon status`, the page and /metrics say about the pair."""
        with self._lock:
            peers = {name: peer.role if peer.online else "gone" for name, peer in self.peers.items()}
            double, doubles = list(self.ledger.double_sent), self.ledger.doubles
            role, since = self.role, self.since
        return {
            "node": self.node,
            "role": role,
            "since": since,
            "takeovers": self.takeovers,
            "peers": peers,
            "double_sent": double,
            "double_sent_total": doubles,
        }

    def _sender(self, topic: str) -> str | None:
        name = topic[len(self._base) + 1 :].split("/")[0]
        return name if name != self.node and name in self.order else None

    def _on_status(self, topic: str, payload: bytes) -> None:
        name = self._sender(topic)
        if name is not None:
            with self._lock:
                peer = self.peers.setdefault(name, Peer())
                if payload == ONLINE and not peer.online:
                    peer.role = "standby"  # a collector starts standby: the role it had before it went is past
                back = self._back(peer, online=payload == ONLINE)
            if back:
                self._say_again()

    def _back(self, peer: Peer, **heard: Any) -> bool:
        """Note a message from `peer` (with the lock held); return whether it was gone or silent until now."""
        now = time.monotonic()
        was = peer.alive(now, self.stale)
        for name, value in heard.items():
            setattr(peer, name, value)
        peer.heard = now
        return peer.alive(now, self.stale) and not was

    def _say_again(self) -> None:
        """Say again what this collector notified, to one that was gone or apart: it finds what both sent (and
        what this one sent firing, to be ended if its engine does not hold it). Not what is not queued yet: said
        again as sent, it would be sure to the other before it is; its word that it is queued follows."""
        with self._lock:
            record = self._sent()
        for (rule, series, state, repeat), at in record:
            self._publish_notified([rule, series, state], repeat, at)

    def _keep_record(self) -> None:
        """Hand the record of what this collector notified and its outbox has to `keep`, if it changed: its own, to
        find doubles after a partition. From the cycle's thread (or at the stop), as the alert store wants; the
        collector writes it with its next commit, made for something else or the pulse's (a kill before it forgets
        a double, never a notification)."""
        with self._lock:
            if not self._unkept:
                return
            self._unkept = False
            record = [[*key, at] for key, at in self._sent()]
        if self._keep is not None:
            self._keep(record)

    def _sent(self) -> list[tuple[Key, float]]:
        """Return what this collector notified and its outbox has, and when (with the lock held)."""
        return [(key, at) for key, at in self.ledger.mine if key not in self._unqueued]

    def _on_echo(self, topic: str, payload: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            if self._echoed is None or now - self._echoed > self.stale:
                self._linked_at = now  # its own messages stopped coming back (cut off, or frozen): it listens again
            self._echoed = now
            self._echo.notify_all()

    def _on_role(self, topic: str, payload: bytes) -> None:
        name = self._sender(topic)
        try:
            role = json.loads(payload)["role"]
        except (ValueError, KeyError, TypeError) as exc:
            self.bad_input.report(topic, repr(exc), payload)
            return
        if name is not None and role in ("active", "standby"):
            with self._lock:
                peer = self.peers.setdefault(name, Peer())
                if role == "active" and peer.role != "active":
                    peer.claims_since = time.monotonic()
                back = self._back(peer, role=role)
            if back:
                self._say_again()

    def _on_notified(self, topic: str, payload: bytes) -> None:
        try:
            message = json.loads(payload)
            rule, series, state = message["key"]
            key: Key = (str(rule), str(series), str(state), int(message["repeat"]))
            sender, at = message["node"], float(message["at"])
            # said as sent but not yet queued (an older collector says neither: as queued)
            unsure = None if message.get("queued", True) else _alert(message["alert"], key)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:  # Overflow: an infinite repeat
            self.bad_input.report(topic, repr(exc), payload)
            return
        if sender == self.node:
            return
        now, wall = time.monotonic(), time.time()
        with self._lock:
            double = self.ledger.heard(key, now, at, wall)
            if unsure is None:
                self.ledger.queued(key)
            elif not double and wall - at <= self.ledger.keep_for:  # news, as `heard` takes it
                self.ledger.sending(key, unsure, now)
        if double:
            log.warning("both collectors notified %s %s %s", *key[:3])


def _alert(data: Any, key: Key) -> Alert:
    """Return the alert a message carries, as a takeover sends it; TypeError if it is none, or not the transition
    `key` the message says (a broken or hostile sender: a takeover would send another alert, or fail on it)."""
    alert = Alert.from_dict(data)
    if not isinstance(alert.labels, dict):
        raise TypeError("its labels are not a table")
    texts = [alert.rule, alert.series, alert.message, alert.severity, alert.unit, *alert.labels, *alert.labels.values()]
    times = (alert.since, alert.at)
    if not (
        all(isinstance(text, str) for text in texts)
        and all(isinstance(t, (int, float)) and math.isfinite(t) for t in times)
        and all(v is None or isinstance(v, (int, float)) for v in (alert.value, alert.threshold))
        and alert.state in ("firing", "resolved")
        and key_of(alert) == key
    ):
        raise TypeError("not an alert of the transition it is said as")
    return alert
