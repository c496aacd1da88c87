"""An inquiry to each measurer goes out in order, at QoS 0 but the first (QoS 1: its PUBACK tells whether the broker
takes them); a topic paho would refuse is refused."""

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from labmon.config import BrokerConfig
from labmon.mqtt import QOS, BrokerClient
from labmon.testing import PrivateBroker


def test_inquiries_to_each_measurer_go_out_in_order_at_qos_0_but_the_first(broker: PrivateBroker) -> None:
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
        asker.publish_each(topics, b"ask")
        with arrived:
            assert arrived.wait_for(lambda: len(got) >= len(topics), 20), f"{len(got)} of {len(topics)} arrived"
        assert got == [(topic, b"ask", 0 if topic != topics[0] else 1) for topic in topics]
    finally:
        asker.stop()
        listener.disconnect()
        listener.loop_stop()


def test_a_topic_paho_would_refuse_is_refused(broker: PrivateBroker) -> None:
    asker = BrokerClient(BrokerConfig(broker.host, broker.port), "test-each-wildcard")
    asker.start()
    try:
        assert asker.connected.wait(10)
        with pytest.raises(ValueError, match="wildcard"):
            asker.publish_each(["test/each/+/inquiries"], b"ask")
    finally:
        asker.stop()
