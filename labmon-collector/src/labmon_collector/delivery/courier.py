"""The thread that drains one target's outbox: retries with backoff, sets rejected items aside, pauses when told."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable

from labmon.kinds import PermanentError, RejectedError, RetryLater
from labmon_collector.delivery.outbox import Outbox, Pending

log = logging.getLogger(__name__)

LOOK_AGAIN = 2.0
"""An idle courier looks again this often: `labmon outbox retry`, another process, may have requeued items."""


def backoff(attempts: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Return a full-jitter exponential delay for the given number of failed attempts."""
    return random.uniform(base / 2, min(cap, base * 2 ** max(0, attempts - 1)))


class Courier(threading.Thread):
    """Drains one target's outbox in order: retries with backoff, pauses on a permanent error."""

    def __init__(
        self,
        outbox: Outbox,
        target: str,
        deliver: Callable[[Pending], None],
        *,
        retry_base: float = 1.0,
        retry_cap: float = 300.0,
        mark: bool = False,
    ) -> None:
        super().__init__(name=f"courier-{target}", daemon=True)
        self.outbox = outbox
        self.target = target
        self._deliver = deliver
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._mark = mark
        """Mark each item as being sent before delivering it (a notifier's: a repeat after a restart is said)."""
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._hurry = threading.Event()
        self.idle = threading.Event()
        self.failing = False
        self.outbox.pause(target, None)  # a restart after fixing the config resumes a paused target

    def nudge(self) -> None:
        """Say that a new item is waiting."""
        self._wake.set()
        self.idle.clear()

    def hurry(self) -> None:
        """Cut a retry's wait short: what it failed on (a full disk, say) is gone."""
        self._hurry.set()

    def stop(self, grace: float = 5.0) -> None:
        """Give the backlog `grace` seconds to drain (unless the target is failing), then stop; the rest stays."""
        if self.is_alive() and not self.failing:
            self.idle.wait(grace)
        self._stopping.set()
        self._wake.set()
        self._hurry.set()
        self.join(1.0)

    def run(self) -> None:
        troubles = 0
        while not self._stopping.is_set():
            try:
                delay = self._step()
            except Exception:  # the outbox file or its bookkeeping failed: the courier must outlive it
                troubles += 1
                if troubles == 1:
                    log.exception("courier for %s hit an error (logged once until it recovers); retrying", self.target)
                delay = backoff(troubles, base=self._retry_base, cap=self._retry_cap)
            else:
                if troubles:
                    log.info("courier for %s works again", self.target)
                troubles = 0
            if delay is None:
                return
            if delay:
                self._hurry.wait(delay)
                self._hurry.clear()

    def _step(self) -> float | None:
        """Deliver the oldest item, or wait for one; return the delay before the next step, or None to stop."""
        self._wake.clear()  # before looking, so a nudge that comes after the look is not lost
        item = self.outbox.oldest(self.target)
        if item is None:
            self.idle.set()
            self._wake.wait(LOOK_AGAIN)
            return 0.0
        self.idle.clear()
        return self._attempt(item)

    def _attempt(self, item: Pending) -> float | None:
        """Try one delivery; return the delay before the next attempt, or None to stop for good."""
        started = time.monotonic()
        if self._mark:
            self.outbox.sending(item.id)
        try:
            self._deliver(item)
        except RejectedError as exc:
            log.error(
                "%s rejected item %d for good: %s; set aside (labmon outbox list), delivering the next",
                self.target,
                item.id,
                exc,
            )
            self.failing = False
            self.outbox.reject(self.target, item.id, str(exc))
            return 0.0
        except PermanentError as exc:
            log.error(
                "delivery to %s failed for good: %s; delivery paused with its items kept: fix the config and restart",
                self.target,
                exc,
            )
            self.failing = True
            self.outbox.failed(self.target, item.id, f"permanent: {exc}")
            self.outbox.pause(self.target, str(exc))
            return None
        except RetryLater as exc:
            self.failing = True
            self.outbox.failed(self.target, item.id, str(exc))
            # A server may ask for forever (inf, 1e12): Event.wait overflows, so it gets the longest backoff.
            after = min(max(0.0, exc.after), self._retry_cap) if math.isfinite(exc.after) else self._retry_cap
            log.warning("%s asks to wait %.1fs: %s", self.target, after, exc)
            return after
        except Exception as exc:
            self.failing = True
            # no answer to go by (a read timeout: the notifier may have posted it): a restart says it may repeat
            self.outbox.failed(self.target, item.id, f"{type(exc).__name__}: {exc}", answered=False)
            # A service slower than its timeout gets at least as long to recover as the attempt took.
            took = time.monotonic() - started
            delay = max(took, backoff(item.attempts + 1, base=self._retry_base, cap=self._retry_cap))
            log.warning(
                "delivery to %s failed (attempt %d): %s; retrying in %.1fs", self.target, item.attempts + 1, exc, delay
            )
            return delay
        self.failing = False
        self.outbox.delivered(self.target, item.id)
        return 0.0
