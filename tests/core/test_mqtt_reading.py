"""The client reads the socket a chunk at a time: every message of a burst arrives whole, in order, over TLS too.

The plain messages of a chunk are cut from it by labmon and acknowledged in one write; the others (with MQTT v5
properties, or running past the chunk) go through paho: bursts mix both, of more QoS 1 messages than the broker
lets be unacknowledged at once (Mosquitto's max_inflight_messages, 20), so a lost PUBACK would stall them.
"""

import contextlib
import socket
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from labmon.config import BrokerConfig
from labmon.mqtt import READ_CHUNK, BrokerClient, BufferedClient
from labmon.testing import PrivateBroker
from tests.core.conftest import TlsBroker

# Sizes around the remaining-length byte boundaries (127, 16383) and past a chunk, in one burst.
SIZES = (0, 1, 127, 128, 16_383, 16_384, READ_CHUNK - 3, READ_CHUNK + 5, 3 * READ_CHUNK)


def _burst(
    config: BrokerConfig, count: int, sizes: tuple[int, ...] = SIZES, with_properties: int = 0
) -> dict[str, int]:
    """Publish `count` messages while the reader is stuck in its first one, so that they pile up in its socket.

    Every `with_properties`-th message carries a user property (0: none do). Return how many messages came
    through labmon's path and through paho's.
    """
    got: list[bytes] = []
    arrived, released = threading.Condition(), threading.Event()

    def record(topic: str, payload: bytes) -> None:
        released.wait(30)
        with arrived:
            got.append(payload)
            arrived.notify_all()

    sent = [f"{i:05d}".encode() + bytes([65 + i % 26]) * sizes[i % len(sizes)] for i in range(count)]
    reader = BrokerClient(config, "test-reader")
    reader.subscribe("test/burst", record)
    paths = {"labmon": 0, "paho": 0, "most at once": 0}  # which path delivered how many; the longest run
    client, deliver, on_message = reader._client, reader._client.deliver, reader._client.on_message
    assert deliver is not None and on_message is not None

    def through_labmon(topic: str, payload: bytes) -> None:
        paths["labmon"] += 1
        deliver(topic, payload)

    def through_paho(*args: Any) -> None:
        paths["paho"] += 1
        on_message(*args)

    take = client._take_publishes

    def counted() -> int:
        taken = take()
        paths["most at once"] = max(paths["most at once"], taken)
        return taken

    client.deliver, client.on_message, client._take_publishes = through_labmon, through_paho, counted  # type: ignore[method-assign]
    writer = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-writer", protocol=mqtt.MQTTv5)
    if config.tls:
        writer.tls_set(ca_certs=str(config.ca_file))
    reader.start()
    try:
        assert reader.connected.wait(10)
        writer.connect(config.host, config.port)
        writer.loop_start()
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = ("kind", "odd")
        carry = [bool(with_properties) and i % with_properties == 0 for i in range(count)]
        infos = [
            writer.publish("test/burst", payload, qos=1, properties=properties if carries else None)
            for payload, carries in zip(sent, carry, strict=True)
        ]
        infos[-1].wait_for_publish(30)  # the broker has them all: the reader's socket fills while it is stuck
        released.set()
        # Without handling every packet of a chunk at once, the last ones would wait for the next keepalive.
        with arrived:
            assert arrived.wait_for(lambda: len(got) >= count, 20), f"{len(got)} of {count} arrived"
        assert got == sent
        return paths
    finally:
        released.set()
        writer.disconnect()
        writer.loop_stop()
        reader.stop()


def test_a_burst_arrives_whole_and_in_order(broker: PrivateBroker) -> None:
    assert _burst(BrokerConfig(broker.host, broker.port), 400)["labmon"] > 0


def test_a_burst_arrives_whole_and_in_order_over_tls(tls_broker: TlsBroker) -> None:
    config = BrokerConfig("localhost", tls_broker.tls_port, tls=True, ca_file=tls_broker.ca)
    _burst(config, 90)  # a TLS read gives at most a record (16 KiB): these large ones mostly go through paho
    # more than one message cut from a chunk: the chunk gathered the TLS records already arrived
    assert _burst(config, 200, (10, 700, 3000))["most at once"] > 1


def test_the_end_of_a_tls_stream_is_told_after_the_records_gathered_before_it(tls_broker: TlsBroker) -> None:
    """A broker sends two records and its TLS close, keeping TCP open: one read delivers both, then says the
    connection is lost (the socket would not wake select() again)."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tls_broker.ca.parent / "server.pem", tls_broker.ca.parent / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))
    packets = [bytes([0x30, 5, 0, 1, ord("t"), 0]) + b"a", bytes([0x30, 6, 0, 1, ord("t"), 0]) + b"bc"]
    sent, done = threading.Event(), threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with server.wrap_socket(connection, server_side=True) as tls:
            for packet in packets:
                tls.sendall(packet)  # a record each
            tls.setblocking(False)
            with contextlib.suppress(ssl.SSLWantReadError):
                tls.unwrap()  # sends the TLS close; the client's is not awaited
            sent.set()
            done.wait(10)  # TCP stays open

    sender = threading.Thread(target=serve)
    sender.start()
    got: list[tuple[str, bytes]] = []
    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id="test-tls-end", protocol=mqtt.MQTTv5)
    client.deliver = lambda topic, payload: got.append((topic, payload))
    context = ssl.create_default_context(cafile=tls_broker.ca)
    try:
        with context.wrap_socket(socket.create_connection(listener.getsockname()), server_hostname="localhost") as sock:
            assert sent.wait(10)
            client._sock = sock
            assert client.loop_read() == MQTTErrorCode.MQTT_ERR_CONN_LOST
            assert got == [("t", b"a"), ("t", b"bc")]
    finally:
        done.set()
        sender.join(10)
        listener.close()


def test_a_huge_message_and_the_ones_behind_it_arrive(broker: PrivateBroker) -> None:
    """paho stops a packet after 100 reads: what the last read brought of the next packets is handled too."""
    _burst(BrokerConfig(broker.host, broker.port), 4, (120 * READ_CHUNK, 10))


def test_messages_with_properties_keep_their_place_among_plain_ones(broker: PrivateBroker) -> None:
    paths = _burst(BrokerConfig(broker.host, broker.port), 300, (10, 700, 3000), with_properties=3)
    assert paths["paho"] >= 100 and paths["labmon"] > 0, paths
