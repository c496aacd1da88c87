"""The `disk` rule: an ordinary alert of the rules engine, kept in the alert store, named after its collector."""

import errno

from labmon.models import Batch
from labmon.rule_config import RuleConfig
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.rules import DISK_RULE, RulesEngine, with_builtin_rules
from labmon_collector.disk import DiskHealth
from labmon_collector.diskalarm import DiskAlarm, severities

TERABYTES = 10**15


def engine(tmp_path, min_free, node="collector", rules=(), windows=()):
    """A rules engine with its alert store in `tmp_path`, looking at `tmp_path`'s disk."""
    health = DiskHealth(tmp_path)
    judge = RulesEngine(with_builtin_rules(rules), AlertStore(tmp_path / "alerts.sqlite"), mute_windows=windows)
    judge.disk = DiskAlarm(health, min_free, node)
    return judge, health


def cycle(judge, now):
    return judge.evaluate(Batch(int(now), now, ()), now)


def test_the_disk_rule_is_built_in_unless_the_config_has_one():
    assert DISK_RULE in with_builtin_rules(())
    mine = RuleConfig(name="card", select="*", disk=True, notify=["phone"])
    assert DISK_RULE not in with_builtin_rules((mine,))


def test_low_space_fires_once_survives_a_restart_and_resolves_once_when_space_returns(tmp_path):
    first, _ = engine(tmp_path, TERABYTES)  # more than any disk here has free
    (fired,) = cycle(first, 1000.0)
    assert (fired.rule, fired.series, fired.state) == ("disk", "collector/disk/free", "firing")
    assert fired.severity == "warning"
    assert "below min_free" in fired.message
    assert cycle(first, 1010.0) == []
    first.store.close()
    again, _ = engine(tmp_path, TERABYTES)  # a restart: the state is in the alert store
    assert again.states[("disk", "collector/disk/free")].state == "firing"
    assert cycle(again, 1020.0) == []
    again.store.close()
    roomy, _ = engine(tmp_path, 1)  # space came back meanwhile
    (resolved,) = cycle(roomy, 1030.0)
    assert resolved.state == "resolved" and resolved.since == 1000.0 and "again" in resolved.message
    assert cycle(roomy, 1040.0) == []


def test_writes_the_disk_refused_fire_a_critical_alert_named_after_the_collector(tmp_path):
    judge, health = engine(tmp_path, 1, node="collector-b")
    health.refuse("outbox", OSError(errno.ENOSPC, "No space left on device"))
    (fired,) = cycle(judge, 1000.0)
    assert (fired.series, fired.severity) == ("collector-b/disk/writes", "critical")
    assert fired.message.startswith("collector-b/disk/writes: history not stored since ")
    health.stored("outbox")
    (resolved,) = cycle(judge, 1010.0)
    assert resolved.state == "resolved" and "history stored again" in resolved.message
    assert severities(judge.rules)("disk", "collector-b/disk/free") == "warning"
    assert severities(judge.rules)("disk", "collector-b/disk/writes") == "critical"


def test_a_silenced_disk_alert_notifies_nobody_and_an_acknowledged_one_says_so_once(tmp_path):
    judge, health = engine(tmp_path, TERABYTES)
    judge.store.add_silence("collector/disk/free", 0.0, 2000.0, "a new card is on its way")
    assert cycle(judge, 1000.0) == []  # firing, silenced
    assert judge.states[("disk", "collector/disk/free")].state == "firing"
    health.refuse("history", OSError(errno.ENOSPC, "No space left on device"))
    (full,) = cycle(judge, 1010.0)
    assert full.series == "collector/disk/writes"
    [ack] = judge.store.acknowledge("collector/disk/writes", "ana", "clearing space", 1015.0)
    assert (ack.rule, ack.series) == ("disk", "collector/disk/writes")
    (told,) = cycle(judge, 1020.0)
    assert told.message.startswith("acknowledged by ana: clearing space; collector/disk/writes: history not stored")
    assert cycle(judge, 1030.0) == []


def test_a_disk_alert_of_a_renamed_collector_resolves(tmp_path):
    before, _ = engine(tmp_path, TERABYTES, node="collector-a")
    assert [a.series for a in cycle(before, 1000.0)] == ["collector-a/disk/free"]
    before.store.close()
    renamed, _ = engine(tmp_path, TERABYTES, node="collector-c")
    alerts = {(a.series, a.state) for a in cycle(renamed, 1010.0)}
    assert alerts == {("collector-a/disk/free", "resolved"), ("collector-c/disk/free", "firing")}


def test_a_disk_rule_of_ones_own_routes_and_a_mute_window_quiets_the_disk_alert(tmp_path):
    from datetime import UTC

    from labmon.config import NotifierPolicy
    from labmon.rule_config import MuteWindow
    from labmon_collector.alerting.routing import Router

    card = RuleConfig(name="card", select="*", disk=True, notify=["phone"], severity="warning")
    judge, _ = engine(tmp_path / "routed", TERABYTES, rules=(card,))
    (fired,) = cycle(judge, 1000.0)
    router = Router(judge.rules, {"phone": NotifierPolicy(), "discord": NotifierPolicy()})
    assert fired.rule == "card" and [name for name, _ in router.targets(fired)] == ["phone"]
    always = MuteWindow(start="00:00", end="23:59", select="collector/disk")
    quiet, _ = engine(tmp_path / "muted", TERABYTES, windows=(always,))  # 00:16 UTC at 1000.0: inside it
    quiet.tz = UTC
    assert cycle(quiet, 1000.0) == []
    assert quiet.muted == {("disk", "collector/disk/free"): always.text()}


def test_a_disk_full_at_the_first_look_says_the_alert_may_have_been_told_before_the_restart(tmp_path):
    judge, health = engine(tmp_path, 1)
    health.refuse("outbox", OSError(errno.ENOSPC, "No space left on device"))
    (fired,) = cycle(judge, 1000.0)
    assert fired.message.endswith("; full as this collector started: possibly told before its restart)")
    health.stored("outbox")
    cycle(judge, 1010.0)
    health.refuse("outbox", OSError(errno.ENOSPC, "No space left on device"))
    (later,) = cycle(judge, 1020.0)  # filled while this run looked: its own news
    assert later.state == "firing" and "possibly told before" not in later.message
