import sqlite3
import threading

import pytest

from labmon.httpstatus import retry_after_seconds
from labmon.kinds import PermanentError, RetryLater
from labmon.testing import wait_until
from labmon_collector.delivery.courier import Courier, backoff
from labmon_collector.delivery.outbox import LIVE_PER_TARGET, Outbox


class Target:
    """A delivery target that fails as told and records what it got, in order."""

    def __init__(self, failures=()):
        self.failures = list(failures)
        self.got = []
        self.changed = threading.Condition()

    def __call__(self, item):
        with self.changed:
            self.changed.notify_all()
            if self.failures:
                raise self.failures.pop(0)
            self.got.append(item.payload["n"])

    def wait_for(self, count, timeout=10):
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.got) >= count, timeout), self.got


def test_items_survive_a_reopen_in_order(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    for n in range(3):
        box.put("sink:a", {"n": n})
    box.close()
    box = Outbox(tmp_path / "o.sqlite")
    assert box.oldest("sink:a").payload == {"n": 0}
    assert box.oldest("sink:b") is None


def test_a_fresh_item_is_handed_over_as_put_and_read_back_from_the_file_after_a_reopen(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    live = object()
    box.put_all(["sink:a", "sink:b"], {"n": 1}, live=live)
    assert box.oldest("sink:a").live is live and box.oldest("sink:b").live is live
    box.delivered("sink:a", box.oldest("sink:a").id)
    box.close()
    reopened = Outbox(tmp_path / "o.sqlite")
    assert reopened.oldest("sink:a") is None
    item = reopened.oldest("sink:b")
    assert (item.live, item.payload) == (None, {"n": 1})


def test_only_the_newest_items_of_a_backlog_stay_in_memory(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite")
    for n in range(LIVE_PER_TARGET + 3):
        outbox.put("sink:a", {"n": n}, live=("batch", n))
    kept = []
    while (item := outbox.oldest("sink:a")) is not None:
        kept.append(item.live)
        outbox.delivered("sink:a", item.id)
    assert kept == [None] * 3 + [("batch", n) for n in range(3, LIVE_PER_TARGET + 3)]


def test_bound_drops_oldest_and_counts(outbox):
    dropped = sum(outbox.put("sink:a", {"n": n}) for n in range(8))
    assert dropped == 3
    assert outbox.oldest("sink:a").payload == {"n": 3}
    (status,) = outbox.status()
    assert (status.backlog, status.dropped) == (5, 3)


def test_courier_retries_until_delivered_in_order(outbox):
    target = Target(failures=[ConnectionError("down"), TimeoutError("slow")])
    courier = Courier(outbox, "sink:a", target, retry_base=0.01)
    for n in range(3):
        outbox.put("sink:a", {"n": n})
    courier.start()
    courier.nudge()
    target.wait_for(3)
    courier.stop()
    assert target.got == [0, 1, 2]
    (status,) = outbox.status()
    assert (status.backlog, status.delivered) == (0, 3)
    assert status.last_error is None  # a target that delivers again shows no old error


def test_permanent_error_pauses_and_keeps_items(outbox):
    target = Target(failures=[PermanentError("HTTP 401: bad key")])
    courier = Courier(outbox, "sink:a", target)
    outbox.put("sink:a", {"n": 1})
    courier.start()
    courier.join(10)
    assert not courier.is_alive()
    (status,) = outbox.status()
    assert status.paused == "HTTP 401: bad key" and status.backlog == 1
    restarted = Courier(outbox, "sink:a", target)  # after the config is fixed
    restarted.start()
    target.wait_for(1)
    restarted.stop()
    assert outbox.status()[0].paused is None


def test_retry_later_waits_as_told(outbox):
    target = Target(failures=[RetryLater("429", after=0.05)])
    courier = Courier(outbox, "sink:a", target)
    outbox.put("sink:a", {"n": 7})
    courier.start()
    target.wait_for(1)
    courier.stop()
    assert target.got == [7]


def test_backoff_grows_and_is_capped():
    assert all(0.5 <= backoff(1) <= 1.0 for _ in range(50))
    assert all(0.5 <= backoff(5) <= 16.0 for _ in range(50))
    assert max(backoff(30) for _ in range(200)) <= 300.0


@pytest.mark.parametrize("header", ["inf", "1e12", "nan", "-5"])
def test_any_retry_after_is_clamped_and_the_courier_lives_on(outbox, header):
    after = retry_after_seconds(header)
    assert after is None or after >= 0.0  # NaN is no delay at all, a negative one is none
    target = Target(failures=[RetryLater("429", after=float(header) if after is None else after)])
    courier = Courier(outbox, "sink:a", target, retry_cap=0.05)
    outbox.put("sink:a", {"n": 7})
    courier.start()
    target.wait_for(1)  # within the cap, not in 30000 years (nor dead of an OverflowError)
    courier.stop()
    assert target.got == [7]


class FlakyOutbox(Outbox):
    """An outbox whose file fails the first two looks, as a full disk or a locked file does."""

    fails = 2

    def oldest(self, target):
        if self.fails:
            self.fails -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return super().oldest(target)


def test_the_courier_outlives_a_failing_outbox_and_logs_it_once(tmp_path, caplog):
    outbox = FlakyOutbox(tmp_path / "outbox.sqlite", max_items=5)
    target = Target()
    courier = Courier(outbox, "sink:a", target, retry_base=0.01)
    outbox.put("sink:a", {"n": 1})
    courier.start()
    target.wait_for(1)
    courier.stop()
    outbox.close()
    assert target.got == [1]
    assert [r.message for r in caplog.records if "hit an error" in r.message] == [
        "courier for sink:a hit an error (logged once until it recovers); retrying"
    ]


def test_a_file_made_before_the_being_sent_mark_keeps_its_items_and_marks_them_from_now_on(tmp_path):
    import sqlite3

    from labmon_collector.delivery.outbox import Outbox

    path = tmp_path / "outbox.sqlite"
    with sqlite3.connect(path) as db:  # the layout before the mark and the resent count
        db.executescript(
            """CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL,
                   created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL);
               CREATE TABLE targets (target TEXT PRIMARY KEY, dropped INTEGER NOT NULL DEFAULT 0,
                   delivered INTEGER NOT NULL DEFAULT 0, last_error TEXT, last_error_at REAL, paused TEXT);
               INSERT INTO targets (target) VALUES ('notifier:x');
               INSERT INTO outbox (target, created, payload) VALUES ('notifier:x', 1.0, '{"n": 1}');"""
        )
    box = Outbox(path)
    item = box.oldest("notifier:x")
    assert item is not None and item.payload == {"n": 1} and not item.repeat
    box.sending(item.id)
    box.close()  # stopped while sending it
    again = Outbox(path)
    item = again.oldest("notifier:x")
    assert item is not None and item.repeat
    again.delivered("notifier:x", item.id)
    assert again.resent == {"notifier:x": 1} and again.status()[0].resent == 1
    again.close()


@pytest.mark.parametrize(
    ("failure", "marked"),
    [
        (TimeoutError("read timed out"), True),  # no answer: the notifier may have posted it (a Discord read timeout)
        (RetryLater("HTTP 429", after=60.0), False),  # an answer: it was not taken
        (PermanentError("HTTP 401: bad key"), False),
    ],
)
def test_a_failed_attempt_keeps_the_being_sent_mark_unless_the_notifier_answered(tmp_path, failure, marked):
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    target = Target(failures=[failure])
    courier = Courier(box, "notifier:x", target, retry_base=60.0, mark=True)
    box.put("notifier:x", {"n": 1})
    courier.start()
    courier.nudge()
    wait_until(lambda: box.status()[0].last_error is not None, 10, "the attempt failed")
    courier.stop(grace=0)
    box.close()  # the collector stops (or is killed) before the retry
    again = Outbox(path)
    item = again.oldest("notifier:x")
    assert item is not None and item.repeat == marked  # sent after the restart as possibly a repeat, or plainly
    again.close()
