"""The alert engine, driven by explicit times: no sleeps, no wall clock."""

import pytest

from labmon.models import Batch, Reading, Result
from labmon.rule_config import RuleConfig
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.rules import RulesEngine

MINUTE = 60.0
SERIES = "table1/laser1/lock_error"


def reading(value, name="lock_error", instrument="laser1", error=None, unit="V"):
    if error is not None:
        return Reading(name, None, unit, "error", error, instrument)
    return Reading(name, value, unit, instrument=instrument)


def batch(at, *readings, measurer="table1", missing=()):
    results = (Result("id", measurer, at, tuple(readings)),) if readings else ()
    return Batch(cycle=0, started_at=at, results=results, missing=tuple(missing))


def rule(**kw):
    return RuleConfig(**{"name": "unlocked", "select": SERIES, "above": 0.5, "for_": 20 * MINUTE, **kw})


def feed(engine, values, step=MINUTE, start=0.0):
    """Feed one value a step; return (step index, alert) pairs."""
    out = []
    for i, value in enumerate(values):
        at = start + i * step
        out += [(i, a) for a in engine.evaluate(batch(at, reading(value)), at)]
    return out


def states(alerts):
    return [(i, a.state, a.repeat) for i, a in alerts]


def test_twenty_minutes_over_fires_exactly_once():
    alerts = feed(RulesEngine((rule(),)), [0.1] + [0.9] * 40)
    assert states(alerts) == [(21, "firing", 0)]
    (_, alert) = alerts[0]
    assert alert.message == "table1/laser1/lock_error has been above 0.5 V for 20m (now 0.9 V)"
    assert alert.labels == {"measurer": "table1", "instrument": "laser1", "reading": "lock_error", "kind": "threshold"}


def test_consecutive_not_total():
    """The original counter summed every over-threshold minute; a dip must restart the clock."""
    assert feed(RulesEngine((rule(),)), ([0.9] * 15 + [0.1]) * 4) == []


def test_resolves_once_saying_how_long_it_lasted():
    alerts = feed(RulesEngine((rule(for_=0.0),)), [0.9, 0.9, 0.9, 0.2, 0.2])
    assert states(alerts) == [(0, "firing", 0), (3, "resolved", 0)]
    assert alerts[1][1].message == "table1/laser1/lock_error is back at 0.2 V after 3m above 0.5 V"


def test_flapping_under_hysteresis_notifies_once():
    values = [1.3, 1.1, 1.25, 1.05, 1.3, 1.15, 1.22, 1.01]  # dancing around 1.2, never below 1.0
    engine = RulesEngine((rule(above=1.2, clear=1.0, for_=0.0),))
    assert states(feed(engine, values)) == [(0, "firing", 0)]
    without = RulesEngine((rule(above=1.2, for_=0.0),))
    assert len(feed(without, values)) > 4  # what hysteresis saves a lab from
    assert states(feed(engine, [0.9], start=10 * MINUTE)) == [(0, "resolved", 0)]


def test_hysteresis_keeps_a_pending_timer_running():
    alerts = feed(RulesEngine((rule(above=1.2, clear=1.0, for_=3 * MINUTE),)), [1.3, 1.1, 1.1, 1.1, 1.3])
    assert states(alerts) == [(3, "firing", 0)]


def test_a_pending_alert_that_clears_notifies_nobody():
    assert feed(RulesEngine((rule(),)), [0.9] * 19 + [0.1] * 5) == []


def test_repeats_while_firing_every_repeat_interval():
    engine = RulesEngine((rule(for_=0.0, repeat_interval=4 * 3600.0),))
    alerts = feed(engine, [0.9] * (9 * 60 + 1))  # nine hours
    assert states(alerts) == [(0, "firing", 0), (240, "firing", 1), (480, "firing", 2)]
    assert alerts[1][1].message.startswith("still firing (1): ")


def test_keep_firing_for_rides_out_a_short_dip():
    engine = RulesEngine((rule(for_=0.0, keep_firing_for=3 * MINUTE),))
    alerts = feed(engine, [0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1])
    assert states(alerts) == [(0, "firing", 0), (7, "resolved", 0)]


def test_below_rule_and_error_readings_never_look_healthy():
    engine = RulesEngine((rule(above=None, below=1.0, for_=0.0),))
    assert engine.evaluate(batch(0, reading(0.5)), 0)[0].state == "firing"
    assert engine.evaluate(batch(60, reading(None, error="timeout")), 60) == []  # an error reading does not resolve it
    assert engine.states[("unlocked", SERIES)].state == "firing"


def test_band():
    engine = RulesEngine((rule(select="table1/oven/t", above=None, outside=[340.0, 360.0], for_=0.0),))
    alerts = [
        a
        for t, v in enumerate([350, 362, 355, 330])
        for a in engine.evaluate(batch(t * 60, reading(v, "t", "oven", unit="degC")), t * 60)
    ]
    assert [a.state for a in alerts] == ["firing", "resolved", "firing"]
    assert alerts[0].message == "table1/oven/t has been outside 340 to 360 degC for 0s (now 362 degC)"


def test_rate_of_change_over_a_window():
    engine = RulesEngine((rule(select="table1/oven/t", above=None, rate_above=2.0, window=5 * MINUTE, for_=0.0),))
    temps = [350, 350.5, 351, 351.5, 352, 356, 360, 364, 364, 364, 364, 364, 364, 364]
    alerts = [
        (i, a)
        for i, v in enumerate(temps)
        for a in engine.evaluate(batch(i * 60, reading(v, "t", "oven", unit="degC")), i * 60)
    ]
    # over 5 minutes the rate is 1.9/min at minute 6, 2.6 at 7; it falls to 1.6 at minute 10
    assert [(i, a.state) for i, a in alerts] == [(7, "firing"), (10, "resolved")]
    assert "rising faster than 2 degC/1m" in alerts[0][1].message


def test_error_condition_per_instrument():
    engine = RulesEngine((rule(select="*/laser1/*", above=None, error=True, for_=2 * MINUTE),))
    sequence = [reading(None, "*", error="VI_ERROR_TMO")] * 4 + [reading(0.05)]
    alerts = [(i, a) for i, r in enumerate(sequence) for a in engine.evaluate(batch(i * 60, r), i * 60)]
    assert [(i, a.state, a.series) for i, a in alerts] == [
        (2, "firing", "table1/laser1"),
        (4, "resolved", "table1/laser1"),
    ]
    assert alerts[0][1].message == "table1/laser1 could not be read for 2m: VI_ERROR_TMO"


def test_stale_when_no_valid_value_for_a_while():
    engine = RulesEngine((rule(above=None, stale=10 * MINUTE, for_=0.0),))
    engine.evaluate(batch(0, reading(0.05)), 0)
    quiet = [a for t in range(1, 10) for a in engine.evaluate(batch(t * 60, reading(None, error="timeout")), t * 60)]
    fired = engine.evaluate(batch(600, reading(None, error="timeout")), 600)
    assert quiet == [] and [a.message for a in fired] == [f"{SERIES} has had no valid value for 10m"]


def test_a_series_the_measurer_no_longer_reports_is_forgotten_not_stale():
    engine = RulesEngine((rule(select="table1/*/*", above=None, stale=10 * MINUTE, for_=0.0),))
    engine.evaluate(batch(0, reading(0.05), reading(21.0, "t", "oven")), 0)
    engine.evaluate(batch(60, reading(21.0, "t", "oven")), 60)  # laser1 was removed from the config
    engine.evaluate(
        batch(120, reading(None, "*", error="timeout"), reading(21.0, "t", "oven")), 120
    )  # back, unreadable
    assert set(engine.memory.last_valid) == {"table1/oven/t"}
    engine.evaluate(batch(180, reading(0.05), reading(None, "*", "oven", error="timeout")), 180)
    fired = engine.evaluate(batch(780, reading(0.05), reading(None, "*", "oven", error="timeout")), 780)
    assert [a.series for a in fired] == ["table1/oven/t"]  # an unreadable instrument does go stale


def test_offline_measurer_is_one_alert_and_suppresses_its_value_alerts():
    rules = (
        rule(name="table1-offline", select="table1", above=None, offline=True, for_=2 * MINUTE),
        rule(name="stale", select="table1/*/*", above=None, stale=MINUTE, for_=0.0),
    )
    engine = RulesEngine(rules)
    engine.evaluate(batch(0, reading(0.05), reading(21.0, "t", "oven")), 0)
    alerts = [a for t in range(1, 6) for a in engine.evaluate(batch(t * 60, missing=["table1"]), t * 60)]
    assert [(a.rule, a.state) for a in alerts] == [("table1-offline", "firing")]
    assert alerts[0].message == "measurer table1 has not answered for 2m"
    assert engine.states[("stale", SERIES)].state == "firing"  # it shows in status, it just does not notify
    back = engine.evaluate(batch(360, reading(0.05), reading(21.0, "t", "oven")), 360)
    assert [(a.rule, a.state) for a in back] == [("table1-offline", "resolved")]  # the silent stale alerts say nothing


def test_a_disconnected_measurer_is_not_judged():
    """While the collector cannot reach a measurer's broker, neither offline nor stale rules count the gap."""
    rules = (
        rule(name="off", select="*", above=None, offline=True, for_=0.0),
        rule(name="stale", select="table1/*/*", above=None, stale=MINUTE, for_=0.0),
    )
    engine = RulesEngine(rules)
    engine.evaluate(batch(0, reading(0.05)), 0)
    cut_off = [Batch(cycle=0, started_at=t * 60, results=(), disconnected=("table1",)) for t in range(1, 6)]
    assert [a for b in cut_off for a in engine.evaluate(b, b.started_at)] == []
    assert engine.evaluate(batch(360, reading(0.05)), 360) == []


def test_a_broker_rule_fires_once_after_its_for_and_resolves():
    engine = RulesEngine((rule(name="broker", select="*", above=None, broker=True, for_=2 * MINUTE),))
    down = {"mqtt.lab:1883": 30.0}
    alerts = [a for t in range(1, 6) for a in engine.evaluate(batch(t * 60), t * 60, down)]
    assert [(a.rule, a.state, a.series) for a in alerts] == [("broker", "firing", "mqtt.lab:1883")]
    assert alerts[0].message.startswith("collector cannot reach broker mqtt.lab:1883 since 1970-01-01T00:00:30")
    back = engine.evaluate(batch(360), 360, {"mqtt.lab:1883": None})
    assert [(a.state, a.message) for a in back] == [
        ("resolved", "collector reaches broker mqtt.lab:1883 again after 5m")
    ]


def test_silences_mute_and_expire(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    store.add_silence("table1/*", starts=0, ends=10 * MINUTE, comment="realigning table 1")
    engine = RulesEngine((rule(for_=0.0),), store)
    alerts = feed(engine, [0.9] * 15)
    assert states(alerts) == [(10, "firing", 0)]  # muted until the silence ended, then told once


def test_a_silenced_alert_that_clears_sends_no_resolved(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    silence = store.add_silence(SERIES, starts=0, ends=60 * MINUTE, comment="")
    engine = RulesEngine((rule(for_=0.0),), store)
    assert feed(engine, [0.9, 0.9, 0.1]) == []
    assert store.remove_silence(silence) and not store.remove_silence(silence)


def test_a_restart_in_the_middle_of_for_keeps_the_timer(tmp_path):
    path = tmp_path / "alerts.sqlite"
    first = RulesEngine((rule(),), AlertStore(path))
    assert feed(first, [0.9] * 15) == []
    second = RulesEngine((rule(),), AlertStore(path))  # the collector restarted
    alerts = feed(second, [0.9] * 10, start=15 * MINUTE)
    assert states(alerts) == [(5, "firing", 0)]  # 20 minutes after it began, not after the restart


def test_a_firing_alert_neither_refires_nor_resolves_after_a_restart(tmp_path):
    path = tmp_path / "alerts.sqlite"
    first = RulesEngine((rule(for_=0.0),), AlertStore(path))
    assert states(feed(first, [0.9])) == [(0, "firing", 0)]
    second = RulesEngine((rule(for_=0.0),), AlertStore(path))
    assert feed(second, [0.9, 0.9], start=MINUTE) == []
    assert states(feed(second, [0.1], start=3 * MINUTE)) == [(0, "resolved", 0)]


def test_stale_timer_survives_a_restart(tmp_path):
    path = tmp_path / "alerts.sqlite"
    stale = rule(above=None, stale=10 * MINUTE, for_=0.0)
    first = RulesEngine((stale,), AlertStore(path))
    first.evaluate(batch(0, reading(0.05)), 0)
    second = RulesEngine((stale,), AlertStore(path))
    assert [a.state for a in second.evaluate(batch(600, reading(None, error="x")), 600)] == ["firing"]


def test_wildcards_keep_one_state_per_series():
    engine = RulesEngine((rule(select="*/laser*/lock_error", for_=0.0),))
    a = engine.evaluate(batch(0, reading(0.9), measurer="table1"), 0)
    b = engine.evaluate(batch(0, reading(0.9), measurer="table2"), 0)
    assert [x.series for x in a + b] == ["table1/laser1/lock_error", "table2/laser1/lock_error"]


def test_each_series_judged_by_its_own_value_as_the_series_and_their_order_change():
    """The rules find a series' reading by its position among the cycle's series, worked out again when they change."""
    engine = RulesEngine((rule(select="*/laser*/lock_error", for_=0.0),))

    def cycle(at, *values_by_measurer):
        results = tuple(
            Result("id", m, at, (reading(v) if v is not None else reading(None, error="timeout"),))
            for m, v in values_by_measurer
        )
        return [(a.series, a.state) for a in engine.evaluate(Batch(0, at, results), at)]

    assert cycle(0, ("t1", 0.1), ("t2", 0.1)) == []
    assert cycle(60, ("t1", 0.1), ("t2", 0.9)) == [("t2/laser1/lock_error", "firing")]
    assert cycle(120, ("t2", 0.9), ("t1", 0.9)) == [("t1/laser1/lock_error", "firing")]  # the order turned
    assert cycle(180, ("t1", None), ("t3", 0.9), ("t2", 0.1)) == [  # t1's error neither fires nor clears
        ("t3/laser1/lock_error", "firing"),
        ("t2/laser1/lock_error", "resolved"),
    ]
    assert cycle(240, ("t1", 0.1), ("t3", 0.1), ("t2", 0.1)) == [
        ("t1/laser1/lock_error", "resolved"),
        ("t3/laser1/lock_error", "resolved"),
    ]


def test_message_template():
    engine = RulesEngine((rule(for_=0.0, message="{instrument} unlocked: {value_text} > {threshold_text}"),))
    assert engine.evaluate(batch(0, reading(0.75)), 0)[0].message == "laser1 unlocked: 0.75 V > 0.5 V"


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"above": 1.0, "below": 0.0}, "exactly one of above or below"),
        ({"above": 1.0, "error": True}, "exactly one condition"),
        ({"above": None}, "has none"),
        ({"above": 1.0, "clear": 1.5}, "clear must be below above"),
        ({"above": None, "below": 1.0, "clear": 0.5}, "clear must be above below"),
        ({"above": None, "outside": [2.0, 1.0]}, "low < high"),
        ({"above": None, "offline": True, "select": "table1/x/y"}, "not a measurer name"),
        ({"select": "table1//y"}, "empty part"),
        ({"select": "table1/[laser/y"}, "unclosed"),
    ],
)
def test_rule_mistakes_are_explained(options, complaint):
    from labmon.options import OptionError

    with pytest.raises(OptionError, match=complaint):
        rule(**options)


@pytest.mark.parametrize("jitter", [0.004, -0.004])
def test_durations_count_ticks_not_jittered_seconds(jitter):
    """A 20m rule at one cycle a minute fires at the 20th minute, whichever way the cycle times jitter."""
    engine = RulesEngine((rule(keep_firing_for=2 * MINUTE, repeat_interval=5 * MINUTE),), tick=MINUTE)
    wobble = [jitter * (-1) ** i for i in range(40)]  # alternately late and early by milliseconds
    out = []
    for i, value in enumerate([0.9] * 26 + [0.1] * 4):
        at = i * MINUTE + wobble[i]
        out += [(i, a.state, a.repeat) for a in engine.evaluate(batch(at, reading(value)), at)]
    assert out == [(20, "firing", 0), (25, "firing", 1), (28, "resolved", 1)]


def test_an_alert_of_a_rule_removed_from_the_config_is_dropped_at_restart(tmp_path):
    path = tmp_path / "alerts.sqlite"
    first = RulesEngine((rule(for_=0.0),), AlertStore(path))
    assert states(feed(first, [0.9])) == [(0, "firing", 0)]
    first.store.acknowledge("*", "alice", "", now=MINUTE)
    second = RulesEngine((rule(name="renamed", for_=20 * MINUTE),), AlertStore(path))
    assert second.states == {}
    assert feed(second, [0.9], start=MINUTE) == []
    assert AlertStore(path).load()[0] == {("renamed", SERIES): second.states[("renamed", SERIES)]}
    assert AlertStore(path).acks() == {}


def test_an_alert_of_a_series_its_measurer_no_longer_reports_is_dropped_and_noted(tmp_path):
    engine = RulesEngine((rule(select="table1/*/*", for_=0.0),), AlertStore(tmp_path / "alerts.sqlite"))
    fired = engine.evaluate(batch(0, reading(0.9), reading(0.1, "t", "oven")), 0)
    assert [(a.series, a.state) for a in fired] == [(SERIES, "firing")]
    closed = engine.evaluate(batch(60, reading(0.1, "t", "oven")), 60)  # laser1 was removed from its config
    assert [(a.state, a.message) for a in closed] == [
        ("resolved", f"{SERIES}: alert closed, its measurer no longer reports the series")
    ]  # those told it fires hear that it is over
    assert engine.states == {}  # laser1's alert is dropped; the oven's series never held
    assert engine.notes == [("unlocked", SERIES, "forgotten", "its measurer no longer reports the series")]
    assert list(engine.store.load()[0]) == []  # nothing left firing for status, the page or /metrics
