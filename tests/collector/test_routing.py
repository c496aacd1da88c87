"""Flood control that says what it held back, never holds back a critical alert, and remembers across restarts."""

from labmon.config import NotifierPolicy
from labmon.models import Alert
from labmon.rule_config import RuleConfig
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.routing import Router

RULES = (
    RuleConfig(name="hot", select="*/*/*", above=1.0),
    RuleConfig(name="cold", select="*/*/*", below=0.0),
    RuleConfig(name="fire", select="*/*/*", above=9.0, severity="critical"),
)


def alert(rule, at, severity="warning"):
    return Alert(rule=rule, state="firing", series="t1/oven/t", message=f"{rule} at {at}", severity=severity, at=at)


def sent(router, *alerts):
    return [(name, a.message) for x in alerts for name, a in router.targets(x)]


def test_the_cap_counts_per_rule_and_the_next_message_says_so(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    router = Router(RULES, {"discord": NotifierPolicy(max_per_hour=2)}, store)
    assert sent(router, alert("hot", 0), alert("hot", 1)) == [("discord", "hot at 0"), ("discord", "hot at 1")]
    assert sent(router, alert("hot", 2), alert("cold", 3), alert("hot", 4)) == []
    assert sent(router, alert("fire", 5, "critical")) == [
        ("discord", "fire at 5 [3 earlier messages held back by the hourly cap: cold 1, hot 2]")
    ]
    assert sent(router, alert("fire", 6, "critical")) == [("discord", "fire at 6")]  # told once


def test_held_back_counts_survive_a_restart(tmp_path):
    path = tmp_path / "alerts.sqlite"
    first = Router(RULES, {"discord": NotifierPolicy(max_per_hour=1)}, AlertStore(path))
    assert len(sent(first, alert("hot", 0), alert("cold", 1), alert("cold", 2))) == 1
    second = Router(RULES, {"discord": NotifierPolicy(max_per_hour=1)}, AlertStore(path))  # the collector restarted
    assert sent(second, alert("hot", 10)) == [
        ("discord", "hot at 10 [2 earlier messages held back by the hourly cap: cold 2]")
    ]
    assert AlertStore(path).held_back() == {}
