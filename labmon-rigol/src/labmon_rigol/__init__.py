"""Instruments over VISA: `rigol` oscilloscopes, any `scpi`/serial instrument, and a scope emulator."""

from __future__ import annotations

import click

from labmon import Register, hookimpl
from labmon_rigol.commands import rigol_emulator
from labmon_rigol.discover import discover_instruments
from labmon_rigol.scope import RigolScope
from labmon_rigol.scpi import ScpiInstrument


@hookimpl
def labmon_register_instruments(register: Register) -> None:
    register("rigol", RigolScope)
    register("scpi", ScpiInstrument)


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(rigol_emulator)
    cli.add_command(discover_instruments)
