"""The demo's scope: when its emulated laser unlocks, peak_presence drops and the demo's rule fires."""

from labmon.models import Batch, Result
from labmon_collector.alerting.rules import RulesEngine
from labmon_measurer.sampling import InstrumentRunner, read_all


def test_peak_presence_drops_and_the_alert_fires_when_the_laser_unlocks(demo_nodes, scope):
    configs = demo_nodes
    (entry,) = [e for e in configs["table1"].measurer.instruments if e.name == "scope"]
    runner = InstrumentRunner(entry)
    engine = RulesEngine(configs["collector"].collector.rules)

    def cycle(now):
        readings = tuple(read_all([runner]))
        alerts = engine.evaluate(Batch(0, now, (Result("id", "table1", now, readings),)), now)
        presence = next(r for r in readings if r.name == "ch1_peak_presence")
        return presence.value, [(a.rule, a.state) for a in alerts]

    try:
        locked = [cycle(float(t)) for t in range(3)]
        scope.state.locked = False
        unlocked = [cycle(float(t)) for t in range(3, 7)]
    finally:
        runner.close()
    assert all(presence == 1.0 and not alerts for presence, alerts in locked)
    assert all(presence < 0.7 for presence, _ in unlocked)
    assert ("scope-peak-lost", "firing") in [alert for _, alerts in unlocked for alert in alerts]
