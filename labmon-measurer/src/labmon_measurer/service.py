"""Answer each inquiry with one result holding every instrument's readings."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from labmon.config import Config
from labmon.messages import Inquiry, MessageError, Topics, decode_inquiry, encode_result
from labmon.models import Result
from labmon.mqtt import BrokerClient
from labmon_measurer.sampling import InstrumentRunner, read_all

log = logging.getLogger(__name__)


class Measurer:
    """Subscribes to its inquiries topic and answers in a worker thread, never in paho's."""

    def __init__(self, config: Config) -> None:
        assert config.measurer is not None
        self.name = config.measurer.name
        self.topics = Topics(config.broker.topic_prefix, self.name)
        self.runners = [InstrumentRunner(entry) for entry in config.measurer.instruments]
        self.client = BrokerClient(
            config.broker, f"{config.broker.client_id_prefix}-measurer-{self.name}", status_topic=self.topics.status
        )
        self.answered = 0
        self.rejected = 0
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="answer")
        self._latest: Inquiry | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Subscribe and connect (in the background; a broker that is down is retried)."""
        self.client.subscribe(self.topics.inquiries, self._on_inquiry)
        self.client.start()

    def stop(self) -> None:
        """Finish the answer in progress, say offline and close the instruments."""
        self._worker.shutdown(wait=True, cancel_futures=True)
        self.client.stop()
        for runner in self.runners:
            runner.close()

    def _on_inquiry(self, topic: str, payload: bytes) -> None:
        try:
            inquiry = decode_inquiry(payload)
        except MessageError as exc:
            self.rejected += 1
            log.warning("ignored a malformed inquiry on %s (%d so far): %s", topic, self.rejected, exc)
            return
        with self._lock:
            superseded, self._latest = self._latest, inquiry
        if superseded is not None:
            log.warning("inquiry %s superseded by %s before it was answered", superseded.id, inquiry.id)
        self._worker.submit(self._answer_latest)

    def _answer_latest(self) -> None:
        with self._lock:
            inquiry, self._latest = self._latest, None
        if inquiry is None:
            return
        readings = read_all(self.runners)
        result = Result(inquiry.id, self.name, time.time(), tuple(readings))
        self.answered += 1
        self.client.publish(self.topics.results, encode_result(result))
        log.debug("answered inquiry %s with %d readings", inquiry.id, len(readings))
