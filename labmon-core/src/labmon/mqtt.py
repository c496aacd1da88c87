"""A paho-mqtt 2.x client that reconnects by itself and restores its subscriptions."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from labmon import diagnosis
from labmon.config import BrokerConfig
from labmon.messages import OFFLINE, ONLINE

log = logging.getLogger(__name__)

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
READ_CHUNK = 65536
"""Bytes asked of the socket at once: paho asks for a packet's header a byte at a time, a system call each."""
PUBLISH, PUBACK = 0x30, 0x40
"""MQTT packet types (the high nibble of a packet's first byte)."""
MAX_REMAINING_LENGTH = 268_435_455
"""The most a packet's remaining length can say (four bytes of seven bits)."""


def no_delay(client: mqtt.Client, userdata: object, sock: object) -> None:
    """Send small packets at once: a PUBACK then a PUBLISH otherwise waits out the peer's delayed ACK (~40 ms)."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class BufferedClient(mqtt.Client):
    """paho's client reading the socket a chunk at a time, and handling every packet the chunk holds; MQTT v5.

    It overrides paho 2.x internals (`_sock_recv`, and `_packet_queue` with a copy of paho's own that decides
    about the wake-up byte) and uses others (`_in_packet`, `_manual_ack`, `_pack_remaining_length`,
    `_pack_str16`, `_raise_for_invalid_topic`), the same from 2.0.0 to 2.2.0 (checked in each release): hence
    paho < 2.3, where a change to them would go unnoticed.
    """

    _chunk = b""
    _at = 0
    _source: object = None
    _end: OSError | EOFError | None = None
    """What ended the gathering of the chunk's TLS records (an error, or EOFError for the end of the stream):
    told to paho once the bytes read before it are handled, as paho's own reads would have told it."""
    deliver: Handler | None = None
    """Where plain messages go, as (topic, payload), taken straight from the chunk: with none set, paho's
    on_message callbacks get every message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._protocol != mqtt.MQTTv5:
            raise ValueError("BufferedClient speaks MQTT v5 only, labmon's protocol")
        self._received_at = next(n for n in ("_last_bytes_received", "_last_msg_in") if hasattr(self, n))
        """paho's time of the last bytes received: its name in 2.2, and in 2.0 and 2.1."""

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._source is not self._sock:  # a new connection drops what is left of the old one's
            self._chunk, self._at, self._source, self._end = b"", 0, self._sock, None
        if self._at >= len(self._chunk):
            if self._end is not None:
                end, self._end = self._end, None
                if isinstance(end, EOFError):
                    return b""
                raise end
            self._chunk, self._at = b"", 0
            self._chunk = super()._sock_recv(READ_CHUNK)
            if isinstance(self._sock, ssl.SSLSocket):
                self._chunk += self._more_records()
        start = self._at
        self._at = start + bufsize
        return self._chunk[start : self._at]

    def _more_records(self) -> bytes:
        """Return what further TLS records have arrived, up to a chunk: a TLS read gives one record, and the
        broker sends a packet per record."""
        records, size = [], len(self._chunk)
        while 0 < size < READ_CHUNK:
            try:
                record = super()._sock_recv(READ_CHUNK - size)
            except BlockingIOError:
                break
            except OSError as err:  # told once the records before it are handled
                self._end = err
                break
            if not record:  # the end of the stream: likewise
                self._end = EOFError()
                break
            records.append(record)
            size += len(record)
        return b"".join(records)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        if self.deliver is not None and self._sock is not None and self._in_packet["command"] == 0:
            # Read the chunk here, so that its first packets too are taken by _take_publishes: a collector that
            # keeps up with its measurers finds one or two messages per wake-up, the first through paho's path.
            try:
                self._sock_recv(0)
            except BlockingIOError:
                return MQTTErrorCode.MQTT_ERR_SUCCESS  # nothing to read after all (TLS: no whole record yet)
            except OSError as err:  # as paho's own read
                self._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
                return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
            if self._buffered():
                with self._msgtime_mutex:  # for the keepalive: paho's reader sets this as it reads bytes
                    setattr(self, self._received_at, mqtt.time_func())
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS if self._buffered() else super().loop_read(max_packets)
        # the socket no longer says these bytes are there: handle them now, not after select() times out
        # AGAIN with bytes still buffered is paho's cap of 100 reads per packet (a huge one): go on with them
        # and an end met while gathering TLS records is told now: the socket may not say so again
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is not None and (self._buffered() or self._ended()):
            if self._in_packet["command"] == 0 and self._take_publishes():
                continue
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        return rc

    def _buffered(self) -> bool:
        return self._source is self._sock and self._at < len(self._chunk)

    def _ended(self) -> bool:
        return self._source is self._sock and self._end is not None

    def _take_publishes(self) -> int:
        """Deliver the whole plain PUBLISH packets (QoS 0 or 1, no properties) at the chunk's head; return how many.

        paho's own path, per message: a dict per packet, an empty MQTT v5 Properties made and cleared (its tables
        rebuilt each time), an MQTTMessage with an MQTTMessageInfo and its Condition, its topic matching, and a
        PUBACK written by itself. Here a message is cut straight from the chunk for `deliver`, and the run's
        PUBACKs go out as one write, in order. Anything else (another packet type, QoS 2, properties, a packet
        that runs past the chunk, a malformed one, a topic that is not UTF-8) is left to paho.
        """
        deliver = self.deliver
        if deliver is None or self._manual_ack:
            return 0
        chunk, at, end, sock = self._chunk, self._at, len(self._chunk), self._sock
        acks = bytearray()
        taken = 0
        try:
            while at < end:
                command = chunk[at]
                qos = (command >> 1) & 3
                if command & 0xF0 != PUBLISH or qos > 1:
                    break
                body, length, shift = at + 1, 0, 0
                while body < end and shift < 28:  # the remaining length: at most four bytes of seven bits
                    byte = chunk[body]
                    body += 1
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if byte < 0x80:
                        break
                else:
                    break
                stop = body + length
                topic_end = body + 2 + int.from_bytes(chunk[body : body + 2], "big")
                payload = topic_end + 2 * (qos > 0) + 1  # the byte before it: the length of the v5 properties
                if stop > end or payload > stop or chunk[payload - 1]:
                    break
                try:
                    topic = chunk[body + 2 : topic_end].decode()
                except UnicodeDecodeError:
                    break
                self._at = at = stop  # taken before the call: after one that raises, the next read goes on
                taken += 1
                with self._in_callback_mutex:  # as paho calls on_message
                    try:
                        deliver(topic, chunk[payload:stop])
                    except Exception as err:
                        self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in deliver: %s", err)
                        if not self.suppress_exceptions:
                            raise
                if self._sock is not sock:  # the call reconnected: the rest of the chunk and its PUBACKs are void
                    acks.clear()
                    break
                if qos:
                    acks += b"\x40\x02" + chunk[topic_end : topic_end + 2]  # PUBACK, mid: success needs no more
        finally:  # (paho's time of the last bytes received was set when it read this chunk, just before)
            if acks:
                self._packet_queue(PUBACK, bytes(acks), 0, 0)
        return taken

    def publish_each(self, topics: list[str], payload: bytes) -> None:
        """Publish `payload` at QoS 0 (INQUIRY_QOS) on every topic, made here and queued as one write (one wake-up).

        paho's `publish` costs an MQTTMessageInfo with its Condition per message, and its writer a send() each.
        As paho's does, it queues nothing while unconnected; unlike it, `on_publish` is called once, with mid 0,
        and paho's log does not show these messages.
        """
        if self._sock is not None:
            self._packet_queue(PUBLISH, self._packets(topics, payload), 0, 0, mqtt.MQTTMessageInfo(0))

    def _packets(self, topics: list[str], payload: bytes) -> bytes:
        """Return a QoS 0 PUBLISH of `payload` for every topic (no properties), one after the other."""
        packets = bytearray()
        for topic in topics:
            name = topic.encode()
            if not name:
                raise ValueError("Invalid topic.")
            self._raise_for_invalid_topic(name)  # as paho's publish: a wildcard or an overlong topic is refused
            length = 2 + len(name) + 1 + len(payload)
            if length > MAX_REMAINING_LENGTH:
                raise ValueError("Payload too large.")
            packets.append(PUBLISH)
            self._pack_remaining_length(packets, length)
            self._pack_str16(packets, name)
            packets.append(0)  # no properties
            packets += payload
        return bytes(packets)

    def _packet_queue(
        self, command: int, packet: bytes | bytearray, mid: int, qos: int, info: mqtt.MQTTMessageInfo | None = None
    ) -> MQTTErrorCode:
        # paho's own, but for the byte that wakes the network thread from select() to write: a waste when that
        # thread queues a packet itself (it writes before it next waits: it asks select() for the socket's
        # writability while packets are queued).
        self._out_packet.append(
            {
                "command": command,
                "mid": mid,
                "qos": qos,
                "pos": 0,
                "to_process": len(packet),
                "packet": packet,
                "info": info,
            }
        )
        wake = self._sockpairW
        if wake is not None and self._thread is not threading.current_thread():
            with contextlib.suppress(BlockingIOError):  # its buffer is full of wake-up bytes already
                wake.send(mqtt.sockpair_data)
        if self._thread is None and self._on_socket_register_write is None and self._in_callback_mutex.acquire(False):
            self._in_callback_mutex.release()
            return self.loop_write()
        self._call_socket_register_write()
        return MQTTErrorCode.MQTT_ERR_SUCCESS


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
        self._usual_delays: tuple[int, int] | None = None
        self._last_cause = ""
        self._answered = False
        self.address = f"{broker.host}:{broker.port}"
        self.connected = threading.Event()
        """Set once connected and every subscription is acknowledged; cleared while disconnected."""
        self._subscribing: int | None = None
        self._handlers: dict[str, Handler] = {}
        self._status_topic = status_topic
        self._lock = threading.Lock()
        self._failures = 0
        self._stopping = False
        self.down_since: float | None = time.time()
        """Since when there has been no connection (None while connected)."""
        self.up_since: float | None = None
        """When the current connection was made: a change means the connection dropped in between."""
        client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.reconnect_delay_set(min_delay=1, max_delay=round(RECONNECT_MAX_DELAY))
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
        client.deliver = self._deliver
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = no_delay
        self._client = client

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Deliver messages on `topic` to `handler`, now and after every reconnect."""
        with self._lock:
            self._handlers[topic] = handler
        if self.connected.is_set():
            self._client.subscribe(topic, qos=QOS)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = QOS) -> None:
        """Publish (at QoS 1 unless told); while disconnected paho queues a QoS 1 message and sends it after
        reconnecting, and drops a QoS 0 one."""
        self._client.publish(topic, payload, qos=qos, retain=retain)

    def publish_each(self, topics: list[str], payload: bytes) -> None:
        """Publish `payload` at QoS 0 on every topic (an inquiry to each measurer); nothing while disconnected."""
        self._client.publish_each(topics, payload)

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
            self._client.publish(self._status_topic, OFFLINE, qos=QOS, retain=True).wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, properties: object
    ) -> None:
        self._answered = True
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self.address, reason)
            return
        log.info("connected to broker %s", self.address)
        self._accepted_at = time.monotonic()
        self._failures = 0
        self._last_cause = ""
        if self._usual_delays is not None:
            client.reconnect_delay_set(*self._usual_delays)
        self.down_since, self.up_since = None, time.time()
        with self._lock:
            topics = [(topic, QOS) for topic in self._handlers]
        if topics:
            _, self._subscribing = client.subscribe(topics)
        if self._status_topic:  # after the SUBSCRIBE: whoever sees `online` can ask and be heard
            client.publish(self._status_topic, ONLINE, qos=QOS, retain=True)
        if not topics:
            self.connected.set()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: list[ReasonCode], properties: object
    ) -> None:
        if mid != self._subscribing:
            return
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("broker %s refused a subscription (%s); check the ACL", self.address, ", ".join(refused))
        self.connected.set()

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
        if self._usual_delays is None:
            self._usual_delays = (client._reconnect_min_delay, client._reconnect_max_delay)
        client.reconnect_delay_set(round(delay), round(delay))
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
        self._deliver(message.topic, bytes(message.payload))

    def _deliver(self, topic: str, payload: bytes) -> None:
        handler = self._handlers.get(topic)
        if handler is None:
            return
        try:
            handler(topic, payload)
        except Exception:
            log.exception("handler for %s failed; message dropped", topic)
