"""A paho-mqtt 2.x client that reconnects by itself and restores its subscriptions."""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from labmon import diagnosis
from labmon.config import BrokerConfig
from labmon.denials import Denials
from labmon.messages import OFFLINE, ONLINE

log = logging.getLogger(__name__)

Publication = mqtt.MQTTMessageInfo
"""What `BrokerClient.publish` returns: `wait_for_publish(timeout)` waits for the broker to take the message."""
Handler = Callable[[str, bytes], None]
"""Called in paho's network thread with (topic, payload): keep it quick, hand real work elsewhere."""

QOS = 1
INQUIRY_QOS = 0
"""An inquiry is answered now or never: at QoS 1 each one cost the collector a PUBACK to handle, and paho would
resend one lost with a dropped connection after the reconnect, late (that cycle's measurers count as not judged
either way). Results and status stay at QoS 1."""
TAKEN_OVER = 142
"""MQTT v5 reason code of a DISCONNECT sent because another client connected with the same client id."""
SHORT_SESSION, SHORT_SESSIONS = 5.0, 3
"""Closed this soon after being accepted, this many times running: another client uses our id (Mosquitto 2.0
closes the older connection without saying so; newer brokers send TAKEN_OVER)."""
CLASH_BACKOFF, CLASH_BACKOFF_MAX = 30.0, 600.0
"""How long to stay away after being taken over (doubling per clash): long enough for a person to notice."""
_warned_anonymous: set[str] = set()
RECONNECT_MAX_DELAY = 5.0
"""Longest wait between reconnection attempts (paho's default is 30 s: a broker blip would last that long)."""
USUAL_DELAYS = (1, round(RECONNECT_MAX_DELAY))
"""Shortest and longest wait between reconnection attempts, in whole seconds (as paho takes them)."""


def no_delay(client: mqtt.Client, userdata: object, sock: object) -> None:
    """Send small packets at once: a PUBACK then a PUBLISH otherwise waits out the peer's delayed ACK (~40 ms)."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class BrokerClient:
    """One connection to one broker; optionally announces itself on a retained status topic."""

    def __init__(
        self, broker: BrokerConfig, client_id: str, *, status_topic: str | None = None, clash_hint: str = ""
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self._clash_hint = clash_hint
        self._clashes = 0
        self._accepted_at: float | None = None
        self._short_sessions = 0
        self.reconnect_delays = USUAL_DELAYS
        """The current (shortest, longest) wait between reconnection attempts, in seconds."""
        self._last_cause = ""
        self._answered = False
        self.address = f"{broker.host}:{broker.port}"
        self.connected = threading.Event()
        """Set once connected and every subscription is acknowledged; cleared while disconnected."""
        self._subscribing: int | None = None
        self._subscribing_topics: list[str] = []
        self.denials = Denials(self.address, broker.username)
        """What the broker refused this client, said once each; `denials.refused_since` while it refuses all."""
        self._handlers: dict[str, Handler] = {}
        self._status_topic = status_topic
        self._lock = threading.Lock()
        self._failures = 0
        self._stopping = False
        self.down_since: float | None = time.time()
        """Since when there has been no connection (None while connected)."""
        self.up_since: float | None = None
        """When the current connection was made: a change means the connection dropped in between."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.reconnect_delay_set(*USUAL_DELAYS)
        if broker.username:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            client.tls_set(ca_certs=str(broker.ca_file) if broker.ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
        if status_topic:
            client.will_set(status_topic, OFFLINE, qos=QOS, retain=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_socket_open = no_delay
        self._client = client

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Deliver messages on `topic` to `handler`, now and after every reconnect."""
        with self._lock:
            self._handlers[topic] = handler
        if self.connected.is_set():
            self._client.subscribe(topic, qos=QOS)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = QOS) -> Publication:
        """Publish (at QoS 1 unless told); while disconnected paho queues a QoS 1 message and sends it after
        reconnecting, and drops a QoS 0 one. Return paho's handle (`wait_for_publish`: the broker took it)."""
        sent = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            self.denials.sent(sent.mid, topic)
        return sent

    def publish_each(self, topics: list[str], payload: bytes) -> None:
        """Publish `payload` on every topic (an inquiry to each measurer): at QoS 0 (INQUIRY_QOS), which paho drops
        while disconnected, but the first at QoS 1, whose PUBACK tells whether the broker takes them (`denials`)."""
        if not topics:
            return
        self.publish(topics[0], payload, qos=QOS)  # one at QoS 1: its PUBACK says whether the broker takes them
        publish = self._client.publish
        for topic in topics[1:]:
            publish(topic, payload, qos=INQUIRY_QOS)

    def start(self) -> None:
        """Connect in the background; a broker that is down is retried until it is up."""
        anonymous = not self.broker.username and not diagnosis.is_loopback(self.broker.host)
        if anonymous and self.address not in _warned_anonymous:
            _warned_anonymous.add(self.address)
            log.warning(
                "connecting to broker %s without a username: anyone on the network can forge inquiries, "
                "results and status; see the README's section on broker users and ACLs",
                self.address,
            )
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=max(5, round(self.broker.keepalive)))
        self._client.loop_start()

    def stop(self) -> None:
        """Say `offline` (a clean disconnect sends no Last Will) and disconnect."""
        self._stopping = True
        if self._status_topic and self._client.is_connected():  # not `connected`: that waits for SUBACKs too
            said = self._client.publish(self._status_topic, OFFLINE, qos=QOS, retain=True)
            if said.rc == mqtt.MQTT_ERR_SUCCESS:  # the link may drop between the check and the publish
                said.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        self._answered = True
        if reason.is_failure:
            self.denials.login_refused(reason)
            return
        self.denials.accepted()
        log.info("connected to broker %s", self.address)
        self._accepted_at = time.monotonic()
        self._failures = 0
        self._last_cause = ""
        if self.reconnect_delays != USUAL_DELAYS:
            self.reconnect_delays = USUAL_DELAYS
            client.reconnect_delay_set(*USUAL_DELAYS)
        self.down_since, self.up_since = None, time.time()
        with self._lock:
            topics = [(topic, QOS) for topic in self._handlers]
        if topics:
            self._subscribing_topics = [topic for topic, _ in topics]
            _, self._subscribing = client.subscribe(topics)
        if self._status_topic:  # after the SUBSCRIBE: whoever sees `online` can ask and be heard
            self.publish(self._status_topic, ONLINE, retain=True)
        if not topics:
            self.connected.set()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: list[ReasonCode], properties: object
    ) -> None:
        if mid != self._subscribing:
            return
        self.denials.subscribed(self._subscribing_topics, reasons)
        self.connected.set()

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, properties: object
    ) -> None:
        self.denials.published(mid, reason)

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        error = sys.exc_info()[1]  # paho calls this inside its `except OSError:` around the connect
        self._failed(diagnosis.connect_error(error, self.broker) if error else "connection failed")

    def _failed(self, cause: str) -> None:
        """Log a failed attempt with its cause: the first, each new cause, then every 10th attempt."""
        self._failures += 1
        self._short_sessions = 0
        if self._failures == 1 or self._failures % 10 == 0 or cause != self._last_cause:
            log.warning("broker %s unreachable (attempt %d): %s; retrying", self.address, self._failures, cause)
        self._last_cause = cause

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        accepted, self._accepted_at = self._accepted_at, None
        short = accepted is not None and time.monotonic() - accepted < SHORT_SESSION
        self._short_sessions = self._short_sessions + 1 if short else 0
        if not self._stopping:
            self._explain(client, reason)
        self._answered = False
        self.connected.clear()
        self.down_since = self.down_since or time.time()

    def _explain(self, client: mqtt.Client, reason: ReasonCode) -> None:
        """Say why the connection ended, and back off if another client is using our id."""
        if reason.value == TAKEN_OVER or self._short_sessions >= SHORT_SESSIONS:
            self._short_sessions = 0
            self._back_off(client)
        elif self.connected.is_set():
            log.warning("lost broker %s (%s); reconnecting", self.address, reason)
        elif not self._answered:  # closed before any CONNACK: often plain MQTT sent to a TLS port
            self._failed(diagnosis.closed_early(self.broker, str(reason)))

    def _back_off(self, client: mqtt.Client) -> None:
        """Another client took our id over: stay away for a while rather than knock each other off."""
        self._clashes += 1
        delay = min(CLASH_BACKOFF * 2 ** (self._clashes - 1), CLASH_BACKOFF_MAX)
        self.reconnect_delays = (round(delay), round(delay))
        client.reconnect_delay_set(*self.reconnect_delays)
        hint = f": {self._clash_hint}" if self._clash_hint else ""
        log.error(
            "broker %s keeps closing this connection: another client connected as %s%s; "
            "backing off %.0fs instead of fighting over it",
            self.address,
            self.client_id,
            hint,
            delay,
        )

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        handler = self._handlers.get(topic)
        if handler is None:
            return
        try:
            handler(topic, bytes(message.payload))
        except Exception:
            log.exception("handler for %s failed; message dropped", topic)
