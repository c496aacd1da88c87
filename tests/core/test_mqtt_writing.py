"""Publishing many messages at once (one inquiry per measurer) wakes the network thread once, and sends them all.

At QoS 0 labmon makes the packets itself and queues them as one write; at QoS 1 they go through paho.
"""

import socket
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from labmon.config import BrokerConfig
from labmon.mqtt import INQUIRY_QOS, QOS, BrokerClient
from labmon.testing import PrivateBroker


class CountingSocket:
    """The socket that wakes paho's network thread, counting the wake-up bytes written to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent = 0

    def send(self, data: bytes) -> int:
        self.sent += 1
        return self.sock.send(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


def _publish_each(broker: PrivateBroker, qos: int) -> None:
    topics = [f"test/each/m{i:04d}/inquiries" for i in range(300)]
    got: list[str] = []
    arrived, subscribed = threading.Condition(), threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with arrived:
            got.append(message.topic)
            arrived.notify_all()

    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-each-listener-{qos}", protocol=mqtt.MQTTv5)
    listener.on_message = on_message
    listener.on_subscribe = lambda *args: subscribed.set()
    listener.connect(broker.host, broker.port)
    listener.loop_start()
    asker = BrokerClient(BrokerConfig(broker.host, broker.port), f"test-each-asker-{qos}")
    asker.start()
    try:
        listener.subscribe("test/each/+/inquiries", qos=QOS)
        assert subscribed.wait(10) and asker.connected.wait(10)
        wake = CountingSocket(asker._client._sockpairW)  # type: ignore[arg-type]
        asker._client._sockpairW = wake  # type: ignore[assignment]
        asker.publish_each(topics, b"ask", qos=qos)
        assert wake.sent == 1, f"{wake.sent} wake-ups for {len(topics)} messages"
        with arrived:
            assert arrived.wait_for(lambda: len(got) >= len(topics), 20), f"{len(got)} of {len(topics)} arrived"
        assert got == topics
    finally:
        asker.stop()
        listener.disconnect()
        listener.loop_stop()


def test_inquiries_to_each_measurer_go_out_in_order_after_one_wake_up(broker: PrivateBroker) -> None:
    _publish_each(broker, INQUIRY_QOS)


def test_many_qos_1_messages_go_out_in_order_after_one_wake_up(broker: PrivateBroker) -> None:
    _publish_each(broker, QOS)


def test_a_topic_with_a_wildcard_is_refused_as_paho_refuses_it(broker: PrivateBroker) -> None:
    asker = BrokerClient(BrokerConfig(broker.host, broker.port), "test-each-wildcard")
    asker.start()
    try:
        assert asker.connected.wait(10)
        for qos in (INQUIRY_QOS, QOS):
            with pytest.raises(ValueError, match="wildcard"):
                asker.publish_each(["test/each/ok", "test/each/+/inquiries"], b"ask", qos=qos)
    finally:
        asker.stop()
