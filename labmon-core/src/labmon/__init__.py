"""labmon: lab monitoring for optics and atomic-physics labs. What a plugin author imports."""

from labmon.delivery import TransientError, check_status, redact, retry_after_seconds
from labmon.hookspecs import Register, hookimpl
from labmon.kinds import Instrument, Notifier, PermanentError, RetryLater, Sink
from labmon.models import Alert, Batch, Reading, Result
from labmon.options import Duration, Secret

__all__ = [
    "Alert",
    "Batch",
    "Duration",
    "Instrument",
    "Notifier",
    "PermanentError",
    "Reading",
    "Register",
    "Result",
    "RetryLater",
    "Secret",
    "Sink",
    "TransientError",
    "check_status",
    "hookimpl",
    "redact",
    "retry_after_seconds",
]
