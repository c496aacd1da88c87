"""labmon: lab monitoring for optics and atomic-physics labs. Everything a plugin author imports is here."""

from typing import TYPE_CHECKING

from labmon.hookspecs import Register, hookimpl
from labmon.httpstatus import TransientError, check_status, redact, retry_after_seconds
from labmon.kinds import Instrument, Notifier, PermanentError, RejectedError, RetryLater, Sink
from labmon.line import Line, is_visa_timeout
from labmon.measured import measured, no_value_reason
from labmon.models import WHOLE_INSTRUMENT, Alert, Batch, Reading, Result
from labmon.options import Duration, InputPath, OptionError, Secret, check_spans, spans_problem
from labmon.times import format_duration, iso, parse_duration
from labmon.visaname import resource_problem

if TYPE_CHECKING:
    from labmon.cli import load_node_config

__all__ = [
    "WHOLE_INSTRUMENT",
    "Alert",
    "Batch",
    "Duration",
    "InputPath",
    "Instrument",
    "Line",
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
    "check_spans",
    "check_status",
    "format_duration",
    "hookimpl",
    "is_visa_timeout",
    "iso",
    "load_node_config",
    "measured",
    "no_value_reason",
    "parse_duration",
    "redact",
    "resource_problem",
    "retry_after_seconds",
    "spans_problem",
]


def __getattr__(name: str) -> object:
    """Import the command-line helper only when a plugin's command asks for it: `import labmon` stays click-free."""
    if name == "load_node_config":
        from labmon.cli import load_node_config

        return load_node_config
    raise AttributeError(f"module 'labmon' has no attribute {name!r}")
