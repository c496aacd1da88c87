"""Grouping: a cycle's alerts for one notifier are one outbox item; `group_wait` gathers a burst."""

from labmon.config import NotifierPolicy
from labmon.models import Alert
from labmon_collector.alerting.grouping import Grouper, deliver_group, grouped_alert
from tests.conftest import collector_table

from .test_collector import started

TICK = 10.0


def alert(rule, series="table3/laser1/lock_error", severity="warning", state="firing"):
    return Alert(rule=rule, state=state, series=series, message=f"{rule} is off", severity=severity, since=0.0, at=5.0)


def test_one_alert_stays_itself_several_become_one_group():
    grouper = Grouper({"discord": NotifierPolicy()})
    grouper.add("discord", alert("a"), 0.0)
    assert grouper.ready(0.0) == [("discord", alert("a").to_dict())]
    for rule in "abcd":
        grouper.add("discord", alert(rule), TICK)
    ((name, payload),) = grouper.ready(TICK)
    assert name == "discord" and payload["message"] == "table3: 4 alerts"
    assert [Alert.from_dict(a).rule for a in payload["alerts"]] == ["a", "b", "c", "d"]
    assert grouper.ready(2 * TICK) == []


def test_group_wait_gathers_a_burst_over_cycles_on_the_tick_grid():
    grouper = Grouper({"discord": NotifierPolicy(group_wait=30.0), "console": NotifierPolicy()}, tick=TICK)
    for cycle in range(4):
        at = cycle * TICK + 0.004 * (-1) ** cycle  # cycle times jitter either way: the tick grid counts
        grouper.add("discord", alert(f"r{cycle}"), at)
        grouper.add("console", alert(f"r{cycle}"), at)
        ready = grouper.ready(at)
        assert [name for name, _ in ready] == (["discord", "console"] if cycle == 3 else ["console"])
    grouper.add("discord", alert("late"), 50.0)
    assert grouper.ready(50.0) == [] and [n for n, _ in grouper.ready(50.0, everything=True)] == ["discord"]


def test_group_by_splits_a_notifiers_alerts_by_label():
    grouper = Grouper({"discord": NotifierPolicy(group_by=["measurer", "severity"])})
    for rule, series, severity in [("a", "t1/x/y", "warning"), ("b", "t1/z/y", "warning"), ("c", "t2/x/y", "warning")]:
        grouper.add("discord", alert(rule, series, severity), 0.0)
    grouper.add("discord", alert("d", "t1/x/y", "critical"), 0.0)
    groups = [p["message"] for _, p in grouper.ready(0.0)]
    assert groups == ["t1: 2 alerts", "c is off", "d is off"]


def test_group_interval_sends_a_changing_group_at_most_that_often():
    grouper = Grouper({"discord": NotifierPolicy(group_wait=20.0, group_interval=60.0)}, tick=TICK)
    sent = []
    for cycle in range(16):
        grouper.add("discord", alert(f"r{cycle}"), cycle * TICK)  # the group changes every cycle
        sent += [(cycle, len(p.get("alerts", [p]))) for _, p in grouper.ready(cycle * TICK)]
    assert sent == [(2, 3), (8, 6), (14, 6)]  # group_wait for the first, then every group_interval
    assert [p["rule"] for _, p in grouper.ready(15 * TICK, everything=True)] == ["r15"]  # a stop sends the rest


def test_a_notifier_without_notify_group_gets_one_grouped_alert():
    told = []

    class Plain:
        def notify(self, alert):
            told.append(alert)

    alerts = [alert("a"), alert("b", "table3/oven/t", "critical"), alert("c", state="resolved")]
    deliver_group(Plain(), alerts)
    (one,) = told
    assert one.severity == "critical" and one.state == "firing" and one.labels == {"grouped": "3"}
    assert one.message.splitlines() == [
        "table3: 3 alerts",
        "- [warning] a: a is off",
        "- [critical] b: b is off",
        "- [resolved] c: c is off",
    ]
    assert grouped_alert([alert("a", "t1/x/y"), alert("b", "t2/x/y")]).message.startswith("2 alerts\n")


def test_a_cycles_alerts_print_as_one_message_through_the_console(lab, broker, write_config, capsys):
    rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01}
    config = collector_table(broker, lab, notifiers={"console": {"type": "console"}}, rules=[rule])
    collector = started(write_config(config))
    try:
        collector.run_cycle(1)
    finally:
        collector.stop()
    printed = capsys.readouterr().out
    assert printed.count("ALERT [warning]") == 1 and "2 alerts" in printed
    assert all(f"{m}/laser1/lock_error" in printed for m in lab)
