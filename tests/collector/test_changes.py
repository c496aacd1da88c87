"""What changed before an alert: a planted cause named first, noise left unnamed, the message and the history."""

from __future__ import annotations

import math
import random
import threading
from pathlib import Path

import pytest

from labmon.models import Alert
from labmon_collector.alerting.events import Note
from labmon_collector.health.changes import Change, Changes, annotate, robust_z
from tests.collector.healthkit import write_history

END = 1_800_000_000.0
STEP = 60.0
UNLOCK = END - 1800
LOCK = "table1/laser1/lock_error"
CAUSE = "table1/room/temperature"


def lab(rng: random.Random, cause: bool) -> dict[str, object]:
    """Twelve noisy series; with `cause`, the room warms by 5 sigma from 5 minutes before the unlock."""

    def noise(shift: float) -> object:
        return lambda t: rng.gauss(0, 1) + 2 * math.sin(t / 20000 + shift)

    series: dict[str, object] = {f"table{i % 3 + 1}/dev{i}/reading": noise(i) for i in range(10)}
    series[LOCK] = lambda t: 1.0 if t >= UNLOCK else rng.gauss(0, 0.05)

    def room(t: float) -> float:
        return 21 + 0.1 * rng.gauss(0, 1) + (0.5 if cause and t >= UNLOCK - 300 else 0.0)

    series[CAUSE] = room
    return series


@pytest.fixture(scope="module", params=[True, False], ids=["cause", "no-cause"])
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    path = tmp_path_factory.mktemp("changes") / "history.sqlite"
    write_history(path, lab(random.Random(4), request.param), [END - 86400 + i * STEP for i in range(1440)])  # type: ignore[arg-type]
    return path, request.param


def unlocked() -> Alert:
    return Alert("unlocked", "firing", LOCK, f"{LOCK} has been above 0.5 V for 1m (now 1 V)", since=UNLOCK, at=END)


def test_the_planted_cause_is_named_and_noise_is_not(history: tuple[Path, bool]) -> None:
    path, cause = history
    changes = Changes(path)
    notes: list[Note] = []
    [alert] = annotate(changes, [unlocked()], notes)
    changes.close()
    if not cause:
        assert alert == unlocked() and notes == []
        return
    before = alert.labels["before"]
    assert before.startswith(f"before it: {CAUSE} +0.") and " sigma)" in before
    assert alert.message == f"{unlocked().message}; {before}"
    assert notes == [("unlocked", LOCK, "before", before)]


def test_repeats_and_resolutions_are_not_ranked_again(history: tuple[Path, bool]) -> None:
    path, _ = history
    changes = Changes(path)
    repeat = Alert("unlocked", "firing", LOCK, "still firing (1): ...", since=UNLOCK, at=END, repeat=1)
    resolved = Alert("unlocked", "resolved", LOCK, "back", since=UNLOCK, at=END)
    assert annotate(changes, [repeat, resolved], []) == [repeat, resolved]
    changes.close()


def test_robust_z_ignores_outliers_and_needs_a_baseline() -> None:
    usual = [-0.1, 0.0, 0.1] * 13 + [50.0]  # one spike in the baseline does not widen it
    assert robust_z(0.5, usual) == pytest.approx(0.5 / (1.4826 * 0.1))
    assert robust_z(1.0, [0.0] * 5) is None
    assert robust_z(1.0, [0.0] * 40) is None  # never moved: no usual variation to compare with


def test_without_a_history_nothing_is_named(tmp_path: Path) -> None:
    assert Changes(tmp_path / "absent.sqlite").before(LOCK, END) == []


class Stuck(Changes):
    """A ranking that takes until the test lets it go (as a 1,000-series lab on a busy disk might)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.go = threading.Event()

    def before(self, alerted: str, at: float) -> list[Change]:
        self.go.wait(30)
        return super().before(alerted, at)


def test_an_alert_whose_ranking_is_late_goes_out_without_it_and_says_so(history: tuple[Path, bool]) -> None:
    path, _ = history
    alerts = [unlocked(), Alert("other", "firing", "table9/x/y", "x fires", since=UNLOCK, at=END)]
    notes: list[Note] = []
    changes = Stuck(path)
    first, second = annotate(changes, alerts, notes, deadline=0.05)
    changes.go.set()
    changes.close()
    for sent, alert in [(first, alerts[0]), (second, alerts[1])]:  # the cycle waited 0.05 s, not for the rankings
        assert sent.message == f"{alert.message}; before it: not ranked within 0.05 s"
        assert (alert.rule, alert.series, "before", "before it: not ranked within 0.05 s") in notes
