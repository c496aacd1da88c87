"""Escalation: a firing alert nobody acknowledged goes, once, to more notifiers, counted on the tick grid."""

import pytest

from labmon.config import NotifierPolicy
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.routing import Router
from labmon_collector.alerting.rules import RulesEngine
from tests.core.test_config import COLLECTOR, problems

from .test_rules import MINUTE, SERIES, batch, feed, reading, rule, states

ESCALATING = rule(for_=2 * MINUTE, escalate_after=30 * MINUTE, escalate_to=["phone"], notify=["discord"])


def test_an_unacknowledged_alert_escalates_once_after_escalate_after(tmp_path):
    engine = RulesEngine((ESCALATING,), AlertStore(tmp_path / "alerts.sqlite"), tick=MINUTE)
    wobble = [0.004 * (-1) ** i for i in range(60)]  # cycle times jitter either way: the tick grid counts
    alerts = [
        (i, a)
        for i, w in enumerate(wobble)
        for a in engine.evaluate(batch(i * MINUTE + w, reading(0.9)), i * MINUTE + w)
    ]
    assert states(alerts) == [(2, "firing", 0), (32, "firing", 0)]  # 30 minutes after it began firing
    escalation = alerts[1][1]
    assert escalation.labels["escalated"] == "yes"
    assert escalation.message.startswith("not acknowledged for 30m: table1/laser1/lock_error has been above 0.5 V")
    assert engine.states[("unlocked", SERIES)].notified_at == pytest.approx(2 * MINUTE, abs=0.01)  # repeats unmoved


def test_the_escalation_is_noted_routed_to_escalate_to_and_kept_across_a_restart(tmp_path):
    path = tmp_path / "alerts.sqlite"
    engine = RulesEngine((ESCALATING,), AlertStore(path))
    feed(engine, [0.9] * 33)
    assert engine.notes == [("unlocked", SERIES, "escalated", "to phone: not acknowledged")]
    router = Router((ESCALATING,), {"discord": NotifierPolicy(), "phone": NotifierPolicy()})
    (_, first), (_, escalation) = feed(RulesEngine((ESCALATING,)), [0.9] * 33)
    assert [name for name, _ in router.targets(first)] == ["discord"]
    assert [name for name, _ in router.targets(escalation)] == ["phone"]
    again = RulesEngine((ESCALATING,), AlertStore(path))  # the collector restarted: it does not escalate twice
    assert feed(again, [0.9] * 10, start=33 * MINUTE) == []
    assert states(feed(again, [0.1] + [0.9] * 33, start=43 * MINUTE)) == [
        (0, "resolved", 0),
        (3, "firing", 0),
        (33, "firing", 0),
    ]


def test_an_acknowledged_alert_does_not_escalate(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    engine = RulesEngine((ESCALATING,), store)
    feed(engine, [0.9] * 10)
    store.acknowledge(SERIES, "alice", "on it", now=10 * MINUTE)
    assert states(feed(engine, [0.9] * 60, start=10 * MINUTE)) == [(0, "firing", 0)]  # the ack, no escalation


def test_a_silenced_alert_escalates_when_the_silence_ends_if_nobody_acknowledged_it(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    store.add_silence("table1", starts=0, ends=60 * MINUTE, comment="")
    engine = RulesEngine((ESCALATING,), store)
    assert states(feed(engine, [0.9] * 61)) == [(60, "firing", 0), (60, "firing", 0)]


@pytest.mark.parametrize(
    ("keys", "complaint"),
    [
        ('escalate_after = "30m"\nescalate_to = ["phone"]', "escalate_to: no notifier named 'phone'"),
        ('escalate_after = "30m"', "escalate_to: escalate_after and escalate_to go together"),
        ('escalate_to = ["console"]', "escalate_after: escalate_after and escalate_to go together"),
        ('escalate_after = "0s"\nescalate_to = ["console"]', "escalate_after: must be longer than 0s"),
    ],
)
def test_labmon_check_explains_escalation_mistakes(tmp_path, registry, keys, complaint):
    assert complaint in problems(tmp_path, registry, COLLECTOR + keys + "\n")
