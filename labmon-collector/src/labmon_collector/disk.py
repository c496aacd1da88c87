"""The data disk: which of the collector's writes it refuses, since when, and how much room is left."""

from __future__ import annotations

import errno
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

FULL_CODES = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}
"""SQLite's codes for a write the disk refused (IOERR: a WAL or journal that could not grow)."""
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
FREE_EVERY = 5.0
"""Seconds a look at the free space stands: a statvfs each cycle of a lab polled many times a second is work for
nothing (at the usual intervals of 10 s or more every cycle still looks). A write the disk refuses, or takes again,
makes the next look fresh: a disk that fills faster than this is refusing writes by then, and is looked at."""


def refused(exc: BaseException) -> bool:
    """Return whether `exc` is the disk refusing a write (full, over quota), not a fault of the data."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return (code is not None and code & 0xFF in FULL_CODES) or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


class Refused(Exception):
    """A write someone asked for (a silence, an ack) that the full data disk refused: said, never a traceback."""


@contextmanager
def said_if_refused(what: str) -> Iterator[None]:
    """Turn the disk's refusal of the block's write into Refused, naming `what` could not be stored and why."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        if not refused(exc):
            raise
        raise Refused(
            f"the data disk refuses writes ({exc}): {what} cannot be stored; free space on it, or acknowledge"
            " the alert on the status page (the running collector keeps an ack in memory until the disk takes it)"
        ) from None


def free_bytes(directory: Path) -> int | None:
    """Return the bytes an unprivileged writer may still use on `directory`'s disk, None if it cannot be read."""
    try:
        stats = os.statvfs(directory)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


class DiskHealth:
    """Counts the writes the disk refused, per store, and remembers since when each has been refused."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self._clock = clock
        self.refusals = 0
        """Writes refused since the start (each retried later, or held in memory)."""
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()
        self._runs = 0
        """Runs of refused writes begun or ended: a change makes `free` look afresh."""
        self._looked: tuple[float, int, int | None] = (-math.inf, 0, None)
        """When `free` last looked (monotonic), at which `_runs`, and what it found."""

    def refuse(self, store: str, exc: BaseException) -> None:
        """Record that the disk refused a write to `store`; log the first of a run."""
        with self._lock:
            self.refusals += 1
            first = store not in self._since
            self._since.setdefault(store, time.time())
            self._runs += first
        if first:
            log.error("the disk refused a write to the %s: %s; kept and retried", store, exc)

    def stored(self, store: str) -> None:
        """Record that a write to `store` went through."""
        with self._lock:
            since = self._since.pop(store, None)
            self._runs += since is not None
        if since is not None:
            log.warning("the %s is written to disk again", store)

    def free(self) -> int | None:
        """Return the bytes free on the disk (see `free_bytes`), as looked at within FREE_EVERY seconds and since
        the last run of refused writes began or ended; else looked at now."""
        now = self._clock()
        with self._lock:
            at, runs, free = self._looked
            if now - at < FREE_EVERY and runs == self._runs:
                return free
            runs = self._runs
        free = free_bytes(self.directory)
        with self._lock:
            self._looked = (now, runs, free)
        return free

    def refused_since(self) -> float | None:
        """Return when the oldest run of refused writes began, None if every store writes."""
        with self._lock:
            return min(self._since.values(), default=None)

    def failing(self) -> list[str]:
        """Return the stores whose last write was refused."""
        with self._lock:
            return sorted(self._since)

    def attempt(self, store: str, write: Callable[[], object]) -> bool:
        """Run `write` to `store`; return False if the disk refused it (recorded, not raised)."""
        try:
            write()
        except (sqlite3.Error, OSError) as exc:
            if not refused(exc):
                raise
            self.refuse(store, exc)
            return False
        self.stored(store)
        return True


def attempt(health: DiskHealth | None, store: str, write: Callable[[], object]) -> bool:
    """Run `write`; without a DiskHealth a refusal raises, with one it is recorded and False is returned."""
    if health is None:
        write()
        return True
    return health.attempt(store, write)
