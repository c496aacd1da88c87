"""The `rigol` instrument: Rigol oscilloscopes over USB or LAN, and a scope emulator to try it without one."""

from __future__ import annotations

import click

from labmon import Register, hookimpl
from labmon_rigol.commands import rigol_emulator
from labmon_rigol.scope import RigolScope


@hookimpl
def labmon_register_instruments(register: Register) -> None:
    register("rigol", RigolScope)


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(rigol_emulator)
