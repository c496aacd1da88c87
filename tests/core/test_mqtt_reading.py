"""Every message of a burst arrives whole and in order, over TLS too, with or without MQTT v5 properties.

Bursts hold more QoS 1 messages than the broker lets be unacknowledged at once (Mosquitto's
max_inflight_messages, 20), so a lost PUBACK would stall them.
"""

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from labmon.config import BrokerConfig
from labmon.mqtt import BrokerClient
from labmon.testing import PrivateBroker
from tests.core.conftest import TlsBroker

CHUNK = 65536
# Sizes around the remaining-length byte boundaries (127, 16383), a TLS record (16 KiB) and a socket read.
SIZES = (0, 1, 127, 128, 16_383, 16_384, CHUNK - 3, CHUNK + 5, 3 * CHUNK)


def _burst(config: BrokerConfig, count: int, sizes: tuple[int, ...] = SIZES, with_properties: int = 0) -> None:
    """Publish `count` messages while the reader is stuck in its first one, so that they pile up in its socket.

    Every `with_properties`-th message carries a user property (0: none do).
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
        with arrived:
            assert arrived.wait_for(lambda: len(got) >= count, 30), f"{len(got)} of {count} arrived"
        assert got == sent
    finally:
        released.set()
        writer.disconnect()
        writer.loop_stop()
        reader.stop()


def test_a_burst_arrives_whole_and_in_order(broker: PrivateBroker) -> None:
    _burst(BrokerConfig(broker.host, broker.port), 400)


def test_a_burst_arrives_whole_and_in_order_over_tls(tls_broker: TlsBroker) -> None:
    config = BrokerConfig("localhost", tls_broker.tls_port, tls=True, ca_file=tls_broker.ca)
    _burst(config, 90)
    _burst(config, 200, (10, 700, 3000))


def test_a_huge_message_and_the_ones_behind_it_arrive(broker: PrivateBroker) -> None:
    _burst(BrokerConfig(broker.host, broker.port), 4, (120 * CHUNK, 10))


def test_messages_with_properties_keep_their_place_among_plain_ones(broker: PrivateBroker) -> None:
    _burst(BrokerConfig(broker.host, broker.port), 300, (10, 700, 3000), with_properties=3)
