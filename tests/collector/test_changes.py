"""What changed before an alert: a planted cause named first, noise left unnamed, the message and the history."""

from __future__ import annotations

import math
import random
import threading
from pathlib import Path

import pytest

from labmon.models import Alert
from labmon.testing import wait_until
from labmon_collector.alerting.events import Note
from labmon_collector.health.changes import DEADLINE, Change, Changes, robust_z
from labmon_collector.health.held import Held, Routed
from labmon_collector.service import Collector
from tests.collector.healthkit import write_history
from tests.conftest import collector_table

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


class Sent:
    """What the held notifications' sender got: each cycle's time, notifications and notes, in order."""

    def __init__(self) -> None:
        self.cycles: list[tuple[float, Routed, list[Note]]] = []

    def __call__(self, at: float, routed: Routed, notes: list[Note]) -> None:
        self.cycles.append((at, routed, notes))

    def alerts(self) -> list[Alert]:
        return [message for _, routed, _ in self.cycles for _, targets in routed for _, message in targets]

    def notes(self) -> list[Note]:
        return [note for _, _, notes in self.cycles for note in notes]


def routed(*alerts: Alert) -> Routed:
    """The alerts as the cycle routes them: one notifier, the alert as it reads there."""
    return [(alert, [("console", alert)]) for alert in alerts]


def sent_through(changes: Changes, *alerts: Alert, deadline: float = DEADLINE) -> Sent:
    """Hand one cycle's alerts to Held as the cycle does; return what it sent once it has sent them."""
    sent = Sent()
    held = Held(changes, sent, deadline)
    held.add(END, routed(*alerts))
    held.recorded()
    wait_until(lambda: sent.cycles, 30, "the cycle's notifications sent")
    return sent


def test_the_planted_cause_is_named_and_noise_is_not(history: tuple[Path, bool]) -> None:
    path, cause = history
    changes = Changes(path)
    sent = sent_through(changes, unlocked())
    changes.close()
    [alert] = sent.alerts()
    if not cause:
        assert alert == unlocked() and sent.notes() == []
        return
    before = alert.labels["before"]
    assert before.startswith(f"before it: {CAUSE} +0.") and " sigma)" in before
    assert alert.message == f"{unlocked().message}; {before}"
    assert sent.notes() == [("unlocked", LOCK, "before", before)]


def test_repeats_and_resolutions_are_not_ranked_again(history: tuple[Path, bool]) -> None:
    path, _ = history
    changes = Changes(path)
    repeat = Alert("unlocked", "firing", LOCK, "still firing (1): ...", since=UNLOCK, at=END, repeat=1)
    resolved = Alert("unlocked", "resolved", LOCK, "back", since=UNLOCK, at=END)
    sent = Sent()
    Held(changes, sent).add(END, routed(repeat, resolved))  # nothing to rank: out at once, in the cycle
    assert sent.alerts() == [repeat, resolved] and sent.notes() == []
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

    def __init__(self, path: Path | None) -> None:
        super().__init__(path)
        self.go = threading.Event()

    def before(self, alerted: str, at: float) -> list[Change]:
        self.go.wait(30)
        return super().before(alerted, at)


def test_an_alert_whose_ranking_is_late_goes_out_without_it_and_says_so(history: tuple[Path, bool]) -> None:
    path, _ = history
    alerts = [unlocked(), Alert("other", "firing", "table9/x/y", "x fires", since=UNLOCK, at=END)]
    changes = Stuck(path)
    sent = sent_through(changes, *alerts, deadline=0.05)  # sent by the timer: the rankings are stuck
    changes.go.set()
    changes.close()
    for message, alert in zip(sent.alerts(), alerts, strict=True):
        assert message.message == f"{alert.message}; before it: not ranked within 0.05 s"
        assert (alert.rule, alert.series, "before", "before it: not ranked within 0.05 s") in sent.notes()


def test_the_cycle_does_not_wait_and_a_resolution_never_overtakes_its_firing(history: tuple[Path, bool]) -> None:
    path, cause = history
    changes = Stuck(path)
    sent = Sent()
    held = Held(changes, sent, deadline=60.0)
    resolved = Alert("unlocked", "resolved", LOCK, "back", since=END, at=END + 60)
    held.add(END, routed(unlocked()))  # returns with the ranking under way (stuck until the test lets it go)
    held.recorded()
    held.add(END + 60, routed(resolved))  # the next cycle: its resolution waits behind the firing
    held.recorded()
    assert sent.cycles == []
    changes.go.set()
    wait_until(lambda: len(sent.cycles) == 2, 30, "both cycles sent")
    firing, back = sent.alerts()
    assert (firing.state, back) == ("firing", resolved)
    assert ("before" in firing.labels) == cause  # ranked, not late
    changes.close()


def test_a_ranked_cycle_waits_for_its_alert_history_and_a_stop_sends_what_is_held(tmp_path: Path) -> None:
    changes = Changes(tmp_path / "absent.sqlite")  # ranks at once: nothing to rank
    sent = Sent()
    held = Held(changes, sent)
    held.add(END, routed(unlocked()))
    wait_until(lambda: changes.submit(unlocked()).result(30) == [], 30)  # the worker has ranked the cycle's
    held.release()
    assert sent.cycles == []  # ranked, but its history not yet written: the "before" note must come after it
    held.close()  # a clean stop
    assert sent.alerts() == [unlocked()]
    stuck = Stuck(tmp_path / "absent.sqlite")
    held = Held(stuck, sent, deadline=0.05)
    held.add(END + 60, routed(unlocked()))
    held.close()  # waits out the deadline, then sends it, saying so
    assert sent.alerts()[-1].message.endswith("; before it: not ranked within 0.05 s")
    stuck.go.set()
    stuck.close()
    changes.close()


def test_a_collector_cycle_goes_on_while_its_notifications_wait_for_the_ranking(lab, broker, write_config, capsys):
    rule = {"name": "hot", "select": "*/laser1/lock_error", "above": 0.01, "for": "0s"}
    config = collector_table(broker, lab, notifiers={"console": {"type": "console"}}, rules=[rule])
    collector = Collector(write_config(config))
    collector.start()
    assert collector.wait_connected(10)
    stuck = Stuck(None)  # no history: ranks nothing, once let go
    released: list[float] = []

    def release(at: float, routed: Routed, notes: list[Note]) -> None:
        released.append(at)
        collector._release(at, routed, notes)

    collector.held = Held(stuck, release, deadline=60.0)
    batch = collector.run_cycle(1)  # returns with both rankings under way
    assert released == [] and "hot" not in capsys.readouterr().out
    notified = [e for e in collector.events.query(rule="hot") if e.kind == "notified"]
    assert len(notified) == 2  # the alert history has the cycle's notifications as it ends
    stuck.go.set()
    wait_until(lambda: released == [batch.started_at], 30, "the held cycle sent")
    collector.stop()
    stuck.close()
    assert capsys.readouterr().out.count("- [warning] hot:") == 2
