import pytest

from labmon.builtin.sim import SimConfig, SimInstrument
from labmon.models import Reading


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_laser_lock_drops_out_on_schedule():
    clock = FakeClock()
    sim = SimInstrument(
        SimConfig(signal="laser-lock", level=0.05, amplitude=1.0, unlock_every=60.0, unlock_for=20.0), clock
    )
    values = {}
    for t in (0, 30, 39.9, 40, 59, 60, 100):
        clock.now = t
        values[t] = sim.read()[0].value
    assert values[0] == values[30] == values[39.9] == values[60] == pytest.approx(0.05)
    assert values[40] == values[59] == values[100] == pytest.approx(1.05)


def test_same_seed_same_signal():
    config = SimConfig(signal="random-walk", level=1.0, amplitude=0.1, noise=0.01, seed=7)
    a, b = SimInstrument(config), SimInstrument(config)
    assert [a.read()[0].value for _ in range(5)] == [b.read()[0].value for _ in range(5)]


def test_sine_and_constant():
    clock = FakeClock()
    sine = SimInstrument(SimConfig(signal="sine", level=1.0, amplitude=2.0, period=4.0), clock)
    clock.now = 1.0
    assert sine.read()[0].value == pytest.approx(3.0)
    assert SimInstrument(SimConfig(level=21.5, unit="degC", reading="t")).read()[0] == Reading("t", 21.5, "degC")


def test_fail_every_raises_like_an_unreachable_instrument():
    sim = SimInstrument(SimConfig(fail_every=3))
    sim.read(), sim.read()
    with pytest.raises(ConnectionError):
        sim.read()


def test_config_rejects_impossible_schedule():
    with pytest.raises(ValueError, match="unlock_for"):
        SimConfig(unlock_every=10.0, unlock_for=20.0)
