"""The demo's scope: when its emulated laser unlocks, peak_presence drops and the demo's rule fires."""

import tomli_w

from labmon.config import load_config
from labmon.models import Batch, Result
from labmon.plugins import collect, get_plugin_manager
from labmon_collector.rules import RulesEngine
from labmon_demo.demo import demo_configs
from labmon_measurer.sampling import InstrumentRunner, read_all
from labmon_rigol.emulator import ScopeEmulator


def test_peak_presence_drops_and_the_alert_fires_when_the_laser_unlocks(tmp_path):
    emulator = ScopeEmulator().start()
    registry = collect(get_plugin_manager())
    configs = {}
    for stem, config in demo_configs(1883, tmp_path, "1s", emulator.port).items():
        (tmp_path / f"{stem}.toml").write_text(tomli_w.dumps(config))
        configs[stem] = load_config(tmp_path / f"{stem}.toml", registry)
    (scope,) = [e for e in configs["table1"].measurer.instruments if e.name == "scope"]
    runner = InstrumentRunner(scope)
    engine = RulesEngine(configs["collector"].collector.rules)

    def cycle(now):
        readings = tuple(read_all([runner]))
        alerts = engine.evaluate(Batch(0, now, (Result("id", "table1", now, readings),)), now)
        presence = next(r for r in readings if r.name == "ch1_peak_presence")
        return presence.value, [(a.rule, a.state) for a in alerts]

    try:
        locked = [cycle(float(t)) for t in range(3)]
        emulator.state.locked = False
        unlocked = [cycle(float(t)) for t in range(3, 7)]
    finally:
        runner.close()
        emulator.disappear()
    assert all(presence == 1.0 and not alerts for presence, alerts in locked)
    assert all(presence < 0.7 for presence, _ in unlocked)
    assert ("scope-peak-lost", "firing") in [alert for _, alerts in unlocked for alert in alerts]
