"""The `console` sink and notifier: readings and alerts printed as they happen."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal, TextIO

from labmon.hookspecs import Register, hookimpl
from labmon.models import Alert, Batch


@dataclass(frozen=True)
class ConsoleConfig:
    """Options of the console sink and notifier."""

    stream: Literal["stdout", "stderr"] = "stdout"


def _stream(config: ConsoleConfig) -> TextIO:
    return sys.stdout if config.stream == "stdout" else sys.stderr


def format_batch(batch: Batch) -> str:
    """Return a cycle's readings as aligned text lines."""
    lines = [f"cycle {batch.cycle}: {len(batch.results)} measurer(s) answered"]
    for measurer, r, _ in batch.rows():
        shown = f"{r.value:.6g} {r.unit}".rstrip() if r.value is not None else f"ERROR {r.error}"
        lines.append(f"  {measurer}/{r.key:<28} {shown}")
    lines.extend(f"  {m:<30} NO REPLY" for m in batch.missing)
    lines.extend(f"  {m:<30} NOT ASKED: the collector cannot reach its broker" for m in batch.disconnected)
    return "\n".join(lines)


def format_alert(alert: Alert) -> str:
    """Return a one-line alert."""
    if alert.state == "firing":
        return f"ALERT [{alert.severity}]{' (repeat)' if alert.repeat else ''} {alert.rule}: {alert.message}"
    return f"RESOLVED {alert.rule}: {alert.message}"


class ConsoleSink:
    """Prints each cycle's readings."""

    Config = ConsoleConfig

    def __init__(self, config: ConsoleConfig) -> None:
        self.stream = _stream(config)

    def write(self, batch: Batch) -> None:
        """Print the batch."""
        print(format_batch(batch), file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to release."""


class ConsoleNotifier:
    """Prints each alert."""

    Config = ConsoleConfig

    def __init__(self, config: ConsoleConfig) -> None:
        self.stream = _stream(config)

    def notify(self, alert: Alert) -> None:
        """Print the alert."""
        print(format_alert(alert), file=self.stream, flush=True)

    def close(self) -> None:
        """Nothing to release."""


@hookimpl
def labmon_register_sinks(register: Register) -> None:
    register("console", ConsoleSink)


@hookimpl
def labmon_register_notifiers(register: Register) -> None:
    register("console", ConsoleNotifier)
