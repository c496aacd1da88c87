"""A measurer's clock offset from the inquiry's round trip, the reading moved onto the collector's clock, the alert."""

import dataclasses

from labmon.models import Reading, Result
from labmon.options import Duration
from labmon.rule_config import RuleConfig
from labmon_collector.alerting.rules import CLOCK_RULE, RulesEngine, with_builtin_rules
from labmon_collector.clocks import Clocks, measure
from tests.collector.test_rules import batch

LOCK = Reading("lock_error", 0.05, "V", instrument="laser1")


def answer(offset, *, sent=1000.0, arrived=1000.4, times=True, measured=None):
    """A result whose measurer received at sent+0.1 and replied at arrived-0.1 (collector's clock), `offset` ahead."""
    received, replied = sent + 0.1 + offset, arrived - 0.1 + offset
    at = (received + replied) / 2 if measured is None else measured
    return Result("q", "t1", at, (LOCK,), received if times else None, replied if times else None)


def test_the_offset_is_measured_from_the_four_times_and_the_reading_moved_onto_the_collectors_clock():
    clocks = Clocks()
    filed = clocks.file(answer(-259200.0), 1000.0, 1000.4)
    assert abs(filed.clock_offset + 259200.0) < 1e-6
    assert abs(filed.measured_at - 1000.2) < 1e-6
    assert clocks.shown() == {"t1": -259200.0}


def test_a_measurer_without_its_two_times_or_behind_a_slow_round_trip_is_not_judged():
    legacy = answer(7.0, times=False)  # its measured_at may be an earlier read's: nothing sure about its clock
    assert measure(legacy, 1000.0, 1000.4) is None
    assert Clocks().file(legacy, 1000.0, 1000.4) == legacy
    slow = Result("q", "t1", 1008.55, (LOCK,), 1008.5, 1008.6)  # 1.5 s each way on the network, 7 s ahead
    assert measure(slow, 1000.0, 1003.0) is None  # +-1.45 s: not worth a judgement


def test_a_small_offset_within_its_uncertainty_moves_nothing_and_is_not_shown():
    clocks = Clocks()
    result = answer(0.05)
    assert clocks.file(result, 1000.0, 1000.4).measured_at == result.measured_at
    assert clocks.shown() == {}


def test_a_reading_from_the_measurers_cache_keeps_its_earlier_time_and_never_lands_after_the_answer():
    cached = answer(0.0, measured=990.0)  # read ten seconds before this inquiry (min_inquiry_interval)
    assert Clocks().file(cached, 1000.0, 1000.4).measured_at == 990.0
    ahead = answer(50.0, measured=2000.0)  # nonsense reading time: still never after the answer arrived
    assert Clocks().file(ahead, 1000.0, 1000.4).measured_at <= 1000.4


def test_the_builtin_clock_rule_fires_once_for_a_skewed_measurer_and_resolves_when_its_clock_is_set():
    assert CLOCK_RULE in with_builtin_rules(())
    assert (
        with_builtin_rules((RuleConfig(name="mine", select="*", clock_offset=Duration(10.0)),)).count(CLOCK_RULE) == 0
    )
    engine = RulesEngine(with_builtin_rules(()))
    skewed = dataclasses.replace(batch(0.0, LOCK).results[0], clock_offset=-259200.0)
    fixed = dataclasses.replace(skewed, clock_offset=0.01)
    alerts = []
    for at, result in [(0.0, skewed), (10.0, skewed), (20.0, skewed), (30.0, fixed), (40.0, fixed)]:
        b = dataclasses.replace(batch(at, LOCK), results=(dataclasses.replace(result, measured_at=at),))
        alerts += engine.evaluate(b, at)
    assert [(a.rule, a.state) for a in alerts] == [("clock", "firing"), ("clock", "resolved")]
    assert "measurer table1's clock is off the collector's by -259200 s (more than 2s)" in alerts[0].message
