"""The `ifttt` sink: each cycle as one Google Sheets row through IFTTT Webhooks."""

from __future__ import annotations

import click

from labmon import Register, hookimpl
from labmon_ifttt.commands import ifttt_header
from labmon_ifttt.sink import IftttSink


@hookimpl
def labmon_register_sinks(register: Register) -> None:
    register("ifttt", IftttSink)


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(ifttt_header)
