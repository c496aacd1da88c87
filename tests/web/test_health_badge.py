"""The overview tiles' health badges: the last 7 days' lock uptime and excursions, through the API and in a browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labmon.broker import free_port
from labmon.config import CollectorConfig, WebConfig, load_config
from labmon.plugins import Registry
from labmon.testing import wait_until
from labmon_collector.alerting.alertstore import AlertStore
from labmon_collector.alerting.events import EventLog
from labmon_collector.web.server import WebServer
from labmon_collector.web.view import LabView
from tests.collector.healthkit import collector_config, write_history
from tests.web.conftest import STEP, fetch

WEEK, EVERY = 7 * 86400.0, 600.0


def lock_rule_over(history: Path, tmp_path: Path, registry: Registry) -> CollectorConfig:
    """Return the settings of a collector storing into `history` with a rule on the lasers' lock."""
    config = collector_config(
        tmp_path / "collector.toml",
        '[collector.notifiers.console]\ntype = "console"',
        f'[collector.sinks.history]\ntype = "sqlite"\npath = "{history}"',
        '[[collector.rules]]\nname = "lock"\nselect = "t1/laser*/lock"\nabove = 1.0',
        keys=f'data_dir = "{tmp_path}"\ninterval = "10m"',
    )
    settings = load_config(config, registry).collector
    assert settings is not None
    return settings


@pytest.fixture
def page_of_a_week(tmp_path: Path, registry: Registry) -> Iterator[str]:
    """A status page over a week of history: laser1 out for an hour two days ago, laser2 only its last 2 hours."""
    now = time.time()
    start, out = now - WEEK + 1, now - 2 * 86400
    history = tmp_path / "history.sqlite"

    def laser2(t: float) -> float | None:
        return 0.1 if t > now - 7200 else None

    write_history(
        history,
        {
            "t1/laser1/lock": lambda t: 2.0 if out <= t < out + 3600 else 0.1,
            "t1/laser2/lock": laser2,
            "t1/room/temperature": lambda t: 21.0,
        },
        [start + i * EVERY for i in range(int(WEEK / EVERY))],
    )
    port = free_port()
    settings = lock_rule_over(history, tmp_path, registry)
    view = LabView(settings, AlertStore(tmp_path / "alerts.sqlite"), EventLog(tmp_path / "events.sqlite"))
    server = WebServer(view, WebConfig(listen=f"127.0.0.1:{port}"))
    assert server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_the_overview_answer_carries_each_watched_series_week(page_of_a_week: str) -> None:
    url = page_of_a_week

    def badges() -> dict[str, Any] | None:
        status, answer = fetch(url + "/api/overview")
        assert status == 200
        found = {tile["series"]: tile["health"] for tile in answer["tiles"]}
        return found if found.get("t1/laser1/lock") else None  # computed in the background, then shown

    found = wait_until(badges, timeout=60, what="the tiles' health badges")
    laser1, laser2 = found["t1/laser1/lock"], found["t1/laser2/lock"]
    assert (laser1["rule"], laser1["excursions"], laser1["longest"]) == ("lock", 1, 3600)
    assert laser1["until"] - laser1["since"] == WEEK and laser1["out"] == 3600
    assert laser1["unknown"] < EVERY * 2 and laser1["uptime"] == pytest.approx((WEEK - 3600 - laser1["unknown"]) / WEEK)
    assert laser2["unknown"] > WEEK - 3 * 3600  # the history cannot say: unknown, never good
    assert found["t1/room/temperature"] is None  # no rule bounds it


def test_each_tile_shows_its_badge_coloured_like_the_strip(page_of_a_week: str, page: Any, tmp_path: Path) -> None:
    url = page_of_a_week
    page.goto(url + "/")
    laser1 = page.locator('a.tile[data-series="t1/laser1/lock"] .lock')
    laser1.wait_for(timeout=STEP)
    assert laser1.inner_text() == "7 d 99.4% · 1 exc"
    assert "1 excursions, longest 60 min" in laser1.get_attribute("title")
    green_ish = laser1.evaluate("node => getComputedStyle(node).backgroundColor")
    laser2 = page.locator('a.tile[data-series="t1/laser2/lock"] .lock')
    assert laser2.inner_text() == "7 d unknown"
    assert laser2.evaluate("node => getComputedStyle(node).backgroundColor") == "rgb(97, 97, 97)" != green_ish
    assert page.locator('a.tile[data-series="t1/room/temperature"] .lock').is_hidden()
    page.screenshot(path=tmp_path / "overview-badges.png")


def test_badges_that_cannot_be_computed_are_tried_again_and_hidden_once_old(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labmon_collector.health import badges as module

    history = tmp_path / "history.sqlite"
    write_history(history, {"t1/laser1/lock": lambda t: 0.1}, [time.time() - 3600 + i * EVERY for i in range(6)])
    settings = lock_rule_over(history, tmp_path, registry)
    computed = module.badges
    failing = [TypeError("a bug"), KeyError("lock")]  # then computed, then failing for good
    computed_once = threading.Event()

    def flaky(*args: Any) -> dict[str, dict[str, Any]]:
        if failing:
            raise failing.pop(0)
        if computed_once.is_set():
            raise TypeError("for good")
        computed_once.set()
        return computed(*args)

    monkeypatch.setattr(module, "badges", flaky)
    monkeypatch.setattr(module, "REFRESH", 0.01)
    monkeypatch.setattr(module, "STALE", 0.5, raising=False)
    shown = module.Badges(settings.rules, settings.interval, history, time.time)
    try:
        assert wait_until(lambda: shown.get("t1/laser1/lock"), timeout=60, what="a badge after two failures")
        wait_until(lambda: shown.get("t1/laser1/lock") is None, timeout=60, what="the old badge hidden")
    finally:
        shown.close()
