"""The `labmon demo` command: a whole simulated lab on one machine."""

from __future__ import annotations

import sys

import click

from labmon import hookimpl


@click.command("demo")  # not a function named `demo`: importing labmon_demo.demo would replace it
@click.option("--cycles", type=int, default=None, help="Stop after N collector cycles (default: until Ctrl-C).")
@click.option("--interval", default="3s", show_default=True, help="Collector interval.")
@click.pass_context
def demo_command(ctx: click.Context, cycles: int | None, interval: str) -> None:
    """Run a whole lab on this machine: a private broker, three simulated tables and a collector."""
    from labmon_demo.demo import run_demo  # the demo's imports stay out of every other command

    root = ctx.find_root().command
    with_scope = isinstance(root, click.Group) and "rigol-emulator" in root.commands
    sys.exit(run_demo(cycles=cycles, interval=interval, with_scope=with_scope))


@hookimpl
def labmon_register_commands(cli: click.Group) -> None:
    cli.add_command(demo_command)
