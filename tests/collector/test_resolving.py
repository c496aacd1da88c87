"""Every rule kind resolves when its cause ends, and again after the next incident: fail, recover, fail, recover."""

import pytest

from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.rules import RulesEngine
from labmon_collector.service import Collector
from tests.collector.test_rules import MINUTE, SERIES, batch, reading, rule
from tests.conftest import collector_table

OK, BAD = reading(0.05), reading(0.9)
DEAD = reading(None, "*", error="VI_ERROR_TMO")
BROKEN = reading(None, error="timeout")
OVEN_OK, OVEN_HOT = reading(350.0, "t", "oven"), reading(370.0, "t", "oven")


def cycle(at, what):
    """Return (batch, brokers) of one cycle at `at` from a shorthand: readings, "missing" or a broker state."""
    if what == "missing":
        return batch(at, missing=["table1"]), None
    if what in ("down", "up"):
        return batch(at, OK), {"mqtt.lab:1883": 0.0 if what == "down" else None}
    return batch(at, *what), None


KINDS = {
    "threshold": (rule(for_=0.0), [OK], [BAD]),
    "band": (rule(select="table1/oven/t", above=None, outside=[340.0, 360.0], for_=0.0), [OVEN_OK], [OVEN_HOT]),
    "error on a reading": (rule(above=None, error=True, for_=0.0), [OK], [BROKEN]),
    "error on the whole instrument": (rule(select="*/*/[*]", above=None, error=True, for_=0.0), [OK], [DEAD]),
    "stale": (rule(above=None, stale=MINUTE, for_=0.0), [OK], [BROKEN]),
    "offline": (rule(select="table1", above=None, offline=True, for_=0.0), [OK], "missing"),
    "broker": (rule(select="*", above=None, broker=True, for_=0.0), "up", "down"),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_fires_and_resolves_twice(kind):
    chosen, good, bad = KINDS[kind]
    engine = RulesEngine((chosen,))
    script = [good, bad, bad, good, good, bad, bad, good]
    alerts = []
    for i, what in enumerate(script):
        cut, brokers = cycle(i * MINUTE, what)
        alerts += engine.evaluate(cut, i * MINUTE, brokers)
    assert [a.state for a in alerts] == ["firing", "resolved", "firing", "resolved"], kind


def test_a_rate_rule_fires_and_resolves_twice():
    engine = RulesEngine((rule(select="table1/oven/t", above=None, rate_above=5.0, window=2 * MINUTE, for_=0.0),))
    temps = [350, 350, 350, 370, 390, 390, 390, 390, 410, 430, 430, 430, 430]
    alerts = [a for i, t in enumerate(temps) for a in engine.evaluate(batch(i * 60, reading(t, "t", "oven")), i * 60)]
    assert [a.state for a in alerts] == ["firing", "resolved", "firing", "resolved"]


def test_the_whole_instrument_rule_clears_on_any_valid_reading_not_on_failed_ones():
    engine = RulesEngine((rule(select="*/*/[*]", above=None, error=True, for_=0.0),))
    assert [a.state for a in engine.evaluate(batch(0, DEAD), 0)] == ["firing"]
    assert engine.evaluate(batch(60, BROKEN), 60) == []  # it answered, but nothing it said was valid
    resolved = engine.evaluate(batch(120, BROKEN, reading(3.0, "power")), 120)
    assert [(a.state, a.series) for a in resolved] == [("resolved", "table1/laser1")]


@pytest.mark.parametrize(
    ("kind", "bad", "gone"),
    [
        ("error", batch(0, DEAD), batch(60, OVEN_OK)),  # laser1 taken out of table1's config
        ("offline", batch(0, missing=["table1"]), batch(60, OK, measurer="table2")),  # table1 taken out
    ],
)
def test_an_alert_on_something_taken_out_of_the_config_is_closed_and_said(kind, bad, gone):
    chosen = rule(select="*/*/*" if kind == "error" else "*", above=None, for_=0.0, **{kind: True})
    engine = RulesEngine((chosen,))
    assert [a.state for a in engine.evaluate(bad, 0)] == ["firing"]
    closed = engine.evaluate(gone, 60)
    assert [a.state for a in closed] == ["resolved"] and "alert closed" in closed[0].message
    assert engine.states == {} and engine.notes[0][2] == "forgotten"


def test_a_removed_broker_closes_its_alert():
    engine = RulesEngine((rule(select="*", above=None, broker=True, for_=0.0),))
    engine.evaluate(batch(0), 0, {"old:1883": 0.0})
    closed = engine.evaluate(batch(60), 60, {"new:1883": None})
    assert [(a.state, a.message) for a in closed] == [
        ("resolved", "old:1883: alert closed, the broker is no longer in the collector's config")
    ]


def test_an_alert_silenced_after_it_was_told_still_says_it_resolved(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    engine = RulesEngine((rule(for_=0.0),), store)
    assert [a.state for a in engine.evaluate(batch(0, BAD), 0)] == ["firing"]
    store.add_silence(SERIES, starts=30, ends=3600, comment="realigning")
    assert engine.evaluate(batch(60, BAD), 60) == []
    assert [a.state for a in engine.evaluate(batch(120, OK), 120)] == ["resolved"]  # the channel must not stay red


def test_a_dead_instrument_through_mosquitto_fires_and_resolves_twice(lab_with, broker, write_config, capsys):
    """The README's dead-instrument rule against a real broker: a sim scope fails every third read."""
    (table,) = lab_with({"scope": {"type": "sim", "reading": "vpp", "unit": "V", "level": 1.0, "fail_every": 3}})
    dead = {"name": "dead", "select": "*/*/[*]", "error": True, "for": "0s"}
    config = collector_table(broker, [table], notifiers={"console": {"type": "console"}}, rules=[dead])
    collector = Collector(write_config(config))
    collector.start()
    assert collector.wait_connected(10)
    for number in range(1, 8):  # reads: ok ok FAIL ok ok FAIL ok (the instrument is reopened after each failure)
        collector.run_cycle(number)
    collector.stop()
    printed = capsys.readouterr().out
    assert printed.count(f"ALERT [warning] dead: {table}/scope could not be read") == 2
    assert printed.count(f"RESOLVED dead: {table}/scope reads again") == 2
