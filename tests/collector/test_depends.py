"""depends_on: while a rule or measurer an alert depends on fires, the alert keeps its state and notifies nobody."""

import pytest

from labmon.models import Batch, Result
from labmon_collector.alerting.rules import RulesEngine
from tests.conftest import collector_table, invoke
from tests.core.test_config import COLLECTOR, load, problems

from .test_collector import started
from .test_rules import MINUTE, reading, rule

MASTER = rule(name="master-unlocked", select="table1/master/lock_error", for_=0.0)
SLAVE = rule(name="slave-unlocked", select="table1/slave*/lock_error", for_=0.0, depends_on=["master-unlocked"])
SLAVE_SERIES = "table1/slave1/lock_error"


def cycle(at, master, slave, missing=()):
    readings = (reading(master, instrument="master"), reading(slave, instrument="slave1"))
    results = () if "table1" in missing else (Result("id", "table1", at, readings),)
    return Batch(cycle=0, started_at=at, results=results, missing=tuple(missing))


def one_cycle(config):
    """Run one cycle of a collector with `config` against the real broker."""
    collector = started(config)
    try:
        collector.run_cycle(1)
    finally:
        collector.stop()


def told(engine, at, master, slave, missing=()):
    return [(a.rule, a.state) for a in engine.evaluate(cycle(at, master, slave, missing), at)]


def test_a_firing_master_holds_its_slaves_alerts_back_and_they_keep_their_state():
    engine = RulesEngine((SLAVE, MASTER))  # listed before its dependency: judged after it all the same
    assert told(engine, 0, 0.9, 0.9) == [("master-unlocked", "firing")]
    assert engine.states[("slave-unlocked", SLAVE_SERIES)].state == "firing"
    assert engine.notes == [
        ("slave-unlocked", SLAVE_SERIES, "held back", "by its dependency: rule master-unlocked fires")
    ]
    assert engine.held == {("slave-unlocked", SLAVE_SERIES): "rule master-unlocked fires"}
    assert told(engine, MINUTE, 0.9, 0.9) == [] and engine.notes == []  # noted once, not every cycle
    # the master relocks but the slave is still out: now the slave's alert is news
    assert told(engine, 2 * MINUTE, 0.1, 0.9) == [("master-unlocked", "resolved"), ("slave-unlocked", "firing")]
    assert engine.held == {}


def test_slaves_that_relock_with_their_master_say_nothing():
    engine = RulesEngine((MASTER, SLAVE))
    told(engine, 0, 0.9, 0.9)
    assert told(engine, MINUTE, 0.1, 0.1) == [("master-unlocked", "resolved")]


def test_a_measurer_dependency_holds_back_while_that_measurer_does_not_answer():
    pressure = rule(name="pressure", select="table1/slave*/lock_error", for_=0.0, depends_on=["measurer:pump*"])
    engine = RulesEngine((pressure,))
    assert told(engine, 0, 0.1, 0.9, missing=["pumps"]) == []
    assert engine.held == {("pressure", SLAVE_SERIES): "measurer pumps does not answer"}
    assert told(engine, MINUTE, 0.1, 0.9) == [("pressure", "firing")]  # the pump controller answers again


def test_an_offline_measurer_holds_back_its_own_alerts_as_a_dependency():
    offline = rule(name="table1-offline", select="table1", above=None, offline=True, for_=0.0)
    stale = rule(name="stale", select="table1/*/*", above=None, stale=MINUTE, for_=0.0)
    engine = RulesEngine((offline, stale))
    told(engine, 0, 0.1, 0.1)
    assert told(engine, 2 * MINUTE, 0.1, 0.1, missing=["table1"]) == [("table1-offline", "firing")]
    assert engine.held[("stale", "table1/master/lock_error")] == "measurer table1 is offline"


@pytest.mark.parametrize(
    ("depends", "complaint"),
    [
        ('["pager-rule"]', "depends_on: no rule named 'pager-rule'"),
        ('["measurer:table9"]', "depends_on: 'table9' matches no measurer"),
        ('["laser1-unlocked"]', "is not another rule or a measurer"),
        ('["measurer:"]', "is not another rule or a measurer"),
    ],
)
def test_labmon_check_explains_dependency_mistakes(tmp_path, registry, depends, complaint):
    assert complaint in problems(tmp_path, registry, COLLECTOR + f"depends_on = {depends}\n")


def test_rules_depending_on_each_other_in_a_circle_are_refused(tmp_path, registry):
    circle = COLLECTOR + 'depends_on = ["b"]\n[[collector.rules]]\nname = "b"\nselect = "table2"\nabove = 1\n'
    assert "rules depend on each other in a circle" in problems(
        tmp_path, registry, circle + 'depends_on = ["laser1-unlocked"]\n'
    )
    assert load(tmp_path, registry, circle).collector.rules[0].depends_on == ["b"]


def test_status_and_history_show_an_alert_held_back_by_its_dependency(lab, broker, write_config, tmp_path, capsys):
    first, second = sorted(lab)
    rules = [
        {"name": "master", "select": f"{first}/laser1/lock_error", "above": 0.01},
        {"name": "slave", "select": f"{second}/laser1/lock_error", "above": 0.01, "depends_on": ["master"]},
    ]
    one_cycle(write_config(collector_table(broker, lab, notifiers={"console": {"type": "console"}}, rules=rules)))
    path = str(tmp_path / "labmon.toml")
    status = invoke("status", path).output
    assert f"{second}/laser1/lock_error" in status and "(held back: rule master fires)" in status
    history = invoke("alerts", path).output
    assert "held back" in history and "by its dependency: rule master fires" in history
    assert "ALERT [warning] slave" not in capsys.readouterr().out


def test_a_scoped_dependency_holds_back_only_the_same_measurers_slaves():
    master = rule(name="master", select="*/master/lock_error", for_=0.0)
    slave = rule(name="slave", select="*/slave*/lock_error", for_=0.0, depends_on=["master"], depends_same=["measurer"])
    engine = RulesEngine((master, slave))
    readings = {
        "table1": (reading(0.9, instrument="master"), reading(0.9, instrument="slave1")),
        "table2": (reading(0.1, instrument="master"), reading(0.9, instrument="slave1")),
    }
    results = tuple(Result("id", m, 0, r) for m, r in readings.items())
    alerts = engine.evaluate(Batch(cycle=0, started_at=0, results=results), 0)
    assert [(a.rule, a.series) for a in alerts] == [
        ("master", "table1/master/lock_error"),
        ("slave", "table2/slave1/lock_error"),  # table1's master holds table1's slave only
    ]
    assert engine.held == {("slave", "table1/slave1/lock_error"): "rule master fires for the same measurer"}


@pytest.mark.parametrize(
    ("same", "complaint"),
    [
        ('["table"]\ndepends_on = ["measurer:table2"]', "'table' is not a label"),
        ('["measurer"]', "goes with depends_on"),
    ],
)
def test_labmon_check_explains_depends_same_mistakes(tmp_path, registry, same, complaint):
    assert complaint in problems(tmp_path, registry, COLLECTOR + f"depends_same = {same}\n")


def test_a_scoped_dependency_through_mosquitto(lab, broker, write_config, capsys):
    first, second = sorted(lab)
    rules = [
        {"name": "master", "select": f"{first}/laser1/lock_error", "above": 0.01},
        {
            "name": "slave", "select": "*/laser1/lock_error", "above": 0.01,
            "depends_on": ["master"], "depends_same": ["measurer"],
        },
    ]  # fmt: skip
    one_cycle(write_config(collector_table(broker, lab, notifiers={"console": {"type": "console"}}, rules=rules)))
    printed = capsys.readouterr().out
    assert f"- [warning] slave: {second}/laser1/lock_error" in printed  # the other table's: not held back
    assert f"slave: {first}/laser1/lock_error" not in printed
