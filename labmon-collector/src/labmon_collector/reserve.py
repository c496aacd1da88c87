"""Room kept on the data disk for the alert store: given back, a piece at a time, when the full disk refuses the
commit that records a told alert, so that a run after the disk is freed knows to resolve it (and, at a stop, the
outbox's record of what it delivered, so that a restart does not send it again)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from labmon_collector.disk import free_bytes, refused

log = logging.getLogger(__name__)

T = TypeVar("T")

NAME = "alerts.reserve"
SIZE = 256 * 1024
"""Bytes kept: four commits' worth of told alerts (one such commit writes a few 1 kB pages to the alert state's WAL)."""
PIECE = 64 * 1024
"""Bytes given back for one refused commit, before it is tried again (and again, until the reserve is gone)."""
ROOM = 2 * SIZE
"""Free bytes the disk must have for a spent reserve to be made whole again: it leaves as much free."""
OPEN = 2 * PIECE
"""Free bytes the collector's files need to open (their WAL index and journal files): a disk with less at start is
given pieces of the reserve until it has them."""


class Reserve:
    """A file of SIZE bytes in the data directory, allocated, that the alert store gives back to the full disk."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / NAME
        self._lock = threading.Lock()
        self._size = self._stat()
        """The file's size as this process left it (None: there is none)."""

    def _stat(self) -> int | None:
        """Return the file's size, None if there is no such file (or something else has its name)."""
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_size if stat.S_ISREG(found.st_mode) else None

    @property
    def spent(self) -> bool:
        """Return whether some of the reserve was given back to the disk (by this run or one before) and not yet
        made whole: the disk filled, and has not had room for it since."""
        return self._size is not None and self._size < SIZE

    def fill(self) -> bool:
        """Make the reserve whole, allocating its blocks; return whether it is (False: the disk has no room for it,
        and it is left as it was)."""
        with self._lock:
            before = self._size
            if before is not None and before >= SIZE:
                return True
            try:
                # Not O_APPEND: where the filesystem has no fallocate (ramfs, NFSv3) glibc writes each block instead,
                # which it refuses to do in append mode (EBADF).
                file = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    os.posix_fallocate(file, 0, SIZE)  # blocks of its own: a sparse file would reserve none
                finally:
                    os.close(file)
            except OSError as exc:
                if refused(exc):
                    self._restore(before)
                else:  # not for want of room: none kept (a spent one would hold the disk alert for good)
                    log.warning("cannot keep a reserve of disk space for the alert state in %s: %s", self.path, exc)
                    self._restore(None)
                return False
            if before is not None:
                log.warning("the reserve of disk space for the alert state is whole again (%s)", self.path)
            self._size = SIZE
            return True

    def _restore(self, size: int | None) -> None:
        """Put the file back as it was before a failed `fill` (none, or spent): what the failure allocated is freed."""
        try:
            if size is None:
                self.path.unlink(missing_ok=True)
            else:
                os.truncate(self.path, size)
        except OSError:
            pass  # the file as the failure left it: its size is read again below
        self._size = self._stat()

    def room_to_open(self) -> bool:
        """Give pieces back while the disk has less than OPEN bytes free (a card that filled while the collector was
        stopped: its files could not open, and it would never run to say so); return whether any was."""
        gave = False
        while (free := free_bytes(self.path.parent)) is not None and free < OPEN and self._give_back("open its files"):
            gave = True
        return gave

    def through(self, write: Callable[[], T]) -> T:
        """Run `write`; while the disk refuses it, give a piece of the reserve back and run it again."""
        while True:
            try:
                return write()
            except (sqlite3.Error, OSError) as exc:
                if not refused(exc) or not self._give_back("store what was told or delivered"):
                    raise

    def _give_back(self, why: str) -> bool:
        """Free a PIECE of the reserve; return False if there is none left."""
        with self._lock:
            if not self._size:
                return False
            size = max(0, self._size - PIECE)
            try:
                os.truncate(self.path, size)
            except OSError:
                return False
            self._size = size
        log.warning("the disk is full: %d bytes of the reserve given back to %s", PIECE, why)
        return True
