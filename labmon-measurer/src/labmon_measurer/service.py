"""Answer each inquiry with one result holding every instrument's readings."""

from __future__ import annotations

import logging
import threading
import time

from labmon.badinput import BadInput, Throttle, shown
from labmon.config import Config
from labmon.messages import Inquiry, MessageError, Topics, collector_sender, decode_inquiry, encode_result
from labmon.models import Reading, trusted_result
from labmon.mqtt import BrokerClient
from labmon_measurer.deadlines import Deadlines
from labmon_measurer.pending import Pending
from labmon_measurer.sampling import InstrumentRunner, Round

log = logging.getLogger(__name__)

QUIET_INTERVALS = 5
"""Warn when no inquiry arrived for this many of the collector's intervals (as last observed)."""
QUIET_BEFORE_FIRST = 300.0
"""Before two inquiries have shown the collector's interval, warn after this many seconds of silence."""
STOP_GRACE = 5.0
"""Seconds beyond the longest instrument timeout that stopping waits for the answer in progress."""
QUIET_AT_LEAST = 1.0
"""Two inquiries close together (a `labmon collector --once` beside the collector) must not make it jumpy."""


class Measurer:
    """Subscribes to its inquiries topic; each answer goes out from the thread of the read that ended last.

    paho's thread starts the reads, reads an `in_process` instrument itself, or answers from the last reading
    within min_inquiry_interval: no worker thread is woken per inquiry, and none waits for the reads.
    """

    def __init__(self, config: Config) -> None:
        assert config.measurer is not None
        self.name = config.measurer.name
        self.min_interval = config.measurer.min_inquiry_interval
        self.max_payload = config.broker.max_payload
        self.topics = Topics(config.broker.topic_prefix, self.name)
        self._results = self.topics.results
        self.runners = [InstrumentRunner(entry) for entry in config.measurer.instruments]
        self.client = BrokerClient(
            config.broker,
            f"{config.broker.client_id_prefix}-measurer-{self.name}",
            status_topic=self.topics.status,
            clash_hint=f"two measurers named {self.name}?",
        )
        self.answered = 0
        self.reads = 0
        self.excess = 0
        """Inquiries answered from the last reading or superseded, because they came too fast."""
        self.bad_input = BadInput(log, "a malformed inquiry")
        self._too_fast = Throttle()
        self._deadlines = Deadlines(min((r.entry.timeout for r in self.runners), default=1.0))
        self._pending = Pending(collector_sender(config.broker.client_id_prefix))
        self._answering = False
        self._last_id: str | None = None
        self._last_read: tuple[float, float, list[Reading]] | None = None  # monotonic time, wall time, readings
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        """Told when the last answer is out once stopping."""
        self._inquiry_times: list[float] = []
        self._watch_until: float | None = None
        """When the inquiry watch next wakes by itself (None: only when told)."""
        self._stopping = False
        self._watch = threading.Thread(target=self._watch_inquiries, name="inquiry-watch", daemon=True)

    @property
    def rejected(self) -> int:
        """Return how many malformed inquiries arrived."""
        return self.bad_input.count

    def start(self) -> None:
        """Subscribe and connect (in the background; a broker that is down is retried)."""
        self.client.subscribe(self.topics.inquiries, self._on_inquiry)
        self.client.subscribe(self.topics.everyone, self._on_inquiry)
        self._deadlines.start()
        self.client.start()
        self._watch.start()

    def stop(self) -> None:
        """Finish the answer in progress, say offline and close the instruments."""
        with self._arrived:
            self._stopping = True
            self._arrived.notify_all()
            longest = max((r.entry.timeout for r in self.runners), default=0.0)
            if not self._idle.wait_for(lambda: not self._answering, longest + STOP_GRACE):
                log.warning("stopping with an answer still in progress")
        self._deadlines.stop()
        self.client.stop()
        for runner in self.runners:
            runner.close()

    def _on_inquiry(self, topic: str, payload: bytes) -> None:
        try:
            inquiry = decode_inquiry(payload, self.max_payload, time.time())
        except MessageError as exc:
            self.bad_input.report(topic, str(exc), payload)
            return
        with self._arrived:
            if inquiry.id == self._last_id:
                return  # the same inquiry on the other topic (a collector moving between `inquire` modes)
            self._last_id = inquiry.id
            superseded = self._pending.add(inquiry)
            now = time.monotonic()
            self._inquiry_times = [*self._inquiry_times[-1:], now]
            if self._watch_until is None or now + _allowed(self._inquiry_times) < self._watch_until:
                self._arrived.notify_all()  # else the watch wakes in time by itself: no thread switch per inquiry
            idle, self._answering = not self._answering, True
        if superseded:
            self._count_excess("superseded before it was answered")
        if idle:
            self._answer_pending()  # here, in paho's thread: a round of reads answers from the last to end

    def _next(self) -> Inquiry | None:
        with self._lock:
            inquiry = None if self._stopping else self._pending.take()
            self._answering = inquiry is not None
            if not self._answering and self._stopping:
                self._idle.notify_all()
            return inquiry

    def _answer_pending(self) -> None:
        """Answer the waiting inquiries in turn, until one needs the instruments read: its round goes on from there."""
        while (inquiry := self._next()) is not None:
            try:
                if self._read_or_repeat(inquiry):
                    return
            except Exception:  # a bug must not leave the measurer deaf: the next inquiry is still answered
                log.exception("answering inquiry %s failed", shown(inquiry.id))

    def _read_or_repeat(self, inquiry: Inquiry) -> bool:
        """Answer with the last reading if recent enough, else read; return whether the round answers later."""
        begun = time.monotonic()
        last = self._last_read
        if last is not None and begun - last[0] < self.min_interval:
            self._count_excess(f"answered with the reading of {begun - last[0]:.2f}s ago")
            self._publish(inquiry, last[1], last[2], None)
            return False
        reads = Round(
            self.runners, lambda readings, took: self._read(inquiry, begun, readings, took), self._answer_pending
        )
        self._deadlines.watch(reads)
        return not reads.begin()

    def _read(self, inquiry: Inquiry, begun: float, readings: list[Reading], took: dict[str, float]) -> None:
        """Answer `inquiry` with fresh readings, in the thread that ended the round."""
        try:
            measured_at = time.time()
            self._last_read = (begun, measured_at, readings)
            self.reads += 1
            self._publish(inquiry, measured_at, readings, took)  # took: for the collector's warning
        except Exception:
            log.exception("answering inquiry %s failed", shown(inquiry.id))

    def _publish(
        self, inquiry: Inquiry, measured_at: float, readings: list[Reading], took: dict[str, float] | None
    ) -> None:
        result = trusted_result(
            inquiry.id, self.name, measured_at, tuple(readings), inquiry.received_at, time.time(), None, took
        )
        self.answered += 1
        self.client.publish(self._results, encode_result(result))
        if log.isEnabledFor(logging.DEBUG):  # not `shown` for every answer when nobody reads it
            log.debug("answered inquiry %s with %d readings", shown(inquiry.id), len(readings))

    def _count_excess(self, what: str) -> None:
        with self._lock:  # counted from paho's thread (superseded) and the worker (answered from the last read)
            self.excess += 1
        times = self._too_fast.passes("excess")
        if times is not None:
            log.warning(
                "%d inquiries came faster than min_inquiry_interval (%gs) since the last report; latest %s",
                times,
                self.min_interval,
                what,
            )

    def _watch_inquiries(self) -> None:
        """Warn once when inquiries stop coming, and say when they come back."""
        quiet = False
        started = time.monotonic()
        with self._arrived:
            while not self._stopping:
                times = self._inquiry_times
                last = times[-1] if times else started
                allowed = _allowed(times)
                now = time.monotonic()
                silent = now - last
                if silent >= allowed and not quiet:
                    quiet = True
                    log.warning(
                        "no inquiry for %.0fs (%d intervals): is the collector running and polling %s?",
                        silent,
                        QUIET_INTERVALS,
                        self.name,
                    )
                elif quiet and silent < allowed:
                    quiet = False
                    log.info("inquiries are arriving again")
                timeout = None if quiet else max(0.01, allowed - silent)
                self._watch_until = None if timeout is None else now + timeout
                self._arrived.wait(timeout)


def _allowed(times: list[float]) -> float:
    """Return how long inquiries may stay away, given the times of the last two (or fewer)."""
    gap = times[1] - times[0] if len(times) == 2 else QUIET_BEFORE_FIRST / QUIET_INTERVALS
    return max(QUIET_AT_LEAST, QUIET_INTERVALS * gap)
