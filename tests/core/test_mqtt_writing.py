"""An inquiry to each measurer: labmon makes the QoS 0 packets itself and queues them as one write, one wake-up."""

import socket
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from labmon.config import BrokerConfig
from labmon.mqtt import QOS, BrokerClient, BufferedClient
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


def test_inquiries_to_each_measurer_go_out_at_qos_0_in_order_after_one_wake_up(broker: PrivateBroker) -> None:
    topics = [f"test/each/m{i:04d}/inquiries" for i in range(300)]
    got: list[tuple[str, bytes, int]] = []
    arrived, subscribed = threading.Condition(), threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with arrived:
            got.append((message.topic, message.payload, message.qos))
            arrived.notify_all()

    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-each-listener", protocol=mqtt.MQTTv5)
    listener.on_message = on_message
    listener.on_subscribe = lambda *args: subscribed.set()
    listener.connect(broker.host, broker.port)
    listener.loop_start()
    asker = BrokerClient(BrokerConfig(broker.host, broker.port), "test-each-asker")
    asker.start()
    try:
        listener.subscribe("test/each/+/inquiries", qos=QOS)
        assert subscribed.wait(10) and asker.connected.wait(10)
        wake = CountingSocket(asker._client._sockpairW)  # type: ignore[arg-type]
        asker._client._sockpairW = wake  # type: ignore[assignment]
        asker.publish_each(topics, b"ask")
        assert wake.sent == 1, f"{wake.sent} wake-ups for {len(topics)} messages"
        with arrived:
            assert arrived.wait_for(lambda: len(got) >= len(topics), 20), f"{len(got)} of {len(topics)} arrived"
        assert got == [(topic, b"ask", 0) for topic in topics]
    finally:
        asker.stop()
        listener.disconnect()
        listener.loop_stop()


def test_a_topic_paho_would_refuse_is_refused_and_nothing_is_sent(broker: PrivateBroker) -> None:
    asker = BrokerClient(BrokerConfig(broker.host, broker.port), "test-each-wildcard")
    asker.start()
    try:
        assert asker.connected.wait(10)
        for bad, why in (("test/each/+/inquiries", "wildcard"), ("", "Invalid topic")):
            queued = len(asker._client._out_packet)
            with pytest.raises(ValueError, match=why):
                asker.publish_each(["test/each/ok", bad], b"ask")
            assert len(asker._client._out_packet) == queued
    finally:
        asker.stop()


def test_the_buffered_client_speaks_mqtt_v5_only() -> None:
    with pytest.raises(ValueError, match="v5"):
        BufferedClient(CallbackAPIVersion.VERSION2, client_id="test-v311", protocol=mqtt.MQTTv311)
