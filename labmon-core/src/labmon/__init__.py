"""labmon: lab monitoring for optics and atomic-physics labs. Everything a plugin author imports is here."""

from labmon.cli import load_node_config
from labmon.hookspecs import Register, hookimpl
from labmon.httpstatus import TransientError, check_status, redact, retry_after_seconds
from labmon.kinds import Instrument, Notifier, PermanentError, RejectedError, RetryLater, Sink
from labmon.models import WHOLE_INSTRUMENT, Alert, Batch, Reading, Result
from labmon.options import Duration, InputPath, OptionError, Secret
from labmon.times import format_duration, iso, parse_duration

__all__ = [
    "WHOLE_INSTRUMENT",
    "Alert",
    "Batch",
    "Duration",
    "InputPath",
    "Instrument",
    "Notifier",
    "OptionError",
    "PermanentError",
    "Reading",
    "Register",
    "RejectedError",
    "Result",
    "RetryLater",
    "Secret",
    "Sink",
    "TransientError",
    "check_status",
    "format_duration",
    "hookimpl",
    "iso",
    "load_node_config",
    "parse_duration",
    "redact",
    "retry_after_seconds",
]
