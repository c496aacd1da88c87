"""Two collectors' pair sides on a real Mosquitto: what each learns of the other's notifications."""

from labmon.config import BrokerConfig, FailoverConfig
from labmon.models import Alert
from labmon.testing import wait_until
from labmon_collector.failover.pair import Pair

ORDER = ["collector-a", "collector-b"]


def side(broker, node, **kept):
    return Pair(FailoverConfig(node, ORDER), BrokerConfig(broker.host, broker.port), 1.0, "t-pair", **kept)


def test_a_collector_back_from_a_kill_and_the_one_that_took_over_find_what_both_sent(own_broker):
    records = []
    gone = Alert("gone", "firing", "fo-0", "fo-0 is offline", at=1000.0)
    killed = side(own_broker, "collector-a", keep=records.append)
    killed.start()
    assert killed.to_send([gone]) == [gone]  # its word to the other lost: the other is not there
    killed.stop()
    other = side(own_broker, "collector-b")
    other.start()
    try:
        wait_until(other.linked, 10, "b linked")
        assert other.to_send([gone]) == [gone]  # b, taking over, sends what its engine saw and nobody told it of
        back = side(own_broker, "collector-a", saved={"failover_sent": records[-1]})
        back.start()
        try:
            # each says again what it sent to the other, back: each finds the double
            wait_until(lambda: other.facts()["double_sent"] and back.facts()["double_sent"], 10, "both find it")
            [said] = other.facts()["double_sent"]
            assert said.startswith("gone fo-0 firing at ") and back.facts()["double_sent"] == [said]
        finally:
            back.stop()
    finally:
        other.stop()


def test_a_link_gone_dark_holds_the_notifications_up_one_beat_not_one_per_notification(own_broker):
    """The broker's acknowledgements are waited for together: ten unanswered must not hold the alerts ten beats."""
    import time

    from tests.collector.link import Link

    link = Link((own_broker.host, own_broker.port))
    dark = Pair(FailoverConfig("collector-a", ORDER), BrokerConfig("127.0.0.1", link.port), 4.0, "t-pair")
    dark.start()
    try:
        wait_until(dark.linked, 10, "a linked")
        link.stall()
        alerts = [Alert("gone", "firing", f"fo-{n}", f"fo-{n} is offline", at=1000.0) for n in range(10)]
        began = time.monotonic()
        assert dark.to_send(alerts) == alerts
        held = time.monotonic() - began
        assert held < 4 * dark.beat, f"held {held:.1f} s for a beat of {dark.beat:g} s"
    finally:
        link.close()
        dark.stop()
