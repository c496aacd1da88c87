"""The hooks a labmon plugin can implement; every hook name starts with `labmon_`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

hookspec = pluggy.HookspecMarker("labmon")
hookimpl = pluggy.HookimplMarker("labmon")

Register = Callable[[str, type[Any]], None]


@hookspec
def labmon_register_instruments(register: Register) -> None:
    """Register instrument types: call `register(type_name, cls)` once for each."""


@hookspec
def labmon_register_sinks(register: Register) -> None:
    """Register sink types (where cycle batches are stored): `register(type_name, cls)`."""


@hookspec
def labmon_register_notifiers(register: Register) -> None:
    """Register notifier types (where alerts are sent): `register(type_name, cls)`."""


@hookspec
def labmon_register_commands(cli: click.Group) -> None:
    """Add subcommands to the `labmon` command group."""
