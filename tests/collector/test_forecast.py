"""Forecast rules: a robust fit of the stored history, its crossing time, and silence on noise."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from labmon.models import Batch, Reading, Result
from labmon.options import Duration, OptionError
from labmon.rule_config import RuleConfig
from labmon.testing import wait_until
from labmon_collector.alerting.conditions import Observation
from labmon_collector.alerting.rules import RulesEngine
from labmon_collector.health.forecast import Forecaster, about
from tests.collector.healthkit import collector_config, write_history
from tests.conftest import invoke

DAY = 86400.0
END = 1_800_000_000.0
STEP = 300.0
PRESSURE = "table2/pump/pressure"
RULE = RuleConfig(
    name="leak", select=PRESSURE, forecast=Duration(DAY), horizon=Duration(14 * DAY), above=1e-8, log_scale=True
)


def leak(eta: float, rng: random.Random) -> dict[str, object]:
    """A pressure rising tenfold (exponentially) to 1e-8 at END + eta, with noise and 2% outliers."""

    def pressure(t: float) -> float:
        decades = (t - (END - 2 * DAY)) / (eta + 2 * DAY)  # 0 two days before END, 1 at the crossing
        spike = rng.choice((-0.5, 0.5)) if rng.random() < 0.02 else 0.0
        return 10 ** (decades - 9 + rng.gauss(0, 0.01) + spike)

    return {PRESSURE: pressure}


@pytest.fixture(scope="module")
def leaking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("forecast") / "history.sqlite"
    times = [END - 2 * DAY + i * STEP for i in range(int(2 * DAY / STEP) + 1)]
    write_history(path, leak(9 * DAY, random.Random(1)), times)  # type: ignore[arg-type]
    return path


def test_the_fit_predicts_the_crossing_within_a_fifth(leaking: Path) -> None:
    forecaster = Forecaster(leaking)
    fit = forecaster.fit(RULE, PRESSURE, END)
    assert fit is not None
    eta = fit.crossing(-8.0, rising=True)
    assert eta is not None and abs(eta - 9 * DAY) <= 0.2 * 9 * DAY
    forecaster.close()


def pressure_reading(value: float) -> Batch:
    return Batch(1, END, (Result("q", "table2", END, (Reading("pressure", value, "Torr", instrument="pump"),)),))


def test_a_forecast_rule_fires_with_when_and_on_what_fit(leaking: Path) -> None:
    engine = RulesEngine((RULE,))
    engine.forecasts = Forecaster(leaking)
    [alert] = engine.evaluate(pressure_reading(1.1e-9), END)
    assert alert.rule == "leak" and alert.state == "firing"
    days = alert.message.split("in about ")[1].split(" days")[0]
    assert 7 <= int(days) <= 11
    assert alert.message == f"{PRESSURE} will cross 1e-08 Torr in about {days} days (fit over 1d)"
    # beyond the bound already: the threshold rule's job; the forecast neither resolves nor fires again
    assert engine.evaluate(pressure_reading(2e-8), END + 60) == []
    assert engine.states["leak", PRESSURE].state == "firing"
    engine.forecasts.close()


def test_pure_noise_forecasts_nothing(tmp_path: Path) -> None:
    rng = random.Random(2)
    path = tmp_path / "noise.sqlite"
    write_history(path, {"t1/laser/lock": lambda t: rng.gauss(0, 1)}, [END - 4 * DAY + i * STEP for i in range(1152)])
    rule = RuleConfig(name="drift", select="t1/laser/lock", forecast=Duration(DAY), above=5.0)
    forecaster = Forecaster(path)
    reading = Reading("lock", 0.0, "V", instrument="laser")
    judged = [
        forecaster.observe(rule, [("t1/laser/lock", "t1", reading, now)], now)[0]
        for now in [END - 3 * DAY + i * 3600 for i in range(72)]
    ]
    assert all(seen.holds is False for seen in judged)
    assert judged[0].detail == "fit over 1d: no crossing within 7d"
    forecaster.close()


def test_too_little_history_says_nothing(tmp_path: Path) -> None:
    path = tmp_path / "short.sqlite"
    write_history(path, {PRESSURE: lambda t: 1e-9}, [END - 3600 + i * 60 for i in range(60)])
    forecaster = Forecaster(path)
    reading = Reading("pressure", 1e-9, "Torr", instrument="pump")
    [seen] = forecaster.observe(RULE, [(PRESSURE, "table2", reading, END)], END)
    assert seen.holds is None
    forecaster.close()


def test_forecast_rule_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="one bound"):
        RuleConfig(name="r", select="a/b/c", forecast=Duration(DAY))
    with pytest.raises(OptionError, match="log-scale fit needs a bound above 0"):
        RuleConfig(name="r", select="a/b/c", forecast=Duration(DAY), below=0.0, log_scale=True)
    with pytest.raises(OptionError, match="exactly one"):
        RuleConfig(name="r", select="a/b/c", forecast=Duration(DAY), above=1.0, stale=Duration(60))
    assert RuleConfig(name="r", select="a/b/c", forecast=Duration(DAY), below=1.0).kind == "forecast"
    config = collector_config(
        tmp_path / "c.toml",
        '[collector.notifiers.console]\ntype = "console"',
        '[[collector.rules]]\nname = "leak"\nselect = "t1"\nforecast = "24h"\nabove = 1.0',
    )
    checked = invoke("check", str(config))
    assert checked.exit_code == 1 and "no sqlite sink keeps one" in checked.output


def test_about_rounds_to_the_largest_unit() -> None:
    assert [about(s) for s in (9.2 * DAY, 5 * 3600, 40 * 60, 30)] == [
        "about 9 days",
        "about 5 hours",
        "about 40 minutes",
        "about 1 minute",
    ]


def test_in_the_background_a_series_is_unknown_until_its_fit_is_made(leaking: Path) -> None:
    forecaster = Forecaster(leaking, background=True)
    reading = Reading("pressure", 1.1e-9, "Torr", instrument="pump")

    def observed() -> Observation:
        [seen] = forecaster.observe(RULE, [(PRESSURE, "table2", reading, END)], END)
        return seen

    def fitted() -> Observation | None:
        seen = observed()
        return seen if seen.holds is not None else None

    assert observed().holds is None  # the cycle did not wait: the fit is being made in the worker
    seen = wait_until(fitted, timeout=60, what="the fit")
    assert seen.holds is True and seen.detail.endswith("(fit over 1d)")
    forecaster.close()


def test_a_fit_that_fails_in_the_background_is_tried_again_not_the_end_of_the_worker(leaking: Path) -> None:
    forecaster = Forecaster(leaking, background=True)
    reading = Reading("pressure", 1.1e-9, "Torr", instrument="pump")
    fit, failures = forecaster.fit, []

    def failing_once(rule: RuleConfig, series: str, now: float) -> object:
        if not failures:
            failures.append(series)
            raise ArithmeticError("a bug in the fit")
        return fit(rule, series, now)

    forecaster.fit = failing_once  # type: ignore[assignment,method-assign]

    def fitted() -> Observation | None:
        [seen] = forecaster.observe(RULE, [(PRESSURE, "table2", reading, END)], END)
        return seen if seen.holds is not None else None

    seen = wait_until(fitted, timeout=60, what="the fit after a failed one")
    assert failures == [PRESSURE] and seen.holds is True
    forecaster.close()
