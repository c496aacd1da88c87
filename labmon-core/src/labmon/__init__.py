"""labmon: lab monitoring for optics and atomic-physics labs. What a plugin author imports."""

from labmon.hookspecs import hookimpl
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
    "Result",
    "RetryLater",
    "Secret",
    "Sink",
    "hookimpl",
]
