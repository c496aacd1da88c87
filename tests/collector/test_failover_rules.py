"""The pair's election and ledger on their own: who is active, and which transitions each collector sends."""

from labmon.models import Alert
from labmon_collector.failover.election import Peer, decide
from labmon_collector.failover.ledger import Ledger

ORDER = ("a", "b")


def alive(role):
    return Peer(role, heard=100.0, online=True)


def test_the_preferred_collector_starts_active_and_the_other_waits():
    assert decide("a", ORDER, "standby", {"b": alive("standby")}, 100.0, 3.0) == "active"
    assert decide("b", ORDER, "standby", {"a": alive("standby")}, 100.0, 3.0) == "standby"


def test_a_standby_takes_over_when_the_active_is_gone_or_silent():
    gone = Peer("active", heard=100.0, online=False)
    silent = Peer("active", heard=90.0, online=True)
    assert decide("b", ORDER, "standby", {"a": gone}, 100.0, 3.0) == "active"
    assert decide("b", ORDER, "standby", {"a": silent}, 100.0, 3.0) == "active"


def test_a_returning_preferred_collector_stays_standby():
    assert decide("a", ORDER, "standby", {"b": alive("active")}, 100.0, 3.0) == "standby"
    assert decide("b", ORDER, "active", {"a": alive("standby")}, 100.0, 3.0) == "active"


def test_a_healed_partition_keeps_the_preferred_one_active():
    assert decide("a", ORDER, "active", {"b": alive("active")}, 100.0, 3.0) == "active"
    assert decide("b", ORDER, "active", {"a": alive("active")}, 100.0, 3.0) == "standby"


def test_an_active_collector_yields_only_to_a_claim_that_stands_for_a_while():
    """A stalled link delivers the other's old "active" claims in one burst, then the standby it became."""
    just_now = Peer("active", heard=100.0, online=True, claims_since=100.0)
    assert decide("b", ORDER, "active", {"a": just_now}, 100.0, 3.0, steady=0.25) == "active"
    assert decide("b", ORDER, "active", {"a": just_now}, 100.1, 3.0, steady=0.25) == "active"
    assert decide("b", ORDER, "active", {"a": just_now}, 100.4, 3.0, steady=0.25) == "standby"


def alert(state, series="t1", repeat=0):
    return Alert("gone", state, series, f"{series} {state}", repeat=repeat)


def test_a_takeover_sends_what_the_active_never_said_it_notified_and_nothing_it_did():
    ledger = Ledger(keep_for=30.0, match_within=50.0)
    ledger.learn(("gone", "t1", "firing", 0), 1.0, 1001.0)  # the active told before the standby's engine saw it
    ledger.shadow([alert("firing"), alert("firing", "t2")], 2.0)
    owed = ledger.take_over(3.0, {("gone", "t1"), ("gone", "t2")})
    assert [a.series for a in owed] == ["t2"]  # t1 was told; t2 never was
    assert ledger.to_send([alert("resolved")], 4.0, 1004.0) == [alert("resolved")]


def test_a_transition_already_notified_by_the_other_is_not_sent_again_and_a_double_one_is_said():
    ledger = Ledger(keep_for=30.0, match_within=50.0)
    ledger.learn(("gone", "t1", "firing", 0), 1.0, 1001.0)  # told by the other; this one's engine is a cycle behind
    assert ledger.to_send([alert("firing")], 2.0, 1002.0) == []
    assert ledger.to_send([alert("resolved")], 3.0, 1003.0) == [alert("resolved")]
    assert ledger.compare(("gone", "t1", "resolved", 0), 1004.0)  # both sent it: a partition
    assert ledger.double_sent == ["gone t1 resolved at 1970-01-01T00:16:43.000+00:00"]
    assert not ledger.compare(("gone", "t1", "resolved", 0), 1004.0)  # one double is said once


def test_the_same_transition_sent_by_each_far_apart_is_two_episodes_not_a_double():
    ledger = Ledger(keep_for=30.0, match_within=5.0)
    ledger.to_send([alert("firing")], 1.0, 1000.0)
    assert not ledger.compare(("gone", "t1", "firing", 0), 1100.0)
    assert ledger.compare(("gone", "t1", "firing", 0), 996.0)


def test_a_takeover_names_what_the_other_notified_and_this_engine_never_produced():
    ledger = Ledger(keep_for=30.0, match_within=50.0)
    ledger.learn(("gone", "t1", "firing", 0), 1.0, 1001.0)  # its condition ended before this engine saw it
    assert ledger.take_over(2.0, set()) == []
    assert ledger.notified_firing() == {("gone", "t1")}  # the new active resolves it: its engine does not hold it


def test_the_latest_notification_of_an_alert_stands_whatever_order_they_come_in():
    ledger = Ledger(keep_for=3.0, match_within=5.0)
    ledger.told_of(("gone", "t1", "resolved", 0), 1005.0)
    ledger.told_of(("gone", "t1", "firing", 0), 1000.0)  # held up behind a cut bridge: older than the end
    assert ledger.notified_firing() == set()


def test_unmatched_transitions_are_forgotten_after_keep_for():
    ledger = Ledger(keep_for=3.0, match_within=5.0)
    ledger.shadow([alert("firing")], 1.0)
    ledger.learn(("gone", "t2", "firing", 0), 1.0, 1001.0)
    assert ledger.take_over(10.0, {("gone", "t1")}) == []


def test_a_failover_order_without_this_node_is_a_config_error_naming_the_key(broker, write_config):
    import pytest

    from labmon.options import ConfigError
    from tests.conftest import collector_table

    config = collector_table(broker, ["t1"], failover={"node": "collector-a", "order": ["collector-b"]})
    with pytest.raises(ConfigError) as raised:
        write_config(config)
    assert "collector.failover" in str(raised.value) and "order" in str(raised.value)


def test_a_takeover_does_not_send_the_standbys_own_flaps():
    ledger = Ledger(keep_for=30.0, match_within=50.0)
    ledger.shadow([alert("firing")], 1.0)  # a reply late to the standby alone: it saw t1 go and come back
    ledger.shadow([alert("resolved")], 2.0)
    ledger.shadow([alert("firing", "t2")], 2.0)  # t2 went, and is gone still: the active died before telling
    owed = ledger.take_over(3.0, {("gone", "t2")})
    assert [(a.series, a.state) for a in owed] == [("t2", "firing")]


def test_an_alert_that_resolved_and_fired_again_in_between_is_two_episodes_not_a_double():
    before = Ledger(keep_for=30.0, match_within=50.0)  # b: sent t1 firing, then went (restarted later)
    before.to_send([alert("firing")], 1.0, 1000.0)
    after = Ledger(keep_for=30.0, match_within=50.0)  # a: took over, t1 resolved, then fired again
    after.to_send([alert("resolved")], 2.0, 1010.0)
    after.to_send([alert("firing")], 3.0, 1020.0)
    # Each says again what it sent to the other once it is back, in the order sent.
    for (key, at), hearing in [*((sent, before) for sent in after.mine), *((sent, after) for sent in before.mine)]:
        assert not hearing.compare(key, at), key
        hearing.told_of(key, at)
    assert before.double_sent == after.double_sent == [] and before.doubles == after.doubles == 0


def test_a_notification_said_again_does_not_eat_the_next_episode_of_the_same_alert():
    ledger = Ledger(keep_for=30.0, match_within=50.0)
    ledger.learn(("gone", "t1", "firing", 0), 1.0, 1001.0)  # the active told it
    ledger.shadow([alert("firing")], 1.5)  # and this engine saw it too: matched
    ledger.learn(("gone", "t1", "resolved", 0), 2.0, 1002.0)
    ledger.shadow([alert("resolved")], 2.5)
    ledger.learn(("gone", "t1", "firing", 0), 3.0, 1001.0)  # said again: the active heard this one come back
    ledger.shadow([alert("firing")], 4.0)  # t1 fires again; the active dies before telling
    owed = ledger.take_over(5.0, {("gone", "t1")})
    assert [(a.series, a.state) for a in owed] == [("t1", "firing")]


def test_a_transition_both_sent_does_not_eat_the_next_episode_of_the_same_alert():
    ledger = Ledger(keep_for=30.0, match_within=50.0)
    assert ledger.to_send([alert("firing")], 1.0, 1000.0) == [alert("firing")]  # apart, each active: both sent it
    assert ledger.heard(("gone", "t1", "firing", 0), 2.0, 1001.0, 1002.0)  # the other's, once they hear each other
    assert ledger.to_send([alert("resolved")], 3.0, 1010.0) == [alert("resolved")]
    assert ledger.to_send([alert("firing")], 4.0, 1020.0) == [alert("firing")]  # t1 fires again: a new episode


def test_news_from_the_other_is_learned_and_what_was_long_held_up_is_not():
    ledger = Ledger(keep_for=30.0, match_within=50.0)
    assert not ledger.heard(("gone", "t1", "firing", 0), 1.0, 1000.0, 1001.0)
    assert not ledger.heard(("gone", "t2", "firing", 0), 1.0, 900.0, 1001.0)  # held up 100 s behind a cut bridge
    assert ledger.to_send([alert("firing"), alert("firing", "t2")], 2.0, 1002.0) == [alert("firing", "t2")]
    assert ledger.notified_firing() == {("gone", "t1"), ("gone", "t2")}


def test_what_the_active_said_it_sends_but_not_that_its_outbox_has_it_is_sent_at_a_takeover_said_as_a_repeat():
    ledger = Ledger(keep_for=30.0, match_within=50.0)
    told = alert("firing", "t1")
    for key, said in ((("gone", "t1", "firing", 0), told), (("gone", "t2", "firing", 0), alert("firing", "t2"))):
        ledger.heard(key, 1.0, 1001.0, 1001.0)  # the active says it sends it (held for "what changed before it")
        ledger.sending(key, said, 1.0)
    ledger.queued(("gone", "t2", "firing", 0))  # t2 reached its outbox; t1 did not: the active was killed
    [owed] = ledger.take_over(2.0, set())  # sent though this engine has not seen t1 go yet (a cycle behind)
    assert (owed.series, owed.labels["possibly_repeat"]) == ("t1", "yes")
    assert owed.message == "t1 firing (possibly a repeat: the other collector stopped while sending it)"
    assert ledger.to_send([owed], 3.0, 1003.0) == [owed]
    assert ledger.to_send([told], 4.0, 1004.0) == []  # this engine's own, a cycle later: not sent again
    assert ledger.take_over(5.0, set()) == []
