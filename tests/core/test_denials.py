"""Denials said once each, from the reason codes paho hands over: SUBACKs (newer brokers), PUBACKs."""

import logging

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from labmon.denials import Denials

GRANTED = ReasonCode(PacketTypes.SUBACK, "Granted QoS 1")
REFUSED = ReasonCode(PacketTypes.SUBACK, "Not authorized")


def test_a_refused_subscription_is_said_once_and_all_refused_is_blind(caplog):
    denials = Denials("mqtt.lab:1883", "table1")
    for _ in range(3):  # every reconnect subscribes again
        denials.subscribed(["labmon/table1/inquiries", "labmon/inquiries"], [REFUSED, GRANTED])
    (said,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert said.startswith("broker mqtt.lab:1883 refused user 'table1' reading labmon/table1/inquiries")
    assert denials.refused_since is None
    denials.subscribed(["labmon/table1/results"], [REFUSED])
    assert denials.refused_since is not None


def test_a_puback_that_comes_before_publish_returns_is_still_judged():
    denials = Denials("mqtt.lab:1883", None)
    denials.published(7, ReasonCode(PacketTypes.PUBACK, "Not authorized"))
    denials.sent(7, "labmon/t1/results")
    assert denials.refused_since is not None
    denials.sent(8, "labmon/t1/results")
    denials.published(8, ReasonCode(PacketTypes.PUBACK, "Success"))
    assert denials.refused_since is None


def test_a_client_refused_every_subscription_stays_refused_though_its_publishes_are_taken():
    """A collector that hears nothing is blind, however many of its inquiries the broker takes."""
    denials = Denials("mqtt.lab:1883", "collector")
    denials.subscribed(["labmon/+/results"], [REFUSED])
    blind_since = denials.refused_since
    assert blind_since is not None
    denials.sent(1, "labmon/t1/inquiries")
    denials.published(1, ReasonCode(PacketTypes.PUBACK, "Success"))
    assert denials.refused_since == blind_since
    denials.subscribed(["labmon/+/results"], [GRANTED])  # the ACL fixed, the client subscribed again
    assert denials.refused_since is None
