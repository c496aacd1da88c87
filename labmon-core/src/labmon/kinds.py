"""The contract of each plugin kind: a class with a `Config` dataclass and one job."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from labmon.models import Alert, Batch, Reading


class Instrument(Protocol):
    """Reads one device. Built as `cls(config)`; `read` may block but must respect `config`'s timeouts."""

    Config: ClassVar[type[Any]]

    def __init__(self, config: Any) -> None: ...

    def read(self) -> list[Reading]:
        """Return this instrument's readings; raise, or return error readings, when it cannot."""
        ...

    def close(self) -> None:
        """Release the device."""
        ...


class Sink(Protocol):
    """Stores cycle batches. Raise to retry later, RejectedError to set this batch aside, PermanentError to pause."""

    Config: ClassVar[type[Any]]

    def __init__(self, config: Any) -> None: ...

    def write(self, batch: Batch) -> None:
        """Store one batch, or raise."""
        ...

    def close(self) -> None:
        """Flush and release resources."""
        ...


class Notifier(Protocol):
    """Delivers alerts to people. Raise to retry, RejectedError to set this alert aside, PermanentError to pause."""

    Config: ClassVar[type[Any]]

    def __init__(self, config: Any) -> None: ...

    def notify(self, alert: Alert) -> None:
        """Deliver one alert, or raise."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class PermanentError(Exception):
    """A delivery failure that retrying cannot fix (a bad key, a deleted webhook): the target is paused."""


class RejectedError(PermanentError):
    """The target refused this one item for good (HTTP 400, 413, 422): it goes to the dead letters, the rest goes on."""


class RetryLater(Exception):
    """A delivery failure with a server-given wait, such as HTTP 429 with retry_after."""

    def __init__(self, message: str, after: float) -> None:
        super().__init__(message)
        self.after = after
