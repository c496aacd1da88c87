from labmon.config import RuleConfig
from labmon.models import Batch, Reading, Result
from labmon.rules import RulesEngine

MINUTE = 60.0


def batch(value, at, measurer="table1", name="lock_error", status_error=False):
    reading = Reading.failed(name, "timeout", "V") if status_error else Reading.ok(name, value, "V")
    reading = Reading(reading.name, reading.value, reading.unit, reading.status, reading.error, instrument="laser1")
    return Batch(cycle=0, started_at=at, results=(Result("id", measurer, at, (reading,)),))


def run(engine, values, step=MINUTE):
    """Feed one value a minute; return (minute, alert) pairs."""
    return [(i, a) for i, v in enumerate(values) for a in engine.evaluate(batch(v, i * step), i * step)]


def rule(**kw):
    return RuleConfig(
        **{"name": "unlocked", "select": "table1/laser1/lock_error", "above": 0.5, "for_": 20 * MINUTE, **kw}
    )


def test_twenty_minutes_over_fires_exactly_once():
    alerts = run(RulesEngine((rule(),)), [0.1] + [0.9] * 40)
    assert [(i, a.state) for i, a in alerts] == [(21, "firing")]
    (_, alert) = alerts[0]
    assert alert.message == "table1/laser1/lock_error has been above 0.5 V for 20m (now 0.9 V)"
    assert alert.labels == {"measurer": "table1", "instrument": "laser1", "reading": "lock_error"}


def test_consecutive_not_total():
    """The original counter summed every over-threshold minute; a dip must restart the clock."""
    values = ([0.9] * 15 + [0.1]) * 4
    assert run(RulesEngine((rule(),)), values) == []


def test_resolves_once_with_duration():
    alerts = run(RulesEngine((rule(for_=0.0),)), [0.9, 0.9, 0.9, 0.2, 0.2])
    assert [(i, a.state) for i, a in alerts] == [(0, "firing"), (3, "resolved")]
    assert alerts[1][1].message == "table1/laser1/lock_error is back at 0.2 V after 3m above 0.5 V"


def test_below_rule_and_error_readings_never_look_healthy():
    engine = RulesEngine((rule(above=None, below=1.0, for_=0.0),))
    assert engine.evaluate(batch(0.5, 0), 0)[0].state == "firing"
    assert engine.evaluate(batch(None, 60, status_error=True), 60) == []  # an error reading does not resolve it
    assert engine.states[("unlocked", "table1/laser1/lock_error")].state == "firing"


def test_wildcards_keep_one_state_per_series():
    engine = RulesEngine((rule(select="*/laser*/lock_error", for_=0.0),))
    a = engine.evaluate(batch(0.9, 0, measurer="table1"), 0)
    b = engine.evaluate(batch(0.9, 0, measurer="table2"), 0)
    assert [x.series for x in a + b] == ["table1/laser1/lock_error", "table2/laser1/lock_error"]


def test_message_template():
    engine = RulesEngine((rule(for_=0.0, message="{instrument} unlocked: {value_text} > {threshold_text}"),))
    assert engine.evaluate(batch(0.75, 0), 0)[0].message == "laser1 unlocked: 0.75 V > 0.5 V"
